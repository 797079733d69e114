package signaling

import "sync"

// mailbox is an unbounded FIFO of functions run by one goroutine. Pion callbacks, room events and
// client messages all post here, so a session's state is only ever touched by its own loop and
// posting never blocks the poster (a Pion goroutine or the room's event feed).
type mailbox struct {
	mu     sync.Mutex
	queue  []func()
	signal chan struct{}
}

func newMailbox() *mailbox { return &mailbox{signal: make(chan struct{}, 1)} }

func (m *mailbox) post(f func()) {
	m.mu.Lock()
	m.queue = append(m.queue, f)
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() []func() {
	m.mu.Lock()
	q := m.queue
	m.queue = nil
	m.mu.Unlock()
	return q
}
