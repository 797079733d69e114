package recorder

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// cuesReserved is the space kept at the head of each file for the seek index (Cues). A cue is about
// 20 bytes and there is one per cluster (at least every 5 s of audio, every keyframe after 1 s of
// video, at most 32 s apart), so this holds many hours; ebml-go thins the cues out if it does not.
const cuesReserved = 256 << 10

// webmFile is one track written to a WebM file with ebml-go: SeekHead, Cues and Duration are
// filled in on close, so the file is seekable and says how long it is.
type webmFile struct {
	out *errFile
	bw  webm.BlockWriteCloser
}

// createWebM starts a one-track WebM file. Frames must then come with strictly increasing
// timestamps (milliseconds from the file's start): with one track per file no block sorter is
// needed, so none is used (ebml-go's default one silently drops "outdated" blocks).
func createWebM(path string, entry webm.TrackEntry) (*webmFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("recorder: create %s: %w", path, err)
	}
	out := &errFile{f: f}
	entry.TrackNumber, entry.TrackUID = 1, 1
	// A cluster starts at a keyframe at least minCluster after the last one (every Opus frame is a
	// keyframe), or after 32 s: each cluster start is a seek point.
	minCluster := int64(1000)
	if entry.TrackType == trackTypeAudio {
		minCluster = 5000
	}
	ws, err := webm.NewSimpleBlockWriter(out, []webm.TrackEntry{entry},
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "chalk", WritingApp: "chalk recorder"}),
		mkvcore.WithBlockInterceptor(nil),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserved),
		mkvcore.WithMinMaxClusterDuration(1, minCluster, 0x7FFF),
		// I/O errors are kept by errFile; anything else ebml-go reports must not panic the server.
		mkvcore.WithOnFatalHandler(out.fail),
		mkvcore.WithOnErrorHandler(func(error) {}),
	)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("recorder: start WebM %s: %w", path, err)
	}
	return &webmFile{out: out, bw: ws[0]}, nil
}

// write adds one frame at ms milliseconds from the file's start.
func (w *webmFile) write(keyframe bool, ms int64, frame []byte) error {
	if err := w.out.err(); err != nil {
		return err
	}
	// ebml-go hands the slice to its writer goroutine: give it a copy we never touch again.
	if _, err := w.bw.Write(keyframe, ms, append([]byte(nil), frame...)); err != nil {
		return err
	}
	return nil
}

// close writes the Cues and Duration and closes the file; it returns the first error the file had.
func (w *webmFile) close() error {
	_ = w.bw.Close() // returns after ebml-go has finalised and closed the file
	return w.out.err()
}

const (
	trackTypeVideo = 1
	trackTypeAudio = 2
)

func vp8Entry(width, height int) webm.TrackEntry {
	return webm.TrackEntry{
		Name: "video", CodecID: "V_VP8", TrackType: trackTypeVideo,
		Video: &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)},
	}
}

func opusEntry(channels int) webm.TrackEntry {
	return webm.TrackEntry{
		Name: "audio", CodecID: "A_OPUS", TrackType: trackTypeAudio,
		CodecPrivate: opusHead(channels),
		SeekPreRoll:  80000000, // 80 ms, as the Matroska Opus mapping recommends
		Audio:        &webm.Audio{SamplingFrequency: 48000, Channels: uint64(channels)},
	}
}

// opusHead is the identification header Matroska stores as Opus' CodecPrivate (RFC 7845 §5.1).
func opusHead(channels int) []byte {
	h := make([]byte, 19)
	copy(h, "OpusHead")
	h[8] = 1 // version
	h[9] = byte(channels)
	binary.LittleEndian.PutUint16(h[10:], 312)   // pre-skip
	binary.LittleEndian.PutUint32(h[12:], 48000) // input sample rate (informational)
	return h                                     // output gain 0, channel mapping family 0
}

// vp8Keyframe reports whether a VP8 frame is a keyframe and, if so, its size. The frame tag's low
// bit is 0 for a keyframe, which then carries a start code and 14-bit width and height (RFC 6386
// §9.1).
func vp8Keyframe(frame []byte) (key bool, width, height int) {
	if len(frame) < 10 || frame[0]&0x01 != 0 {
		return false, 0, 0
	}
	if frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return false, 0, 0
	}
	width = int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
	height = int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	return true, width, height
}

// errFile keeps the first error of the file under it and swallows later writes: ebml-go's writer
// goroutine would stop reading frames on an error and leave the recorder blocked, so it is never
// shown one. The recorder checks err() after each frame instead.
type errFile struct {
	f *os.File

	mu    sync.Mutex
	first error
}

func (e *errFile) Write(p []byte) (int, error) {
	if e.err() != nil {
		return len(p), nil
	}
	if _, err := e.f.Write(p); err != nil {
		e.fail(err)
	}
	return len(p), nil
}

func (e *errFile) WriteAt(p []byte, off int64) (int, error) {
	if e.err() != nil {
		return len(p), nil
	}
	if _, err := e.f.WriteAt(p, off); err != nil {
		e.fail(err)
	}
	return len(p), nil
}

func (e *errFile) Close() error {
	err := e.f.Sync()
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.fail(err)
	}
	return nil
}

func (e *errFile) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == nil {
		e.first = fmt.Errorf("recorder: write %s: %w", e.f.Name(), err)
	}
}

func (e *errFile) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}
