package lessons

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
)

// The replay of a lesson: what the player shows beside the video, taken from the lesson's
// timeline.json and filtered for the viewer as the live class filtered it — a message to the
// instructors only for them and its sender, a deleted message not at all, a quiz's answers only
// once it was closed. The raw timeline is the moderators' (objects.go).

// replayMsg is the body of GET /api/rooms/{room}/lessons/{id}/replay.
type replayMsg struct {
	Lesson   string          `json:"lesson"`
	Duration float64         `json:"duration"`
	Chat     []replayChat    `json:"chat"`
	Polls    []replayPoll    `json:"polls"`
	Chapters []replayChapter `json:"chapters"`
}

// replayChat is one chat message at its moment.
type replayChat struct {
	ID           string     `json:"id"`
	T            float64    `json:"t"`
	At           time.Time  `json:"at"`
	FromIdentity string     `json:"fromIdentity"`
	FromName     string     `json:"fromName"`
	FromRole     rooms.Role `json:"fromRole"`
	To           string     `json:"to,omitempty"` // "instructors": private
	Text         string     `json:"text"`
}

// replayPoll is a poll of the class: asked at T, closed at ClosedT with its results (counts only).
type replayPoll struct {
	ID        string             `json:"id"`
	T         float64            `json:"t"`
	Question  string             `json:"question"`
	Options   []string           `json:"options"`
	Multiple  bool               `json:"multiple,omitempty"`
	Anonymous bool               `json:"anonymous,omitempty"`
	Quiz      bool               `json:"quiz,omitempty"`
	Correct   []int              `json:"correct,omitempty"` // a quiz's answers, once closed
	Closed    bool               `json:"closed"`
	ClosedT   float64            `json:"closedT,omitempty"`
	Results   *rooms.PollResults `json:"results,omitempty"` // as they were when it closed
}

// replayChapter is a stretch of the lesson: breakout rooms open, or a screen shared.
type replayChapter struct {
	Kind  string  `json:"kind"` // "breakouts" or "screen"
	T     float64 `json:"t"`
	End   float64 `json:"end"`
	Title string  `json:"title"`
}

// maxTimeline bounds the timeline read for a replay (a class of hours with busy chat is a few MB).
const maxTimeline = 32 << 20

