package signaling

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// outQueueLen bounds what may wait for a slow client; past it the client is disconnected (it can
// resume) rather than letting one slow socket hold memory or stall its room.
const outQueueLen = 512

const writeTimeout = 10 * time.Second

// wsConn is one WebSocket. Reads happen on the HTTP handler's goroutine; writes on a goroutine of
// their own fed by a bounded queue, so a session never blocks on the network. The queue is a slice
// that grows with what waits, not a channel of outQueueLen frames: that was 28 KiB per participant
// held for the whole session, while a client that reads keeps almost nothing queued.
type wsConn struct {
	c        *websocket.Conn
	mu       sync.Mutex
	queue    []outFrame    // under mu
	pending  int           // under mu: queued plus being written; bounded by outQueueLen
	wake     chan struct{} // one token: the queue has frames
	lastSeen atomic.Int64  // unix nanos of the last frame or pong from the client
	done     chan struct{}
	doneOnce sync.Once
	flushed  chan struct{} // closed when the write loop exits
}

type outFrame struct {
	data   []byte
	close  bool
	status websocket.StatusCode
	reason string
}

func newWSConn(c *websocket.Conn) *wsConn {
	w := &wsConn{c: c, wake: make(chan struct{}, 1), done: make(chan struct{}), flushed: make(chan struct{})}
	w.touch()
	return w
}

func (w *wsConn) touch() { w.lastSeen.Store(time.Now().UnixNano()) }

func (w *wsConn) seen() time.Time { return time.Unix(0, w.lastSeen.Load()) }

// send queues a frame; a full queue means the client is not reading, and the connection is dropped.
func (w *wsConn) send(frame []byte) { w.enqueue(outFrame{data: frame}) }

// closeAfter queues a close: frames queued before it are written first.
func (w *wsConn) closeAfter(status websocket.StatusCode, reason string) {
	w.enqueue(outFrame{close: true, status: status, reason: reason})
}

func (w *wsConn) enqueue(f outFrame) {
	select {
	case <-w.done:
		return
	default:
	}
	w.mu.Lock()
	if w.pending >= outQueueLen {
		w.mu.Unlock()
		w.abort()
		return
	}
	w.queue = append(w.queue, f)
	w.pending++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a token is already waiting
	}
}

// take returns what is queued and leaves the queue empty.
func (w *wsConn) take() []outFrame {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}

func (w *wsConn) written() {
	w.mu.Lock()
	w.pending--
	w.mu.Unlock()
}

func (w *wsConn) abort() {
	w.doneOnce.Do(func() { close(w.done) })
	w.c.CloseNow()
}

func (w *wsConn) writeLoop() {
	defer close(w.flushed)
	for {
		select {
		case <-w.done:
			return
		case <-w.wake:
			for _, f := range w.take() {
				if f.close {
					w.c.Close(f.status, f.reason)
					w.abort()
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
				err := w.c.Write(ctx, websocket.MessageText, f.data)
				cancel()
				if err != nil {
					w.abort()
					return
				}
				w.written()
			}
		}
	}
}

// finish lets a queued close (an error, then the close frame) reach the client, for at most
// writeTimeout, then drops the connection.
func (w *wsConn) finish() {
	select {
	case <-w.flushed:
	case <-w.done:
	case <-time.After(writeTimeout):
	}
	w.abort()
}

// pingLoop pings every interval; pongs count as signs of life (browsers answer pings by themselves).
func (w *wsConn) pingLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			if err := w.c.Ping(ctx); err == nil {
				w.touch()
			}
			cancel()
		}
	}
}

var errTooLarge = errors.New("frame too large")

// read returns the next data frame, reading at most MaxFrameBytes+1 bytes of it.
func (w *wsConn) read(ctx context.Context) (websocket.MessageType, []byte, error) {
	typ, r, err := w.c.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, MaxFrameBytes+1)); err != nil {
		return 0, nil, err
	}
	if buf.Len() > MaxFrameBytes {
		return typ, nil, errTooLarge
	}
	w.touch()
	return typ, buf.Bytes(), nil
}
