package deploy

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A typed subset of the Kubernetes API: the fields deploy/k8s uses, nothing else.
type (
	objectMeta struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	typeMeta struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	statefulSet struct {
		typeMeta `yaml:",inline"`
		Spec     struct {
			ServiceName          string        `yaml:"serviceName"`
			Replicas             int           `yaml:"replicas"`
			PodManagementPolicy  string        `yaml:"podManagementPolicy"`
			Selector             labelSelector `yaml:"selector"`
			Template             podTemplate   `yaml:"template"`
			VolumeClaimTemplates []struct {
				Metadata objectMeta `yaml:"metadata"`
				Spec     struct {
					AccessModes []string `yaml:"accessModes"`
					Resources   struct {
						Requests map[string]string `yaml:"requests"`
					} `yaml:"resources"`
				} `yaml:"spec"`
			} `yaml:"volumeClaimTemplates"`
		} `yaml:"spec"`
	}
	podTemplate struct {
		Metadata objectMeta `yaml:"metadata"`
		Spec     podSpec    `yaml:"spec"`
	}
	podSpec struct {
		HostNetwork                   bool   `yaml:"hostNetwork"`
		DNSPolicy                     string `yaml:"dnsPolicy"`
		TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
		Affinity                      *struct {
			PodAntiAffinity *struct {
				Required []struct {
					LabelSelector labelSelector `yaml:"labelSelector"`
					TopologyKey   string        `yaml:"topologyKey"`
				} `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
			} `yaml:"podAntiAffinity"`
		} `yaml:"affinity"`
		SecurityContext *struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			RunAsUser    *int  `yaml:"runAsUser"`
			RunAsGroup   *int  `yaml:"runAsGroup"`
			FSGroup      *int  `yaml:"fsGroup"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name     string    `yaml:"name"`
			EmptyDir *struct{} `yaml:"emptyDir"`
		} `yaml:"volumes"`
	}
	container struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		ImagePullPolicy string   `yaml:"imagePullPolicy"`
		Command         []string `yaml:"command"`
		Args            []string `yaml:"args"`
		Env             []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				FieldRef *struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
				SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
				ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
			SecretRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
			Protocol      string `yaml:"protocol"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Lifecycle      *struct {
			PreStop *struct {
				Exec *struct {
					Command []string `yaml:"command"`
				} `yaml:"exec"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		Resources *struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext *struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             *struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []volumeMount `yaml:"volumeMounts"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}
	servicePort struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"`
		Protocol   string `yaml:"protocol"`
	}
	keyRef struct {
		Name string `yaml:"name"`
		Key  string `yaml:"key"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		TCPSocket *struct {
			Port string `yaml:"port"`
		} `yaml:"tcpSocket"`
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
		InitialDelaySeconds int `yaml:"initialDelaySeconds"`
		PeriodSeconds       int `yaml:"periodSeconds"`
		FailureThreshold    int `yaml:"failureThreshold"`
	}
	service struct {
		typeMeta `yaml:",inline"`
		Spec     struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []servicePort     `yaml:"ports"`
		} `yaml:"spec"`
	}
	podDisruptionBudget struct {
		typeMeta `yaml:",inline"`
		Spec     struct {
			MaxUnavailable *int          `yaml:"maxUnavailable"`
			MinAvailable   *int          `yaml:"minAvailable"`
			Selector       labelSelector `yaml:"selector"`
		} `yaml:"spec"`
	}
	configMap struct {
		typeMeta `yaml:",inline"`
		Data     map[string]string `yaml:"data"`
	}
	secret struct {
		typeMeta   `yaml:",inline"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}
	namespace struct {
		typeMeta `yaml:",inline"`
	}
	kustomization struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Namespace  string   `yaml:"namespace"`
		Resources  []string `yaml:"resources"`
		Images     []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
)

// manifests is every object of deploy/k8s, decoded strictly by kind.
type manifests struct {
	kust         kustomization
	statefulSets map[string]statefulSet
	services     map[string]service
	pdbs         map[string]podDisruptionBudget
	configMaps   map[string]configMap
	secrets      map[string]secret
}

