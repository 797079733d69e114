package lessons

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
)

// Discussion threads anchored to moments of a lesson. One document per thread, with its replies
// inside: a reply is a read-modify-write of its thread alone, so replies to different threads
// never contend, and one thread's list of replies is always whole. Who has seen what is kept apart
// (one document per viewer) so that reading never writes threads.

// Limits of the threads of one lesson.
const (
	maxPostChars        = 2000
	maxThreadsPerLesson = 1000
	maxRepliesPerThread = 500
)

// Thread is a discussion anchored to a moment (At, seconds) of a lesson.
type Thread struct {
	ID        string     `json:"id"`
	Lesson    string     `json:"lesson"`
	At        float64    `json:"at"`
	Text      string     `json:"text"`
	Author    Person     `json:"author"`
	CreatedAt time.Time  `json:"createdAt"`
	EditedAt  *time.Time `json:"editedAt,omitempty"`
	Pinned    bool       `json:"pinned"`
	Resolved  bool       `json:"resolved"`
	Answered  bool       `json:"answered"` // a moderator replied
	FromChat  bool       `json:"fromChat"`
	ChatID    string     `json:"chatId,omitempty"`
	Replies   []Reply    `json:"replies"`
	Unread    bool       `json:"unread"` // for the reader only; never stored true
}

// Reply is an answer in a thread.
type Reply struct {
	ID           string     `json:"id"`
	Text         string     `json:"text"`
	Author       Person     `json:"author"`
	CreatedAt    time.Time  `json:"createdAt"`
	EditedAt     *time.Time `json:"editedAt,omitempty"`
	ByInstructor bool       `json:"byInstructor"`
	Unread       bool       `json:"unread"`
}

// threadList is the answer of GET …/threads.
type threadList struct {
	Lesson   string     `json:"lesson"`
	Threads  []Thread   `json:"threads"`
	Unread   int        `json:"unread"`
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	Now      time.Time  `json:"now"`
}

// seenDoc is a viewer's last visit of a lesson's threads.
type seenDoc struct {
	LastSeen time.Time `json:"lastSeen"`
}

var errNoThread = notFound("this lesson has no such thread")

// listThreads returns the lesson's threads sorted by moment, marked unread for who.
func (lr *lessonRecords) listThreads(ctx context.Context, who string, now time.Time) (threadList, error) {
	all, err := rooms.ListJSON[Thread](ctx, lr.docs, lr.coll(kindThreads))
	if err != nil {
		return threadList{}, err
	}
	out := threadList{Lesson: lr.lesson.ID, Threads: make([]Thread, 0, len(all)), Now: now}
	seen, err := rooms.GetJSON[seenDoc](ctx, lr.docs, lr.coll(kindSeen), who)
	switch {
	case err == nil:
		out.LastSeen = &seen.LastSeen
	case !errors.Is(err, rooms.ErrNotFound):
		return threadList{}, err
	}
	isNew := func(author Person, at time.Time) bool {
		return author.Identity != who && (out.LastSeen == nil || at.After(*out.LastSeen))
	}
	for _, t := range all {
		t.Unread = isNew(t.Author, t.CreatedAt)
		if t.Unread {
			out.Unread++
		}
		for i := range t.Replies {
			t.Replies[i].Unread = isNew(t.Replies[i].Author, t.Replies[i].CreatedAt)
			if t.Replies[i].Unread {
				out.Unread++
			}
		}
		if t.Replies == nil {
			t.Replies = []Reply{}
		}
		out.Threads = append(out.Threads, t)
	}
	slices.SortFunc(out.Threads, func(a, b Thread) int {
		if a.At != b.At {
			if a.At < b.At {
				return -1
			}
			return 1
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// markSeen moves who's last visit forward to until (zero: now), never past now.
func (lr *lessonRecords) markSeen(ctx context.Context, who string, until, now time.Time) (time.Time, error) {
	if until.IsZero() || until.After(now) {
		until = now
	}
	doc, err := rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindSeen), who, func(d *seenDoc, _ bool) error {
		if until.After(d.LastSeen) {
			d.LastSeen = until.UTC()
		}
		return nil
	})
	return doc.LastSeen, err
}

// postThread starts a thread at a moment of the lesson.
func (lr *lessonRecords) postThread(ctx context.Context, g auth.Grant, at float64, text string, now time.Time) (Thread, error) {
	if err := lr.checkAt(at); err != nil {
		return Thread{}, err
	}
	text, err := checkText("text", text, maxPostChars)
	if err != nil {
		return Thread{}, err
	}
	t := Thread{ID: newID("t-"), Lesson: lr.lesson.ID, At: at, Text: text, Author: personOf(g), CreatedAt: now.UTC(), Replies: []Reply{}}
	return lr.createThread(ctx, t)
}

// createThread stores a new thread; the lesson's thread count is checked first (a bound against
// floods, not an exact quota: two posts at once may both pass it).
func (lr *lessonRecords) createThread(ctx context.Context, t Thread) (Thread, error) {
	all, err := lr.docs.ListDocs(ctx, lr.coll(kindThreads))
	if err != nil {
		return Thread{}, err
	}
	if len(all) >= maxThreadsPerLesson {
		return Thread{}, conflict(fmt.Sprintf("this lesson has %d threads, the most it keeps; reply to one instead", len(all)))
	}
	return rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindThreads), t.ID, func(v *Thread, exists bool) error {
		if exists {
			if t.FromChat {
				return conflict("this chat message is a thread already")
			}
			return conflict("a thread with this id exists; try again")
		}
		*v = t
		return nil
	})
}

