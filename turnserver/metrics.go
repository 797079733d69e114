package turnserver

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the embedded TURN server's Prometheus series.
type Metrics struct {
	allocations      prometheus.Gauge
	allocationsTotal prometheus.Counter
	authFailures     prometheus.Counter
	relayDropped     prometheus.Counter
}

// NewMetrics returns unregistered metrics; call Register to export them.
func NewMetrics() *Metrics {
	return &Metrics{
		allocations:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_turn_allocations", Help: "TURN relay allocations open on this node's embedded TURN server."}),
		allocationsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_turn_allocations_total", Help: "TURN relay allocations opened since start."}),
		authFailures:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_turn_auth_failures_total", Help: "TURN requests refused for a malformed, expired or wrong credential."}),
		relayDropped:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_turn_relay_dropped_total", Help: "Relayed datagrams dropped because the peer is not this node's media port."}),
	}
}

// Register adds the metrics to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.allocations, m.allocationsTotal, m.authFailures, m.relayDropped} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
