// Package signaling carries each participant's WebSocket: it validates client messages, applies
// classroom changes through the rooms store, drives the participant's media in the SFU, and delivers
// room events to every local participant. docs/protocol.md specifies the messages.
package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

// Version is the protocol version this server speaks.
const Version = 1

// Limits on what a client may send.
const (
	MaxFrameBytes = 64 << 10
	MaxSDPBytes   = 32 << 10
	maxNameRunes  = 64
	// MaxChatRunes bounds one chat message: long enough for a question with a code snippet.
	MaxChatRunes = 1000
	// ChatHistoryLen is how many recent messages a joining (or resuming) participant receives.
	ChatHistoryLen = 200
)

// Error codes sent in "error" messages.
const (
	CodeBadMessage         = "bad_message"
	CodeUnknownType        = "unknown_type"
	CodeUnsupportedVersion = "unsupported_version"
	CodeTooLarge           = "too_large"
	CodeOutOfOrder         = "out_of_order"
	CodeUnauthorized       = "unauthorized"
	CodeResumeFailed       = "resume_failed"
	CodeBadSDP             = "bad_sdp"
	CodeInternal           = "internal"
	CodeForbidden          = "forbidden"
	CodeRateLimited        = "rate_limited"
	CodeNotFound           = "not_found"
)

