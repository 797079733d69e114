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
// their own fed by a bounded queue, so a session never blocks on the network. The writer and the
// pings run only while they have work (a writer per burst of frames, a timer between pings): an
// idle participant of a lecture holds no goroutine for them, and each parked goroutine is a stack
// of several KiB that also raises the garbage collector's heap goal. The queue is a slice
// that grows with what waits, not a channel of outQueueLen frames: that was 28 KiB per participant
// held for the whole session, while a client that reads keeps almost nothing queued.
type wsConn struct {
	c        *websocket.Conn
	mu       sync.Mutex
	queue    []outFrame   // under mu
	pending  int          // under mu: queued plus being written; bounded by outQueueLen
	writing  bool         // under mu: a writeLoop goroutine is running (or has stopped for good)
	lastSeen atomic.Int64 // unix nanos of the last frame or pong from the client
	done     chan struct{}
	doneOnce sync.Once
	flushed  chan struct{} // closed when the write loop stops for good (close written, write failed)
	flushOne sync.Once
}

type outFrame struct {
	data   []byte
	close  bool
	status websocket.StatusCode
	reason string
}

func newWSConn(c *websocket.Conn) *wsConn {
	w := &wsConn{c: c, done: make(chan struct{}), flushed: make(chan struct{})}
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
	start := !w.writing
	w.writing = true
	w.mu.Unlock()
	if start {
		go w.writeLoop()
	}
}

// take returns what is queued and leaves the queue empty; with nothing queued it marks the writer
// stopped, so that the next frame starts one.
func (w *wsConn) take() []outFrame {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	if len(q) == 0 {
		w.writing = false
	}
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

// writeLoop writes what is queued, in order, and returns when the queue is empty. After a close
// frame or a failed write it stops for good (writing stays set, so no writer starts again).
func (w *wsConn) writeLoop() {
	for {
		q := w.take()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			select {
			case <-w.done:
				w.stopped()
				return
			default:
			}
			if f.close {
				w.c.Close(f.status, f.reason)
				w.abort()
				w.stopped()
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := w.c.Write(ctx, websocket.MessageText, f.data)
			cancel()
			if err != nil {
				w.abort()
				w.stopped()
				return
			}
			w.written()
		}
	}
}

func (w *wsConn) stopped() { w.flushOne.Do(func() { close(w.flushed) }) }

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

// startPings pings every interval, from a timer rather than a goroutine of its own; pongs count as
// signs of life (browsers answer pings by themselves).
func (w *wsConn) startPings(interval time.Duration) {
	var ping func()
	ping = func() {
		select {
		case <-w.done:
			return
		default:
		}
		// The next ping is due an interval after this one starts, not after its pong: a ping that
		// waits out its timeout must not double the gap, or one late pong ends a live session.
		time.AfterFunc(interval, ping)
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		if err := w.c.Ping(ctx); err == nil {
			w.touch()
		}
		cancel()
	}
	time.AfterFunc(interval, ping)
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
