package signaling

import "sync"

// mailbox is an unbounded FIFO of functions run by one goroutine. Pion callbacks, room events and
// client messages all post here, so a session's state is only ever touched by its own loop and
// posting never blocks the poster (a Pion goroutine or the room's event feed).
//
// A served mailbox (serve) runs its functions itself, on a goroutine that exists only while work is
// queued: a lecture's idle sessions then hold no parked goroutine each (a stack of several KiB,
// which also raises the garbage collector's heap goal).
type mailbox struct {
	mu     sync.Mutex
	queue  []func()
	signal chan struct{}

	exec    func(func()) bool // served: runs one function, false when the mailbox must stop
	stop    func()            // served: called once when it stops
	running bool              // served: a drain goroutine is running
	stopped bool              // served: exec said stop; later posts are dropped
}

func newMailbox() *mailbox { return &mailbox{signal: make(chan struct{}, 1)} }

func (m *mailbox) post(f func()) {
	m.mu.Lock()
	if m.exec != nil {
		if !m.stopped {
			m.queue = append(m.queue, f)
		}
		m.startLocked()
		m.mu.Unlock()
		return
	}
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

// serve runs the queued functions, one at a time and in order, through exec, which reports whether
// to go on; when it says stop, stop is called and whatever is queued or posted later is dropped.
func (m *mailbox) serve(exec func(func()) bool, stop func()) {
	m.mu.Lock()
	m.exec, m.stop = exec, stop
	m.startLocked()
	m.mu.Unlock()
}

func (m *mailbox) startLocked() {
	if m.running || m.stopped || len(m.queue) == 0 {
		return
	}
	m.running = true
	go m.drain()
}

// drain runs what is queued and returns when the queue is empty.
func (m *mailbox) drain() {
	for {
		m.mu.Lock()
		q := m.queue
		m.queue = nil
		if len(q) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		for _, f := range q {
			if !m.exec(f) {
				m.mu.Lock()
				m.stopped, m.running, m.queue = true, false, nil
				m.mu.Unlock()
				m.stop()
				return
			}
		}
	}
}
