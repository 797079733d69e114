// Package deploy holds no code: it is the deployment files (Dockerfile, compose, Kubernetes
// manifests, Prometheus and Grafana) and the tests that check them against the server, since no
// container engine or cluster runs where Chalk is tested. See docs/deploy.md.
package deploy