// updateThread changes an existing thread with fn.
func (lr *lessonRecords) updateThread(ctx context.Context, id string, fn func(t *Thread) error) (Thread, error) {
	t, err := rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindThreads), id, func(t *Thread, exists bool) error {
		if !exists {
			return errNoThread
		}
		if err := fn(t); err != nil {
			return err
		}
		t.Answered = slices.ContainsFunc(t.Replies, func(r Reply) bool { return r.ByInstructor })
		return nil
	})
	if t.Replies == nil {
		t.Replies = []Reply{}
	}
	return t, err
}

// editThread changes a thread's text (and moment, if at is set); its author only.
func (lr *lessonRecords) editThread(ctx context.Context, g auth.Grant, id, text string, at *float64, now time.Time) (Thread, error) {
	text, err := checkText("text", text, maxPostChars)
	if err != nil {
		return Thread{}, err
	}
	if at != nil {
		if err := lr.checkAt(*at); err != nil {
			return Thread{}, err
		}
	}
	return lr.updateThread(ctx, id, func(t *Thread) error {
		if t.Author.Identity != g.Identity {
			return forbidden("only the author of a thread can edit it")
		}
		t.Text = text
		if at != nil {
			t.At = *at
		}
		edited := now.UTC()
		t.EditedAt = &edited
		return nil
	})
}

// deleteThread deletes a thread and its replies: its author, or a moderator.
func (lr *lessonRecords) deleteThread(ctx context.Context, g auth.Grant, id string) error {
	_, err := rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindThreads), id, func(t *Thread, exists bool) error {
		if !exists {
			return errNoThread
		}
		if t.Author.Identity != g.Identity && !g.Role.Moderator() {
			return forbidden("only the author of a thread or an instructor can delete it")
		}
		return rooms.ErrDeleteDoc
	})
	return err
}

// moderate sets a thread's pinned or resolved flag; the caller checked the role.
func (lr *lessonRecords) moderate(ctx context.Context, id, action string) (Thread, error) {
	return lr.updateThread(ctx, id, func(t *Thread) error {
		switch action {
		case "pin":
			t.Pinned = true
		case "unpin":
			t.Pinned = false
		case "resolve":
			t.Resolved = true
		case "reopen":
			t.Resolved = false
		default:
			return notFound("no such thread action: one of pin, unpin, resolve, reopen")
		}
		return nil
	})
}

// reply adds a reply to a thread. A moderator's reply is the instructor's answer.
func (lr *lessonRecords) reply(ctx context.Context, g auth.Grant, threadID, text string, now time.Time) (Reply, error) {
	text, err := checkText("text", text, maxPostChars)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{ID: newID("r-"), Text: text, Author: personOf(g), CreatedAt: now.UTC(), ByInstructor: g.Role.Moderator()}
	_, err = lr.updateThread(ctx, threadID, func(t *Thread) error {
		if len(t.Replies) >= maxRepliesPerThread {
			return conflict(fmt.Sprintf("this thread has %d replies, the most it keeps; start a new thread", len(t.Replies)))
		}
		t.Replies = append(t.Replies, r)
		return nil
	})
	return r, err
}

