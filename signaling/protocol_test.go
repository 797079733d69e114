package signaling

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeClient(t *testing.T) {
	sdp := `"v=0\r\n"`
	tests := []struct {
		name, frame string
		wantType    string // on success
		wantCode    string // on failure
	}{
		{"join", `{"v":1,"type":"join","data":{"room":"math-101","name":" Ada "}}`, "join", ""},
		{"join with token only", `{"v":1,"type":"join","data":{"room":"math","token":"x.y.z"}}`, "join", ""},
		{"resume", `{"v":1,"type":"join","data":{"resume":"abcdef"}}`, "join", ""},
		{"ping without data", `{"v":1,"type":"ping"}`, "ping", ""},
		{"leave null data", `{"v":1,"type":"leave","data":null}`, "leave", ""},
		{"offer", `{"v":1,"type":"offer","data":{"sdp":` + sdp + `,"tracks":[{"mid":"0","source":"microphone"},{"mid":"1","source":"camera"}]}}`, "offer", ""},
		{"mute", `{"v":1,"type":"mute","data":{"source":"camera","muted":true}}`, "mute", ""},
		{"candidate", `{"v":1,"type":"candidate","data":{"pc":"publish","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}}`, "candidate", ""},

		{"not json", `hello`, "", CodeBadMessage},
		{"truncated", `{"v":1,"type":"join"`, "", CodeBadMessage},
		{"array", `[1,2]`, "", CodeBadMessage},
		{"trailing data", `{"v":1,"type":"ping"} {}`, "", CodeBadMessage},
		{"unknown envelope field", `{"v":1,"type":"ping","x":1}`, "", CodeBadMessage},
		{"no version", `{"type":"ping"}`, "", CodeUnsupportedVersion},
		{"version 2", `{"v":2,"type":"ping"}`, "", CodeUnsupportedVersion},
		{"no type", `{"v":1}`, "", CodeBadMessage},
		{"unknown type", `{"v":1,"type":"launch_rockets"}`, "", CodeUnknownType},
		{"unknown data field", `{"v":1,"type":"join","data":{"room":"a","name":"b","admin":true}}`, "", CodeBadMessage},
		{"wrong field type", `{"v":1,"type":"join","data":{"room":5,"name":"b"}}`, "", CodeBadMessage},
		{"bad room", `{"v":1,"type":"join","data":{"room":"../etc","name":"b"}}`, "", CodeBadMessage},
		{"long room", `{"v":1,"type":"join","data":{"room":"` + strings.Repeat("a", 65) + `","name":"b"}}`, "", CodeBadMessage},
		{"empty name", `{"v":1,"type":"join","data":{"room":"a","name":"   "}}`, "", CodeBadMessage},
		{"long name", `{"v":1,"type":"join","data":{"room":"a","name":"` + strings.Repeat("é", 65) + `"}}`, "", CodeBadMessage},
		{"bad identity", `{"v":1,"type":"join","data":{"room":"a","name":"b","identity":"<script>"}}`, "", CodeBadMessage},
		{"offer without sdp", `{"v":1,"type":"offer","data":{"tracks":[{"mid":"0","source":"camera"}]}}`, "", CodeBadMessage},
		{"offer without tracks", `{"v":1,"type":"offer","data":{"sdp":` + sdp + `}}`, "", CodeBadMessage},
		{"offer repeated source", `{"v":1,"type":"offer","data":{"sdp":` + sdp + `,"tracks":[{"mid":"0","source":"camera"},{"mid":"1","source":"camera"}]}}`, "", CodeBadMessage},
		{"offer unknown source", `{"v":1,"type":"offer","data":{"sdp":` + sdp + `,"tracks":[{"mid":"0","source":"hologram"}]}}`, "", CodeBadMessage},
		{"offer huge sdp", `{"v":1,"type":"offer","data":{"sdp":"` + strings.Repeat("a", MaxSDPBytes+1) + `","tracks":[{"mid":"0","source":"camera"}]}}`, "", CodeBadMessage},
		{"candidate bad pc", `{"v":1,"type":"candidate","data":{"pc":"both","candidate":{"candidate":""}}}`, "", CodeBadMessage},
		{"mute screen", `{"v":1,"type":"mute","data":{"source":"screen","muted":true}}`, "", CodeBadMessage},
		{"publish unknown", `{"v":1,"type":"publish","data":{"source":"smell"}}`, "", CodeBadMessage},
		{"ping with data", `{"v":1,"type":"ping","data":{"x":1}}`, "", CodeBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeClient([]byte(tt.frame))
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("decodeClient() error = %v", err)
				}
				if m.Type != tt.wantType {
					t.Fatalf("type = %q, want %q", m.Type, tt.wantType)
				}
				return
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("decodeClient() error = %v, want a ProtocolError %s", err, tt.wantCode)
			}
			if pe.Code != tt.wantCode {
				t.Fatalf("code = %s (%s), want %s", pe.Code, pe.Message, tt.wantCode)
			}
			if pe.Message == "" {
				t.Fatal("error has no message for the user")
			}
		})
	}
}

func TestDecodeClientTrimsName(t *testing.T) {
	m, err := decodeClient([]byte(`{"v":1,"type":"join","data":{"room":"a","name":"  Ada Lovelace \t"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Body.(*joinMsg).Name; got != "Ada Lovelace" {
		t.Fatalf("name = %q", got)
	}
}

// FuzzDecodeClient: no input may panic the decoder, and every rejection is a typed ProtocolError.
// Seeds live in testdata/fuzz/FuzzDecodeClient; run `go test -fuzz FuzzDecodeClient ./signaling/`.
func FuzzDecodeClient(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"join","data":{"room":"r","name":"n"}}`))
	f.Add([]byte(`{"v":1,"type":"offer","data":{"sdp":"v=0","tracks":[{"mid":"0","source":"camera"}]}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := decodeClient(frame)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if m.Body == nil || m.Type == "" {
			t.Fatalf("accepted %q without a body", frame)
		}
	})
}
