package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The fast write path: Chalk encrypts a subscriber's RTP itself, straight into the media socket's
// write batch.
//
// Through Pion, each copy of a forwarded packet went through the interceptor chain, the SRTP
// session (a lock, an SSRC map lookup, a buffer), the DTLS/SRTP demultiplexer, the ICE connection
// (its task loop's select, time.Now and atomics per write), the UDP mux and finally our batchConn,
// which copied it: about 3.2 µs per copy in a lecture of 200, more than the sendmmsg system call
// itself (docs/performance.md). Here a subscribe connection whose selected ICE pair is a UDP host
// candidate on one of the SFU's batched sockets gets its own SRTP sender, made from the same DTLS
// keying material Pion uses (with AES-GCM, what browsers negotiate, our own gcmSender, srtpgcm.go;
// with AES_CM_HMAC_SHA1_80 an srtp.Context), and every RTP packet Chalk sends it is marshalled and
// encrypted in the batch slot, addressed to the pair's remote address.
//
// That sender owns every RTP packet Chalk sends on the connection from the moment the fast path
// is on: Pion's SRTP context keeps RTCP (sender reports out; NACKs, PLIs, REMBs in), which has its
// own index. Anything else (TURN, ICE-TCP, no batching, a relay between nodes, a Pion version whose
// DTLSTransport no longer has the field read below) keeps Pion's path.

// fastConn is one subscribe connection's fast path. Its context is not goroutine-safe, and the
// connection's down-tracks are written by several goroutines (each up-track's reader or fan-out
// writer, NACK answers), so mu serialises them; the batch's own lock is taken inside it.
type fastConn struct {
	metrics *Metrics
	log     *slog.Logger

	on atomic.Bool // the fast path is set up and the selected pair is on a batched socket
	// pionUp: Pion's own path has taken a packet, so its SRTP session is running. Until then
	// packets go to Pion (which drops them, 0 bytes), as they did before the fast path: the
	// connection's first packets leave no earlier than they used to, when the client is ready.
	pionUp atomic.Bool

	mu   sync.Mutex
	ctx  *srtp.Context // AES_CM_HMAC_SHA1_80: Pion's context; nil with GCM or until keys were taken
	gcm  *gcmSender    // AEAD_AES_*_GCM: our own sender (srtpgcm.go); nil otherwise
	conn *batchConn    // the socket the selected pair's local candidate is on; nil: Pion's path
	addr netip.AddrPort
	hdr  rtp.Header // scratch for EncryptRTP's header parse
	// the packet being encrypted, for batchConn.writeFilled
	pktHdr     *rtp.Header
	pktPayload []byte
	spare      [1500]byte // when the packet cannot go into a batch slot
}