// ProtocolError is a client-visible failure: Code is one of the Code constants.
type ProtocolError struct {
	Code    string
	Message string
	Ref     string // the type of the message that caused it
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

func protoErr(code, ref, format string, a ...any) *ProtocolError {
	return &ProtocolError{Code: code, Ref: ref, Message: fmt.Sprintf(format, a...)}
}

// envelope is the outer shape of every message in both directions.
type envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Client → server message bodies.
type (
	joinMsg struct {
		Room     string `json:"room"`
		Name     string `json:"name"`
		Token    string `json:"token,omitempty"`
		Identity string `json:"identity,omitempty"`
		Resume   string `json:"resume,omitempty"`
		Visit    int    `json:"visit,omitempty"` // from a redirect: the breakout an instructor was visiting
	}
	offerMsg struct {
		SDP    string          `json:"sdp"`
		Tracks []declaredTrack `json:"tracks"`
	}
	declaredTrack struct {
		Mid    string       `json:"mid"`
		Source rooms.Source `json:"source"`
	}
	answerMsg struct {
		SDP string `json:"sdp"`
	}
	candidateMsg struct {
		PC        sfu.PC                  `json:"pc"`
		Candidate webrtc.ICECandidateInit `json:"candidate"`
	}
	sourceMsg struct {
		Source rooms.Source `json:"source"`
	}
	muteMsg struct {
		Source rooms.Source `json:"source"`
		Muted  bool         `json:"muted"`
	}
	chatMsg struct {
		Text string `json:"text"`
		To   string `json:"to,omitempty"`
	}
	chatDeleteMsg struct {
		ID string `json:"id"`
	}
	lowerHandMsg struct {
		ParticipantID string `json:"participantId,omitempty"` // empty: your own hand
	}
	emptyMsg struct{}
)

// clientMsg is a decoded, validated client message: Body is one of the *Msg types above.
type clientMsg struct {
	Type string
	Body any
}

var (
	roomNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	idRE       = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// decodeClient parses and validates one client frame. Every failure is a *ProtocolError.
func decodeClient(frame []byte) (clientMsg, error) {
	var env envelope
	if err := strictUnmarshal(frame, &env); err != nil {
		return clientMsg{}, protoErr(CodeBadMessage, "", "not a valid message envelope: %v", err)
	}
	if env.V != Version {
		return clientMsg{}, protoErr(CodeUnsupportedVersion, env.Type, "protocol version %d is not supported; this server speaks %d", env.V, Version)
	}
	var body any
	switch env.Type {
	case "join":
		body = &joinMsg{}
	case "offer":
		body = &offerMsg{}
	case "answer":
		body = &answerMsg{}
	case "candidate":
		body = &candidateMsg{}
	case "publish", "unpublish":
		body = &sourceMsg{}
	case "mute":
		body = &muteMsg{}
	case "chat":
		body = &chatMsg{}
	case "chat_delete":
		body = &chatDeleteMsg{}
	case "lower_hand":
		body = &lowerHandMsg{}
	case "set_video_quality":
		body = &videoQualityMsg{}
	case "poll_create":
		body = &pollCreateMsg{}
	case "poll_vote":
		body = &pollVoteMsg{}
	case "poll_close":
		body = &pollCloseMsg{}
	case "restart_ice", "leave", "ping", "raise_hand", "start_recording", "stop_recording":
		body = &emptyMsg{}
	case "breakouts_open", "breakouts_assign", "breakouts_extend", "breakouts_broadcast", "breakouts_close",
		"breakout_visit", "breakout_choose", "breakout_help", "breakout_help_done":
		body = newBreakoutBody(env.Type)
	case "set_role", "update_settings", "mute_participant", "mute_all", "allow_unmute", "remove_participant",
		"allow_rejoin", "admit", "admit_next", "admit_all", "deny":
		body = moderationBody(env.Type)
	case "":
		return clientMsg{}, protoErr(CodeBadMessage, "", "message has no type")
	default:
		return clientMsg{}, protoErr(CodeUnknownType, env.Type, "unknown message type %q", truncate(env.Type, 40))
	}
	data := env.Data
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		data = []byte("{}")
	}
	if err := strictUnmarshal(data, body); err != nil {
		return clientMsg{}, protoErr(CodeBadMessage, env.Type, "invalid %s: %v", env.Type, err)
	}
	if err := validate(body); err != nil {
		return clientMsg{}, protoErr(CodeBadMessage, env.Type, "invalid %s: %v", env.Type, err)
	}
	return clientMsg{Type: env.Type, Body: body}, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func validate(body any) error {
	if v, ok := body.(interface{ validate() error }); ok {
		return v.validate()
	}
	switch m := body.(type) {
	case *joinMsg:
		if m.Resume != "" {
			if !idRE.MatchString(m.Resume) {
				return errors.New("resume is malformed")
			}
			return nil
		}
		if !roomNameRE.MatchString(m.Room) {
			return errors.New("room must be 1-64 letters, digits, '-' or '_'")
		}
		m.Name = strings.TrimSpace(m.Name)
		if n := utf8.RuneCountInString(m.Name); n > maxNameRunes || !utf8.ValidString(m.Name) {
			return fmt.Errorf("name must be at most %d characters of valid UTF-8", maxNameRunes)
		}
		if m.Name == "" && m.Token == "" {
			return errors.New("name is required")
		}
		if m.Identity != "" && !idRE.MatchString(m.Identity) {
			return errors.New("identity must be 1-128 letters, digits or -_.:")
		}
		if len(m.Token) > 4096 {
			return errors.New("token is too long")
		}
	case *offerMsg:
		if err := checkSDP(m.SDP); err != nil {
			return err
		}
		if len(m.Tracks) == 0 || len(m.Tracks) > 3 {
			return errors.New("tracks must list 1 to 3 transceivers")
		}
		seen := map[rooms.Source]bool{}
		for _, t := range m.Tracks {
			if t.Mid == "" || len(t.Mid) > 32 {
				return errors.New("every track needs a mid")
			}
			if !t.Source.Valid() || seen[t.Source] {
				return fmt.Errorf("track source %q is unknown or repeated", truncate(string(t.Source), 20))
			}
			seen[t.Source] = true
		}
	case *answerMsg:
		return checkSDP(m.SDP)
	case *candidateMsg:
		if m.PC != sfu.Publish && m.PC != sfu.Subscribe {
			return errors.New(`pc must be "publish" or "subscribe"`)
		}
		if len(m.Candidate.Candidate) > 1024 {
			return errors.New("candidate is too long")
		}
	case *sourceMsg:
		if !m.Source.Valid() {
			return errors.New("unknown source")
		}
	case *muteMsg:
		if m.Source != rooms.SourceMicrophone && m.Source != rooms.SourceCamera {
			return errors.New(`source must be "microphone" or "camera"`)
		}
	case *chatMsg:
		m.Text = strings.TrimSpace(m.Text)
		switch n := utf8.RuneCountInString(m.Text); {
		case !utf8.ValidString(m.Text):
			return errors.New("text must be valid UTF-8")
		case n == 0:
			return errors.New("text is empty")
		case n > MaxChatRunes:
			return fmt.Errorf("message is %d characters; the limit is %d", n, MaxChatRunes)
		}
		if m.To != rooms.ChatToRoom && m.To != rooms.ChatToInstructors {
			return errors.New(`to must be empty (everyone) or "instructors"`)
		}
	case *chatDeleteMsg:
		if !idRE.MatchString(m.ID) {
			return errors.New("id is malformed")
		}
	case *lowerHandMsg:
		if m.ParticipantID != "" && !idRE.MatchString(m.ParticipantID) {
			return errors.New("participantId is malformed")
		}
	case *pollCreateMsg, *pollVoteMsg, *pollCloseMsg:
		return validatePoll(body)

	default:
		return validateModeration(body)
	}
	return nil
}

func checkSDP(s string) error {
	switch {
	case s == "":
		return errors.New("sdp is required")
	case len(s) > MaxSDPBytes:
		return fmt.Errorf("sdp is larger than %d bytes", MaxSDPBytes)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// encodeServer builds one server frame.
func encodeServer(typ string, data any) []byte {
	raw, err := json.Marshal(data)
	if err != nil {
		// Our own types always marshal; this is a programming error, not a client's.
		panic(fmt.Sprintf("signaling: marshal %s: %v", typ, err))
	}
	b, _ := json.Marshal(envelope{V: Version, Type: typ, Data: raw})
	return b
}

// Server → client message bodies.
type (
	joinedMsg struct {
		Participant  rooms.Participant   `json:"participant"`
		Room         string              `json:"room"`
		Seq          uint64              `json:"seq"`
		Participants []rooms.Participant `json:"participants"`
		Hands        []string            `json:"hands"`
		Chat         []rooms.ChatMessage `json:"chat"`
		Polls        []pollView          `json:"polls"`
		ResumeToken  string              `json:"resumeToken"`
		Resumed      bool                `json:"resumed"`
		ICEServers   []webrtc.ICEServer  `json:"iceServers"`
		Breakouts    breakoutsMsg        `json:"breakouts"`
		Recording    *rooms.Recording    `json:"recording"` // null: not being recorded

		Settings rooms.RoomSettings  `json:"settings"`
		Lobby    []rooms.Participant `json:"lobby"`   // moderators only; [] for students
		Removed  []rooms.Removal     `json:"removed"` // moderators only; [] for students
	}
	resyncMsg struct {
		Seq          uint64              `json:"seq"`
		Participants []rooms.Participant `json:"participants"`
		Hands        []string            `json:"hands"`
		Chat         []rooms.ChatMessage `json:"chat"`
		Polls        []pollView          `json:"polls"`

		Settings  rooms.RoomSettings  `json:"settings"`
		Lobby     []rooms.Participant `json:"lobby"`
		Removed   []rooms.Removal     `json:"removed"`
		Recording *rooms.Recording    `json:"recording"`
	}
	chatEventMsg struct {
		Seq     uint64            `json:"seq"`
		Message rooms.ChatMessage `json:"message"`
	}
	chatDeletedMsg struct {
		Seq uint64 `json:"seq"`
		ID  string `json:"id"`
		By  string `json:"by"`
	}
	handMsg struct {
		Seq           uint64 `json:"seq"`
		ParticipantID string `json:"participantId"`
		By            string `json:"by,omitempty"`
	}
	serverOfferMsg struct {
		SDP    string                `json:"sdp"`
		Tracks []sfu.SubscribedTrack `json:"tracks"`
	}
	participantJoinedMsg struct {
		Seq         uint64            `json:"seq"`
		Participant rooms.Participant `json:"participant"`
	}
	participantLeftMsg struct {
		Seq           uint64 `json:"seq"`
		ParticipantID string `json:"participantId"`
		Reason        string `json:"reason"`
	}
	trackEventMsg struct {
		Seq           uint64      `json:"seq"`
		ParticipantID string      `json:"participantId"`
		Track         rooms.Track `json:"track"`
	}
	errorMsg struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Ref     string `json:"ref,omitempty"`
	}
	byeMsg struct {
		Reason string `json:"reason"`
	}
)
