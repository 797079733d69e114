package rooms

import "time"

// Raised hands that outlive a session. A participant's hand is keyed by its participant id, which is
// new on every fresh join; without this, a hand would be lost whenever its owner came back as a new
// session. So a hand follows the identity:
//
//   - A join that replaces a session of the same identity moves that session's hand, in place, to
//     the new participant id (EventHandRestored after the joined event).
//   - A participant removed because it was lost rather than because it left (its node died, it
//     fell silent past the resume window, or its room moved to another node) leaves its hand held for its identity for the store's hand
//     hold (DefaultHandHold). A join of that identity within it gets the hand back at its old place
//     in the queue (EventHandRestored); after it the hand is dropped. A held hand is not listed in
//     Snapshot.Hands and holds its place only.
//   - Leaving (ReasonLeft), being moved, removed or denied still lowers the hand with the left event.

// ReasonNodeFailed is the participant_left reason for participants of a node that died.
const ReasonNodeFailed = "node_failed"

// ReasonRelocated: the participant's room moved to another node (a drain, or placement after a
// failure) and the client was sent there to join again. Unlike ReasonMoved (another room of the
// class), it comes back to the same room, so its hand is held.
const ReasonRelocated = "relocated"

// EventHandRestored: a hand came back to its owner's new session at its old place in the queue.
// ParticipantID is the new session's id; Hands is the whole queue after the change.
const EventHandRestored EventType = "hand_restored"

// DefaultHandHold is how long a lost participant's raised hand waits for its owner to come back.
const DefaultHandHold = 2 * time.Minute

// HandHolder sets how long a store holds a lost participant's raised hand; both stores implement it.
// d <= 0 holds nothing (a replacing join still moves the hand). Set it before the store is used.
type HandHolder interface {
	SetHandHold(d time.Duration)
}

// holdsHand reports whether a participant removed for reason keeps its hand held: only when the
// session was lost, not when its owner left or was sent away.
func holdsHand(reason string) bool {
	return reason == ReasonNodeFailed || reason == ReasonTimeout || reason == ReasonRelocated
}