// writeRTP sends one packet through the fast path. ok is false when the path is off: the caller
// uses Pion's.
func (f *fastConn) writeRTP(h *rtp.Header, payload []byte) (n int, ok bool, err error) {
	if f == nil || !f.on.Load() || !f.pionUp.Load() {
		return 0, false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil || (f.ctx == nil && f.gcm == nil) {
		return 0, false, nil
	}
	f.pktHdr, f.pktPayload = h, payload
	n, err = f.conn.writeFilled(f.addr, f, f.spare[:0])
	f.pktHdr, f.pktPayload = nil, nil
	if err != nil {
		return 0, true, err
	}
	f.metrics.fastPackets.Inc()
	return n, true, nil
}

// fill writes the pending packet into dst as SRTP. With GCM our sender marshals the header and
// seals the payload straight into dst; otherwise the packet is marshalled into dst and Pion's
// context encrypts it in place (EncryptRTP works in place, and allocates nothing when dst has room
// for the tag). Called by batchConn under f.mu.
func (f *fastConn) fill(dst []byte) ([]byte, error) {
	if f.gcm != nil {
		return f.gcm.seal(dst, f.pktHdr, f.pktPayload)
	}
	hl := f.pktHdr.MarshalSize()
	need := hl + len(f.pktPayload) + srtpMaxOverhead
	if cap(dst) < need {
		return nil, errTooLarge
	}
	buf := dst[:hl+len(f.pktPayload)]
	if _, err := f.pktHdr.MarshalTo(buf); err != nil {
		return nil, err
	}
	copy(buf[hl:], f.pktPayload)
	return f.ctx.EncryptRTP(dst[:0], buf, &f.hdr)
}

// srtpMaxOverhead is the most SRTP adds to a packet: a 16-byte GCM tag (HMAC-SHA1-80: 10).
const srtpMaxOverhead = 16

var errTooLarge = fmt.Errorf("sfu: packet too large for the fast path")

// setup takes the connection's keys and selected pair; it runs when the connection is up.
func (f *fastConn) setup(pc *webrtc.PeerConnection, group *batchGroup) {
	dt := pc.SCTP().Transport()
	if dt == nil || dt.State() != webrtc.DTLSTransportStateConnected {
		return // State takes the transport's lock: what start wrote under it is visible below
	}
	f.mu.Lock()
	have := f.ctx != nil || f.gcm != nil
	f.mu.Unlock()
	if !have { // once: the keys last as long as the DTLS connection, and the sender keeps rollover state
		ctx, gcm, profile, err := srtpSenderFor(dt)
		if err != nil {
			logFastPathOff(f.log, err)
			return
		}
		f.metrics.fastConns.WithLabelValues(profile.String()).Inc()
		f.mu.Lock()
		f.ctx, f.gcm = ctx, gcm
		f.mu.Unlock()
	}
	ice := dt.ICETransport()
	ice.OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) { f.follow(pair, group) })
	if pair, err := ice.GetSelectedCandidatePair(); err == nil && pair != nil {
		f.follow(pair, group)
	}
}

// follow points the fast path at a newly selected pair, or turns it off when the pair is not one it
// can write (Pion's path takes over).
func (f *fastConn) follow(pair *webrtc.ICECandidatePair, group *batchGroup) {
	conn, addr := fastTarget(pair, group)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conn, f.addr = conn, addr
	f.on.Store(conn != nil && (f.ctx != nil || f.gcm != nil))
}

// off stops the fast path (the connection failed or closed).
func (f *fastConn) off() {
	f.mu.Lock()
	f.on.Store(false)
	f.conn = nil
	f.mu.Unlock()
}

// fastTarget is the batched socket and remote address for pair, or nil when the pair is not a UDP
// host candidate on one of the SFU's batched sockets with an IPv4 remote.
func fastTarget(pair *webrtc.ICECandidatePair, group *batchGroup) (*batchConn, netip.AddrPort) {
	if pair == nil || pair.Local == nil || pair.Remote == nil || group == nil {
		return nil, netip.AddrPort{}
	}
	l, r := pair.Local, pair.Remote
	if l.Protocol != webrtc.ICEProtocolUDP || l.Typ != webrtc.ICECandidateTypeHost || r.Protocol != webrtc.ICEProtocolUDP {
		return nil, netip.AddrPort{}
	}
	raddr, err := netip.ParseAddr(r.Address)
	if err != nil || !raddr.Unmap().Is4() {
		return nil, netip.AddrPort{}
	}
	remote := netip.AddrPortFrom(raddr.Unmap(), r.Port)
	laddr, _ := netip.ParseAddr(l.Address)
	var samePort *batchConn
	ports := 0
	for _, c := range group.conns {
		la, ok := c.LocalAddr().(*net.UDPAddr)
		if !ok || la.Port != int(l.Port) {
			continue
		}
		ports++
		samePort = c
		if a, ok := netip.AddrFromSlice(la.IP); ok && a.Unmap() == laddr.Unmap() {
			return c, remote
		}
	}
	// A NAT 1:1 address replaces the host candidate's: with one socket on that port it is that one.
	if ports == 1 && len(group.conns) == 1 {
		return samePort, remote
	}
	return nil, netip.AddrPort{}
}

