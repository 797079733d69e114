package rooms

import "context"

// LibraryStore is embedded in Store: what the lesson library changes in the lesson records besides
// the recorder's UpdateLesson. A lesson's title, description and hidden flag are course records
// (package lessons, over Docs); the record itself is classroom state, so deleting it is here.
type LibraryStore interface {
	// DeleteLesson removes one of the room's lessons from its list. ErrNotFound if the room has no
	// lesson with that id. It publishes no event: the library is read over HTTP, and the live
	// room has nothing to redraw.
	DeleteLesson(ctx context.Context, room, id string) error
}
