package signaling

import (
	"errors"
	"testing"

	"github.com/chalk-edu/chalk/rooms"
)

func TestDecodeVideoQuality(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"camera tile", `{"participantId":"p1","trackId":"camera","width":640,"height":360}`, true},
		{"screen", `{"participantId":"p1","trackId":"screen","width":1920,"height":1080}`, true},
		{"not shown", `{"participantId":"p1","trackId":"camera","width":0,"height":0}`, true},
		{"microphone", `{"participantId":"p1","trackId":"microphone","width":640,"height":360}`, false},
		{"negative", `{"participantId":"p1","trackId":"camera","width":-1,"height":360}`, false},
		{"huge", `{"participantId":"p1","trackId":"camera","width":100000,"height":360}`, false},
		{"half zero", `{"participantId":"p1","trackId":"camera","width":0,"height":360}`, false},
		{"bad participant", `{"participantId":"<x>","trackId":"camera","width":1,"height":1}`, false},
		{"float", `{"participantId":"p1","trackId":"camera","width":1.5,"height":1}`, false},
		{"extra field", `{"participantId":"p1","trackId":"camera","width":1,"height":1,"layer":2}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeClient([]byte(`{"v":1,"type":"set_video_quality","data":` + tc.data + `}`))
			if tc.ok {
				if err != nil || m.Type != "set_video_quality" {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != CodeBadMessage {
				t.Fatalf("error = %v, want bad_message", err)
			}
		})
	}
}

func TestLastNOff(t *testing.T) {
	var v mediaView
	v.init()
	v.roster["teacher"] = rosterEntry{role: rooms.RoleInstructor, camera: true}
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		v.roster[id] = rosterEntry{role: rooms.RoleStudent, camera: true}
	}
	v.recent = []string{"s3", "s1", "teacher"}
	for _, tc := range []struct {
		name     string
		id       string
		student  bool
		n, above int
		off      bool
	}{
		{"small room: everyone's camera", "s4", true, 2, 10, false},
		{"large room: a recent speaker", "s3", true, 2, 3, false},
		{"large room: the second most recent speaker", "s1", true, 2, 3, false},
		{"large room: a silent student is held back", "s4", true, 2, 3, true},
		{"large room: beyond the last N", "s1", true, 1, 3, true},
		{"large room: the instructor always", "teacher", true, 1, 3, false},
		{"instructors receive everyone", "s4", false, 2, 3, false},
		{"rule off", "s4", true, 0, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastNOff(&v, tc.id, tc.student, tc.n, tc.above); got != tc.off {
				t.Fatalf("lastNOff = %v, want %v", got, tc.off)
			}
		})
	}
}

func TestMediaViewFollowsEvents(t *testing.T) {
	var v mediaView
	v.fromSnapshot(rooms.Snapshot{Participants: []rooms.Participant{
		{ID: "a", Role: rooms.RoleStudent, Tracks: []rooms.Track{{ID: "camera", Source: rooms.SourceCamera}}},
		{ID: "b", Role: rooms.RoleStudent},
	}})
	if v.cameras() != 1 {
		t.Fatalf("cameras = %d, want 1", v.cameras())
	}
	v.note(rooms.Event{Type: rooms.EventTrackPublished, ParticipantID: "b", Track: &rooms.Track{ID: "camera", Source: rooms.SourceCamera}})
	v.note(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &rooms.Participant{ID: "c", Role: rooms.RoleInstructor,
		Tracks: []rooms.Track{{ID: "camera", Source: rooms.SourceCamera}}}})
	if v.cameras() != 3 {
		t.Fatalf("cameras = %d, want 3", v.cameras())
	}
	v.note(rooms.Event{Type: rooms.EventTrackUnpublished, ParticipantID: "a", Track: &rooms.Track{ID: "camera", Source: rooms.SourceCamera}})
	v.note(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "c"})
	if v.cameras() != 1 || v.roster["b"].role != rooms.RoleStudent {
		t.Fatalf("cameras = %d, roster %v", v.cameras(), v.roster)
	}
}