// srtpSenderFor makes the outgoing SRTP sender of a connected DTLS transport from what Pion's
// DTLSTransport.startSRTP makes its own context from: the negotiated profile, keys exported from
// the DTLS connection, and the local half chosen by the DTLS role. With a GCM profile (what
// browsers negotiate with Pion) it is our own sender; with AES_CM_HMAC_SHA1_80, Pion's context.
func srtpSenderFor(dt *webrtc.DTLSTransport) (*srtp.Context, *gcmSender, srtp.ProtectionProfile, error) {
	conn, remoteRole, err := dtlsInternals(dt)
	if err != nil {
		return nil, nil, 0, err
	}
	dp, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, nil, 0, fmt.Errorf("sfu: fast path: no SRTP profile negotiated")
	}
	profile, err := srtpProfile(dp)
	if err != nil {
		return nil, nil, 0, err
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return nil, nil, 0, fmt.Errorf("sfu: fast path: no DTLS connection state")
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, dtlsIsClient(remoteRole, dt.ICETransport().Role())); err != nil {
		return nil, nil, 0, fmt.Errorf("sfu: fast path: keys: %w", err)
	}
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
		gcm, err := newGCMSender(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt)
		return nil, gcm, profile, err
	}
	ctx, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	return ctx, nil, profile, err
}

// dtlsIsClient is Pion's DTLSTransport.role: the inverse of the remote's explicit a=setup role, else
// (actpass) the server when controlling ICE. (Pion also honours SettingEngine.SetAnsweringDTLSRole
// there; the SFU does not set it.)
func dtlsIsClient(remote webrtc.DTLSRole, ice webrtc.ICERole) bool {
	switch remote {
	case webrtc.DTLSRoleClient:
		return false
	case webrtc.DTLSRoleServer:
		return true
	}
	return ice != webrtc.ICERoleControlling
}

func srtpProfile(p dtls.SRTPProtectionProfile) (srtp.ProtectionProfile, error) {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	case dtls.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, nil
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	}
	return 0, fmt.Errorf("sfu: fast path: SRTP profile %v not handled", p)
}

// dtlsInternals reads two unexported fields of Pion's DTLSTransport: conn (the *dtls.Conn, which
// Pion does not expose; its keying material is what SRTP keys come from) and remoteParameters (the
// remote's a=setup role, one input of Pion's DTLS role choice). This is the one place Chalk reaches
// into Pion: by name and type, checked, so that a Pion upgrade that renames or retypes them turns
// the fast path off (logged once) rather than crashing, and TestDTLSInternalsStillThere fails.
// Call only once the transport is connected (its State, under the transport's lock, said so).
func dtlsInternals(dt *webrtc.DTLSTransport) (*dtls.Conn, webrtc.DTLSRole, error) {
	v := reflect.ValueOf(dt).Elem()
	cf := v.FieldByName("conn")
	if !cf.IsValid() || cf.Type() != reflect.TypeOf((*dtls.Conn)(nil)) {
		return nil, 0, fmt.Errorf("sfu: fast path: webrtc.DTLSTransport has no conn *dtls.Conn field (Pion changed)")
	}
	pf := v.FieldByName("remoteParameters")
	if !pf.IsValid() || pf.Type() != reflect.TypeOf(webrtc.DTLSParameters{}) {
		return nil, 0, fmt.Errorf("sfu: fast path: webrtc.DTLSTransport has no remoteParameters DTLSParameters field (Pion changed)")
	}
	conn := *(**dtls.Conn)(unsafe.Pointer(cf.UnsafeAddr()))
	params := (*webrtc.DTLSParameters)(unsafe.Pointer(pf.UnsafeAddr()))
	if conn == nil {
		return nil, 0, fmt.Errorf("sfu: fast path: DTLS connection not set")
	}
	return conn, params.Role, nil
}

var fastPathOffOnce sync.Once

func logFastPathOff(log *slog.Logger, err error) {
	fastPathOffOnce.Do(func() { log.Error("SRTP fast path off, using Pion's write path", "err", err) })
}
