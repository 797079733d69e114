package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A typed subset of the compose specification: what deploy/compose.yaml uses.
type (
	composeFile struct {
		Name      string                    `yaml:"name"`
		XChalk    map[string]any            `yaml:"x-chalk"`     // merged into the chalk services,
		XChalkEnv map[string]any            `yaml:"x-chalk-env"` // which are checked strictly
		Services  map[string]composeService `yaml:"services"`
		Volumes   map[string]*struct{}      `yaml:"volumes"`
	}
	composeService struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command   []string `yaml:"command"`
		Restart   string   `yaml:"restart"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
		Environment     map[string]string `yaml:"environment"`
		Ports           []string          `yaml:"ports"`
		Volumes         []string          `yaml:"volumes"`
		Healthcheck     *struct {
			Test     []string `yaml:"test"`
			Interval string   `yaml:"interval"`
			Timeout  string   `yaml:"timeout"`
			Retries  int      `yaml:"retries"`
		} `yaml:"healthcheck"`
	}
	promConfig struct {
		Global *struct {
			ScrapeInterval     string `yaml:"scrape_interval"`
			EvaluationInterval string `yaml:"evaluation_interval"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			KubernetesSDConfigs []struct {
				Role       string `yaml:"role"`
				Namespaces *struct {
					Names []string `yaml:"names"`
				} `yaml:"namespaces"`
			} `yaml:"kubernetes_sd_configs"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				Regex        string   `yaml:"regex"`
				Replacement  string   `yaml:"replacement"`
				TargetLabel  string   `yaml:"target_label"`
				Action       string   `yaml:"action"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
)

var chalkNodes = []string{"chalk-1", "chalk-2"}

// published is one ports entry: [ip:]host:container[/proto].
type published struct {
	host, container int
	proto           string
}

func parsePort(t *testing.T, s string) published {
	t.Helper()
	spec, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	f := strings.Split(spec, ":")
	if len(f) < 2 || len(f) > 3 {
		t.Fatalf("port %q: want [ip:]host:container[/proto]", s)
	}
	h, err1 := strconv.Atoi(f[len(f)-2])
	c, err2 := strconv.Atoi(f[len(f)-1])
	if err1 != nil || err2 != nil {
		t.Fatalf("port %q: not numbers", s)
	}
	return published{h, c, proto}
}