// editReply changes a reply's text: its author only.
func (lr *lessonRecords) editReply(ctx context.Context, g auth.Grant, threadID, replyID, text string, now time.Time) (Reply, error) {
	text, err := checkText("text", text, maxPostChars)
	if err != nil {
		return Reply{}, err
	}
	var out Reply
	_, err = lr.updateThread(ctx, threadID, func(t *Thread) error {
		i := slices.IndexFunc(t.Replies, func(r Reply) bool { return r.ID == replyID })
		if i < 0 {
			return notFound("this thread has no such reply")
		}
		if t.Replies[i].Author.Identity != g.Identity {
			return forbidden("only the author of a reply can edit it")
		}
		edited := now.UTC()
		t.Replies[i].Text, t.Replies[i].EditedAt = text, &edited
		out = t.Replies[i]
		return nil
	})
	return out, err
}

// deleteReply removes a reply: its author, or a moderator.
func (lr *lessonRecords) deleteReply(ctx context.Context, g auth.Grant, threadID, replyID string) error {
	_, err := lr.updateThread(ctx, threadID, func(t *Thread) error {
		i := slices.IndexFunc(t.Replies, func(r Reply) bool { return r.ID == replyID })
		if i < 0 {
			return notFound("this thread has no such reply")
		}
		if t.Replies[i].Author.Identity != g.Identity && !g.Role.Moderator() {
			return forbidden("only the author of a reply or an instructor can delete it")
		}
		t.Replies = slices.Delete(t.Replies, i, i+1)
		return nil
	})
	return err
}

// chatThreadID is the thread a chat message becomes: derived from the message's id, so that
// promoting it twice, from any node, is the same document.
func chatThreadID(chatID string) string {
	sum := sha256.Sum256([]byte(chatID))
	return "chat-" + hex.EncodeToString(sum[:12])
}

// promoteChat makes a thread of the live chat message chatID, as the lesson's timeline (read by
// timeline) recorded it.
func (lr *lessonRecords) promoteChat(ctx context.Context, timeline func(context.Context, string) (recorder.TimelineDoc, error), chatID string, now time.Time) (Thread, error) {
	if chatID == "" || len(chatID) > 256 {
		return Thread{}, badRequest("chatId must name a chat message of the lesson's timeline")
	}
	if err := lr.needDuration(); err != nil {
		return Thread{}, err
	}
	doc, err := timeline(ctx, lr.lesson.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return Thread{}, notFound("this lesson has no timeline yet; try again when it is processed")
	}
	if err != nil {
		return Thread{}, fmt.Errorf("read the timeline of %s: %w", lr.lesson.ID, err)
	}
	msg, t, err := findChat(doc, chatID)
	if err != nil {
		return Thread{}, err
	}
	if msg.To != rooms.ChatToRoom {
		return Thread{}, badRequest("this chat message was private to the instructors; a thread would make it public")
	}
	text, err := checkText("the chat message", msg.Text, maxPostChars)
	if err != nil {
		return Thread{}, err
	}
	th := Thread{
		ID: chatThreadID(chatID), Lesson: lr.lesson.ID, At: min(max(t, 0), lr.lesson.Duration), Text: text,
		Author:    Person{Identity: msg.FromIdentity, Name: msg.FromName, Role: msg.FromRole},
		CreatedAt: now.UTC(), FromChat: true, ChatID: chatID, Replies: []Reply{},
	}
	return lr.createThread(ctx, th)
}

// findChat returns the chat message chatID of a lesson's timeline and its moment. A message
// deleted during the class (a later chat_deleted) is refused.
func findChat(doc recorder.TimelineDoc, chatID string) (*rooms.ChatMessage, float64, error) {
	var found *rooms.ChatMessage
	var at float64
	for _, te := range doc.Events {
		if te.Type != string(rooms.EventChat) && te.Type != string(rooms.EventChatDeleted) {
			continue
		}
		var ev rooms.Event
		if json.Unmarshal(te.Data, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == rooms.EventChat && ev.Chat != nil && ev.Chat.ID == chatID:
			found, at = ev.Chat, te.T.D().Seconds()
		case ev.Type == rooms.EventChatDeleted && ev.ChatID == chatID && found != nil:
			found.Deleted = true
		}
	}
	switch {
	case found == nil:
		return nil, 0, notFound("the lesson's timeline has no chat message with this id")
	case found.Deleted:
		return nil, 0, badRequest("this chat message was deleted by an instructor")
	}
	return found, at, nil
}
