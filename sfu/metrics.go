package sfu

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the SFU's Prometheus series. Counters on the forwarding path are plain atomics: no
// labels, so no per-packet map lookup or allocation.
type Metrics struct {
	peers            prometheus.Gauge
	upTracks         prometheus.Gauge
	downTracks       prometheus.Gauge
	packetsForwarded prometheus.Counter
	bytesForwarded   prometheus.Counter
	writeErrors      prometheus.Counter
	keyframeRequests prometheus.Counter
	retransmitted    prometheus.Counter
	fanoutDrops      prometheus.Counter
	forwardDelay     prometheus.Histogram // read off the up-track → its copies handed to the kernel, per fan-out group
	fastPackets      prometheus.Counter   // RTP packets to subscribers encrypted by Chalk (fastpath.go)
	pionPackets      prometheus.Counter   // and through Pion's write path

	fastConns *prometheus.CounterVec // connections whose fast path took keys, by SRTP profile

	relay relayMetrics // cascading between nodes (relay.go)

	rembReceived    prometheus.Counter // subscribers' bandwidth estimates: simulcast layer choice reads them
	layerSwitches   prometheus.Counter
	layerByEstimate prometheus.Counter
}

// NewMetrics returns unregistered metrics; call Register to export them.
func NewMetrics() *Metrics {
	return &Metrics{
		peers:            prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_sfu_peers", Help: "Participants with media connections on this node."}),
		upTracks:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_sfu_up_tracks", Help: "Tracks being received from publishers."}),
		downTracks:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_sfu_down_tracks", Help: "Tracks being forwarded to subscribers."}),
		packetsForwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_rtp_packets_forwarded_total", Help: "RTP packets written to subscribers."}),
		bytesForwarded:   prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_rtp_payload_bytes_forwarded_total", Help: "RTP payload bytes written to subscribers."}),
		writeErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_rtp_write_errors_total", Help: "RTP packets that could not be written to a subscriber."}),
		keyframeRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_keyframe_requests_total", Help: "Keyframe requests (PLI) sent to publishers, after throttling."}),
		retransmitted:    prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_rtp_retransmissions_total", Help: "Packets resent to subscribers from the packet cache, answering their NACKs."}),
		fanoutDrops:      prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_fanout_drops_total", Help: "Packets a fan-out writer goroutine could not take (it was far behind), once per writer."}),
		forwardDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chalk_sfu_forward_delay_seconds",
			Help:    "From reading a packet off its up-track to the return of the send carrying its copies, once per fan-out group (the reader's own subscribers, each writer goroutine's): the last copy of the group, so queueing in the fan-out plus the writes.",
			Buckets: []float64{.00025, .0005, .001, .002, .003, .004, .005, .006, .008, .010, .015, .020, .030, .050, .100, .250, 1}}),
		fastPackets: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_rtp_fast_path_packets_total", Help: "RTP packets to subscribers encrypted and queued by Chalk's own SRTP write path."}),
		pionPackets: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_rtp_pion_path_packets_total", Help: "RTP packets to subscribers written through Pion's track writer (TURN, ICE-TCP, relays, before the fast path is up)."}),
		fastConns:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chalk_sfu_fast_path_connections_total", Help: "Subscribe connections whose SRTP fast path was set up, by negotiated SRTP profile (GCM: Chalk's own sender; AES_CM: Pion's context)."}, []string{"srtp"}),
		relay:       newRelayMetrics(),

		rembReceived:    prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_remb_received_total", Help: "Bandwidth estimates (REMB) received from subscribers."}),
		layerSwitches:   prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_simulcast_switches_total", Help: "Simulcast layer switches completed (at a keyframe of the new layer)."}),
		layerByEstimate: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_simulcast_estimate_limited_total", Help: "Simulcast layer choices set below what the subscriber's tile asks for, because its bandwidth estimate does not fit it."}),
	}
}

// Register adds the metrics to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.peers, m.upTracks, m.downTracks, m.packetsForwarded, m.bytesForwarded, m.writeErrors, m.keyframeRequests, m.retransmitted, m.fanoutDrops, m.forwardDelay, m.fastPackets, m.pionPackets, m.fastConns, m.rembReceived, m.layerSwitches, m.layerByEstimate} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	for _, c := range m.relay.collectors() {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