var interpRE = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:\?[^}]*)?\}`)

// expand substitutes ${VAR} and ${VAR:?msg} with a sample value, as compose would with an .env.
func expand(s string) string {
	return interpRE.ReplaceAllString(s, "192.0.2.10")
}

func TestCompose(t *testing.T) {
	var c composeFile
	strictYAMLFile(t, "compose.yaml", &c)
	var image string
	hostPorts := map[string]string{} // "8080/tcp" → service
	for name, s := range c.Services {
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
		}
		for _, p := range s.Ports {
			pp := parsePort(t, p)
			key := fmt.Sprintf("%d/%s", pp.host, pp.proto)
			if other, dup := hostPorts[key]; dup {
				t.Errorf("host port %s published by both %s and %s", key, other, name)
			}
			hostPorts[key] = name
		}
	}
	for _, name := range chalkNodes {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if image == "" {
			image = s.Image
		} else if s.Image != image {
			t.Errorf("%s runs %q, the other node %q", name, s.Image, image)
		}
		if s.Build == nil {
			t.Fatalf("%s has no build", name)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: build %s in %s: %v", name, s.Build.Dockerfile, s.Build.Context, err)
		}
		var names []string
		for k := range s.Environment {
			names = append(names, k)
		}
		checkEnvNames(t, name, names)
		env := s.Environment
		pub := map[string]published{}
		for _, p := range s.Ports {
			pp := parsePort(t, p)
			pub[fmt.Sprintf("%d/%s", pp.container, pp.proto)] = pp
		}
		_, listen, _ := net.SplitHostPort(env["CHALK_LISTEN"])
		if _, ok := pub[listen+"/tcp"]; !ok {
			t.Errorf("%s: HTTP port %s/tcp (CHALK_LISTEN) is not published", name, listen)
		}
		// Media and TURN ports are advertised to clients as they are inside the container, with
		// CHALK_PUBLIC_IP: the host must publish them on the same number.
		for _, x := range []struct{ env, proto string }{
			{"CHALK_MEDIA_PORT", "udp"}, {"CHALK_MEDIA_TCP_PORT", "tcp"}, {"CHALK_TURN_UDP_PORT", "udp"}, {"CHALK_TURN_TCP_PORT", "tcp"},
		} {
			p, ok := pub[env[x.env]+"/"+x.proto]
			if !ok || strconv.Itoa(p.host) != env[x.env] {
				t.Errorf("%s: %s=%s must be published as %s:%s/%s", name, x.env, env[x.env], env[x.env], env[x.env], x.proto)
			}
		}
		for envName, svc := range map[string]string{"CHALK_REDIS_URL": "redis", "CHALK_MINIO_ENDPOINT": "minio"} {
			v := strings.TrimSuffix(strings.TrimPrefix(env[envName], "redis://"), "/0")
			if host, _, err := net.SplitHostPort(v); err != nil || host != svc {
				t.Errorf("%s: %s=%q: want the %s service", name, envName, env[envName], svc)
			}
		}
		if env["CHALK_PUBLIC_IP"] == "" || env["CHALK_TOKEN_SECRET"] == "" {
			t.Errorf("%s: CHALK_PUBLIC_IP and CHALK_TOKEN_SECRET must come from the .env file", name)
		}
		if u := expand(env["CHALK_PUBLIC_URL"]); !strings.HasSuffix(u, ":"+strconv.Itoa(hostPortOf(t, s, listen))) {
			t.Errorf("%s: CHALK_PUBLIC_URL %q does not name the host port its HTTP is published on", name, u)
		}
	}
	if cmd := strings.Join(c.Services["redis"].Command, " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis command %q: AOF must be on", cmd)
	}
	checkComposePrometheus(t, c)
}

func hostPortOf(t *testing.T, s composeService, container string) int {
	for _, p := range s.Ports {
		if pp := parsePort(t, p); strconv.Itoa(pp.container) == container && pp.proto == "tcp" {
			return pp.host
		}
	}
	return -1
}

// Prometheus scrapes every chalk node at its HTTP port, by service name.
func checkComposePrometheus(t *testing.T, c composeFile) {
	t.Helper()
	var cfg promConfig
	strictYAMLFile(t, "prometheus/prometheus.yml", &cfg)
	want := map[string]bool{}
	for _, n := range chalkNodes {
		_, port, _ := net.SplitHostPort(c.Services[n].Environment["CHALK_LISTEN"])
		want[net.JoinHostPort(n, port)] = true
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "chalk" || sc.MetricsPath != "/metrics" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				if !want[target] {
					t.Errorf("prometheus target %s is not a chalk node's HTTP address", target)
				}
				delete(want, target)
			}
		}
	}
	for missing := range want {
		t.Errorf("prometheus does not scrape %s", missing)
	}
}

// The in-cluster scrape job keeps chalk pods by their label and scrapes the HTTP port.
func TestKubernetesPrometheusScrape(t *testing.T) {
	m := loadManifests(t)
	var cfg promConfig
	if err := strictYAML([]byte(m.configMaps["chalk-prometheus-scrape"].Data["prometheus.yml"]), &cfg); err != nil {
		t.Fatalf("chalk-prometheus-scrape prometheus.yml: %v", err)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].JobName != "chalk" {
		t.Fatalf("want one job named chalk (the dashboard filters on job=\"chalk\")")
	}
	_, port, _ := net.SplitHostPort(m.configMaps["chalk-config"].Data["CHALK_LISTEN"])
	labels := m.statefulSets["chalk"].Spec.Template.Metadata.Labels
	var kept, addressed bool
	for _, r := range cfg.ScrapeConfigs[0].RelabelConfigs {
		if r.Action == "keep" && len(r.SourceLabels) == 1 && r.SourceLabels[0] == "__meta_kubernetes_pod_label_app_kubernetes_io_name" && r.Regex == labels["app.kubernetes.io/name"] {
			kept = true
		}
		if r.TargetLabel == "__address__" && r.Replacement == "${1}:"+port {
			addressed = true
		}
	}
	if !kept || !addressed {
		t.Errorf("relabelling keeps chalk pods %v, scrapes port %s %v", kept, port, addressed)
	}
}