var apiVersions = map[string]string{
	"Namespace": "v1", "Secret": "v1", "ConfigMap": "v1", "Service": "v1",
	"StatefulSet": "apps/v1", "PodDisruptionBudget": "policy/v1",
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{statefulSets: map[string]statefulSet{}, services: map[string]service{}, pdbs: map[string]podDisruptionBudget{},
		configMaps: map[string]configMap{}, secrets: map[string]secret{}}
	strictYAMLFile(t, "k8s/kustomization.yaml", &m.kust)
	if m.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kust.Kind != "Kustomization" {
		t.Fatalf("kustomization: %s %s", m.kust.APIVersion, m.kust.Kind)
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	var listed []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			listed = append(listed, base)
		}
	}
	if slices.Sort(listed); !slices.Equal(listed, slices.Sorted(slices.Values(m.kust.Resources))) {
		t.Fatalf("kustomization resources %v, files in deploy/k8s %v", m.kust.Resources, listed)
	}
	for _, f := range m.kust.Resources {
		for i, doc := range documents(t, filepath.Join("k8s", f)) {
			var tm struct {
				Kind       string `yaml:"kind"`
				APIVersion string `yaml:"apiVersion"`
			}
			strictYAML(doc, &tm) // lenient on purpose: only the kind, to choose the type
			where := fmt.Sprintf("%s document %d (%s)", f, i+1, tm.Kind)
			if want, ok := apiVersions[tm.Kind]; !ok || tm.APIVersion != want {
				t.Fatalf("%s: apiVersion %q, kind %q: not one this test knows (%v)", where, tm.APIVersion, tm.Kind, apiVersions)
			}
			var name string
			var err error
			switch tm.Kind {
			case "StatefulSet":
				var v statefulSet
				err, name = strictYAML(doc, &v), v.Metadata.Name
				m.statefulSets[name] = v
			case "Service":
				var v service
				err, name = strictYAML(doc, &v), v.Metadata.Name
				m.services[name] = v
			case "PodDisruptionBudget":
				var v podDisruptionBudget
				err, name = strictYAML(doc, &v), v.Metadata.Name
				m.pdbs[name] = v
			case "ConfigMap":
				var v configMap
				err, name = strictYAML(doc, &v), v.Metadata.Name
				m.configMaps[name] = v
			case "Secret":
				var v secret
				err, name = strictYAML(doc, &v), v.Metadata.Name
				m.secrets[name] = v
			case "Namespace":
				var v namespace
				err, name = strictYAML(doc, &v), v.Metadata.Name
			}
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if name == "" {
				t.Fatalf("%s has no name", where)
			}
		}
	}
	return m
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Every manifest decodes strictly, and the objects refer to each other consistently: selectors
// select, services reach named ports, probes and env refer to what exists.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	if len(m.statefulSets) != 3 || len(m.services) != 3 || len(m.pdbs) != 1 {
		t.Fatalf("want chalk, redis and minio StatefulSets and Services and one PDB; got %d, %d, %d", len(m.statefulSets), len(m.services), len(m.pdbs))
	}
	for name, s := range m.statefulSets {
		if !matches(s.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels) {
			t.Errorf("StatefulSet %s: selector %v does not select its pods %v", name, s.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels)
		}
		if _, ok := m.services[s.Spec.ServiceName]; !ok {
			t.Errorf("StatefulSet %s: serviceName %q is not a Service", name, s.Spec.ServiceName)
		}
		for _, c := range s.Spec.Template.Spec.Containers {
			checkContainerRefs(t, m, name, c)
		}
	}
	for name, svc := range m.services {
		var target *statefulSet
		for _, s := range m.statefulSets {
			if matches(svc.Spec.Selector, s.Spec.Template.Metadata.Labels) {
				target = &s
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no pods (%v)", name, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if _, ok := containerPort(*target, p.TargetPort); !ok {
				t.Errorf("Service %s: targetPort %q is not a port of %s", name, p.TargetPort, target.Metadata.Name)
			}
		}
	}
	for name, p := range m.pdbs {
		if !matches(p.Spec.Selector.MatchLabels, m.statefulSets["chalk"].Spec.Template.Metadata.Labels) {
			t.Errorf("PodDisruptionBudget %s does not select the chalk pods", name)
		}
		if (p.Spec.MaxUnavailable == nil) == (p.Spec.MinAvailable == nil) {
			t.Errorf("PodDisruptionBudget %s: set exactly one of maxUnavailable and minAvailable", name)
		}
	}
}