// serveReplay serves GET /api/rooms/{room}/lessons/{id}/replay.
func (s *Service) serveReplay(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.PathValue("id")
	g, ok := s.grant(w, r, room)
	if !ok {
		return
	}
	l, ok := s.roomLesson(w, r, room, id)
	if !ok {
		return
	}
	if s.cfg.Objects == nil {
		httpError(w, http.StatusNotFound, "this server serves no lesson files")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	doc, err := s.readTimeline(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		httpError(w, http.StatusNotFound, "this lesson has no timeline yet; try again once it is processed")
		return
	case err != nil:
		s.log.Error("read timeline", "room", room, "lesson", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the lesson storage did not answer; try again")
		return
	}
	out := buildReplay(doc, g)
	out.Lesson = l.ID
	if out.Duration == 0 {
		out.Duration = l.Duration
	}
	writeLibraryJSON(w, http.StatusOK, out)
}

func (s *Service) readTimeline(ctx context.Context, id string) (recorder.TimelineDoc, error) {
	var doc recorder.TimelineDoc
	rc, err := s.cfg.Objects.Get(ctx, recorder.Prefix(id)+"timeline.json")
	if err != nil {
		return doc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxTimeline+1))
	if err != nil {
		return doc, err
	}
	if len(b) > maxTimeline {
		return doc, fmt.Errorf("timeline larger than %d bytes", maxTimeline)
	}
	return doc, json.Unmarshal(b, &doc)
}

// buildReplay turns a timeline into what viewer g may see of it.
func buildReplay(doc recorder.TimelineDoc, g auth.Grant) replayMsg {
	out := replayMsg{Duration: doc.Duration.D().Seconds(), Chat: []replayChat{}, Polls: []replayPoll{}, Chapters: []replayChapter{}}
	deleted := map[string]bool{}
	polls := map[string]*replayPoll{}
	var pollOrder []string
	var breakouts *replayChapter
	screens := map[string]*replayChapter{} // by participant + source
	end := doc.Duration.D().Seconds()
	for _, te := range doc.Events {
		t := te.T.D().Seconds()
		end = max(end, t)
		var ev rooms.Event
		if len(te.Data) > 0 && te.Data[0] == '{' {
			json.Unmarshal(te.Data, &ev) // a recorder event (a track) only fills what it shares
		}
		switch te.Type {
		case string(rooms.EventChatDeleted):
			deleted[ev.ChatID] = true
		case string(rooms.EventChat):
			if m := ev.Chat; m != nil && !m.Deleted && (m.To == rooms.ChatToRoom || g.Role.Moderator() || m.FromIdentity == g.Identity) {
				out.Chat = append(out.Chat, replayChat{ID: m.ID, T: t, At: m.At, FromIdentity: m.FromIdentity,
					FromName: m.FromName, FromRole: m.FromRole, To: m.To, Text: m.Text})
			}
		case string(rooms.EventPollCreated):
			if p := ev.Poll; p != nil && polls[p.ID] == nil {
				polls[p.ID] = &replayPoll{ID: p.ID, T: t, Question: p.Question, Options: p.Options,
					Multiple: p.Multiple, Anonymous: p.Anonymous, Quiz: p.Quiz(), Correct: p.Correct}
				pollOrder = append(pollOrder, p.ID)
			}
		case string(rooms.EventPollClosed):
			rp := polls[ev.PollID]
			if rp == nil && ev.Poll != nil { // asked before the recording started
				rp = &replayPoll{ID: ev.Poll.ID, T: 0, Question: ev.Poll.Question, Options: ev.Poll.Options,
					Multiple: ev.Poll.Multiple, Anonymous: ev.Poll.Anonymous, Quiz: ev.Poll.Quiz()}
				polls[rp.ID] = rp
				pollOrder = append(pollOrder, rp.ID)
			}
			if rp != nil {
				rp.Closed, rp.ClosedT = true, t
				if ev.Poll != nil {
					rp.Correct = ev.Poll.Correct
				}
				if res := ev.PollResults; res != nil {
					rp.Results = &rooms.PollResults{Counts: res.Counts, Voters: res.Voters} // never who voted what
				}
			}
		case string(rooms.EventBreakoutsOpened):
			if breakouts == nil {
				title := "Breakout rooms"
				if ev.Breakouts != nil && len(ev.Breakouts.Rooms) > 0 {
					title = fmt.Sprintf("Breakout rooms (%d)", len(ev.Breakouts.Rooms))
				}
				breakouts = &replayChapter{Kind: "breakouts", T: t, End: -1, Title: title}
			}
		case string(rooms.EventBreakoutsClosed):
			if breakouts != nil {
				breakouts.End = t
				out.Chapters = append(out.Chapters, *breakouts)
				breakouts = nil
			}
		case recorder.EventTrackStarted, recorder.EventTrackEnded:
			var info recorder.TrackInfo
			if json.Unmarshal(te.Data, &info) != nil || info.Source != string(rooms.SourceScreen) {
				continue
			}
			key := info.Participant + "/" + info.Source
			if te.Type == recorder.EventTrackStarted {
				if screens[key] == nil {
					title := "Screen shared"
					if name := strings.TrimSpace(info.Name); name != "" {
						title = name + " shares their screen"
					}
					screens[key] = &replayChapter{Kind: "screen", T: t, End: -1, Title: title}
				}
			} else if c := screens[key]; c != nil {
				c.End = t
				out.Chapters = append(out.Chapters, *c)
				delete(screens, key)
			}
		}
	}
	// Still open when the recording stopped: they run to its end.
	if breakouts != nil {
		breakouts.End = end
		out.Chapters = append(out.Chapters, *breakouts)
	}
	for _, c := range screens {
		c.End = end
		out.Chapters = append(out.Chapters, *c)
	}
	sort.SliceStable(out.Chapters, func(i, j int) bool { return out.Chapters[i].T < out.Chapters[j].T })
	if len(deleted) > 0 {
		kept := out.Chat[:0]
		for _, m := range out.Chat {
			if !deleted[m.ID] {
				kept = append(kept, m)
			}
		}
		out.Chat = kept
	}
	for _, id := range pollOrder {
		p := polls[id]
		if !p.Closed && !g.Role.Moderator() {
			p.Correct = nil
		}
		out.Polls = append(out.Polls, *p)
	}
	return out
}
