package signaling

// handRestoredMsg: a hand came back to its owner's new session at its old place (rooms/hands.go).
// The whole queue comes with it, so a client need not know where the place was.
type handRestoredMsg struct {
	Seq           uint64   `json:"seq"`
	ParticipantID string   `json:"participantId"`
	Hands         []string `json:"hands"`
}