func containerPort(s statefulSet, ref string) (int, bool) {
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == ref || strconv.Itoa(p.ContainerPort) == ref {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func checkContainerRefs(t *testing.T, m manifests, owner string, c container) {
	t.Helper()
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			if _, ok := m.secrets[r.Name].StringData[r.Key]; !ok {
				t.Errorf("%s: env %s: Secret %s has no key %s", owner, e.Name, r.Name, r.Key)
			}
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %s does not exist", owner, ef.ConfigMapRef.Name)
			}
			for k := range cm.Data {
				names = append(names, k)
			}
		}
	}
	if owner == "chalk" {
		checkEnvNames(t, "the chalk StatefulSet", names)
	}
	for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue
		}
		if _, ok := containerPort(m.statefulSets[owner], p.HTTPGet.Port); !ok {
			t.Errorf("%s: probe port %q is not a container port", owner, p.HTTPGet.Port)
		}
	}
}

var listenPortRE = regexp.MustCompile(`:(\d+)$`)

// The Chalk pods: media reachable on the node (hostNetwork, one pod per node), health from
// /healthz, a graceful drain, non-root as in the image, ports matching the configuration.
func TestKubernetesChalkNode(t *testing.T) {
	m := loadManifests(t)
	s, ok := m.statefulSets["chalk"]
	if !ok {
		t.Fatal("no chalk StatefulSet")
	}
	ps := s.Spec.Template.Spec
	if !ps.HostNetwork || ps.DNSPolicy != "ClusterFirstWithHostNet" {
		t.Errorf("hostNetwork %v, dnsPolicy %q: media ports must be the node's, and cluster DNS must still resolve redis and minio", ps.HostNetwork, ps.DNSPolicy)
	}
	if a := ps.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.Required) != 1 ||
		a.PodAntiAffinity.Required[0].TopologyKey != "kubernetes.io/hostname" ||
		!matches(a.PodAntiAffinity.Required[0].LabelSelector.MatchLabels, s.Spec.Template.Metadata.Labels) {
		t.Error("two chalk pods on one node would fight over its media ports: require anti-affinity on kubernetes.io/hostname")
	}
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || strconv.Itoa(*sc.RunAsUser) != imageUID(t) {
		t.Errorf("pod securityContext must run as non-root uid %s, the image's USER", imageUID(t))
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	cfg := m.configMaps["chalk-config"].Data
	port := func(env string) int {
		v := cfg[env]
		if mm := listenPortRE.FindStringSubmatch(v); mm != nil {
			v = mm[1]
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("chalk-config %s=%q: not a port", env, cfg[env])
		}
		return n
	}
	wantPorts := map[string]int{"http/TCP": port("CHALK_LISTEN"), "media-udp/UDP": port("CHALK_MEDIA_PORT"),
		"media-tcp/TCP": port("CHALK_MEDIA_TCP_PORT"), "turn-udp/UDP": port("CHALK_TURN_UDP_PORT"), "turn-tcp/TCP": port("CHALK_TURN_TCP_PORT")}
	got := map[string]int{}
	for _, p := range c.Ports {
		got[p.Name+"/"+p.Protocol] = p.ContainerPort
	}
	for k, v := range wantPorts {
		if got[k] != v {
			t.Errorf("container port %s = %d, the configuration says %d", k, got[k], v)
		}
	}
	for name, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != "http" {
			t.Errorf("%s probe must GET /healthz on the http port", name)
		}
	}
	// Drain: the preStop pause, then chalk's own shutdown (up to 10 s), within the grace period.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		t.Fatal("no preStop hook")
	}
	cmd := c.Lifecycle.PreStop.Exec.Command
	pause, err := strconv.Atoi(cmd[len(cmd)-1])
	if len(cmd) != 2 || cmd[0] != "sleep" || err != nil {
		t.Fatalf("preStop %v: want [sleep N]", cmd)
	}
	drain, err := time.ParseDuration(cfg["CHALK_DRAIN_TIMEOUT"])
	if err != nil {
		t.Fatalf("CHALK_DRAIN_TIMEOUT %q: %v", cfg["CHALK_DRAIN_TIMEOUT"], err)
	}
	if g := ps.TerminationGracePeriodSeconds; g == nil || *g < pause+int(drain.Seconds())+10+5 {
		t.Errorf("terminationGracePeriodSeconds must cover the %d s preStop pause, the %v drain and chalk's 10 s shutdown", pause, drain)
	}
	// Redirects name each node's own URL: it must differ per pod, never the shared public URL.
	nodeURL := ""
	for _, e := range c.Env {
		if e.Name == "CHALK_NODE_URL" {
			nodeURL = e.Value
		}
	}
	if !strings.Contains(nodeURL, "$(CHALK_NODE_ID)") {
		t.Errorf("CHALK_NODE_URL %q must be per pod (built from $(CHALK_NODE_ID))", nodeURL)
	}
	if len(s.Spec.VolumeClaimTemplates) == 0 || cfg["CHALK_STORAGE"] == "" || !slices.ContainsFunc(c.VolumeMounts, func(v volumeMount) bool { return v.MountPath == cfg["CHALK_STORAGE"] }) {
		t.Errorf("CHALK_STORAGE %q (recordings in progress) must be on the pod's volume", cfg["CHALK_STORAGE"])
	}
	// Where chalk finds Redis and MinIO: the Services, on their ports.
	for env, svc := range map[string]string{"CHALK_REDIS_URL": "redis", "CHALK_MINIO_ENDPOINT": "minio"} {
		host, p, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(cfg[env], "redis://"), "/0"))
		if err != nil || host != svc {
			t.Errorf("%s=%q: want the %s Service", env, cfg[env], svc)
			continue
		}
		if !slices.ContainsFunc(m.services[svc].Spec.Ports, func(sp servicePort) bool { return strconv.Itoa(sp.Port) == p }) {
			t.Errorf("%s=%q: the %s Service has no port %s", env, cfg[env], svc, p)
		}
	}
	if c.Image != m.kust.Images[0].Name {
		t.Errorf("container image %q is not the one kustomization sets (%q)", c.Image, m.kust.Images[0].Name)
	}
}

// Redis keeps an append-only file on a persistent volume; MinIO keeps lessons on one.
func TestKubernetesStateIsPersistent(t *testing.T) {
	m := loadManifests(t)
	redis := m.statefulSets["redis"]
	args := strings.Join(redis.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--appendonly yes") {
		t.Errorf("redis args %q: AOF must be on", args)
	}
	for _, name := range []string{"redis", "minio"} {
		s := m.statefulSets[name]
		if len(s.Spec.VolumeClaimTemplates) != 1 {
			t.Errorf("%s: no PersistentVolumeClaim template", name)
			continue
		}
		claim := s.Spec.VolumeClaimTemplates[0].Metadata.Name
		mounted := ""
		for _, vm := range s.Spec.Template.Spec.Containers[0].VolumeMounts {
			if vm.Name == claim {
				mounted = vm.MountPath
			}
		}
		if mounted != "/data" {
			t.Errorf("%s: claim %s mounted at %q, want /data (where the data is written)", name, claim, mounted)
		}
	}
	// Secrets are Secrets: no secret value in the ConfigMap.
	for k := range m.configMaps["chalk-config"].Data {
		if strings.Contains(k, "SECRET") || strings.Contains(k, "KEY") {
			t.Errorf("chalk-config holds %s: put it in the Secret", k)
		}
	}
}

// imageUID is the numeric user the Dockerfile's runtime stage runs as.
func imageUID(t *testing.T) string {
	for _, in := range parseDockerfile(t) {
		if in.cmd == "USER" {
			uid, _, _ := strings.Cut(in.args, ":")
			return uid
		}
	}
	t.Fatal("the Dockerfile has no USER")
	return ""
}
