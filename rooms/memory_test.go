package rooms_test

import (
	"context"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rooms.Store {
		s := rooms.NewMemoryStore()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func BenchmarkMemoryStoreJoinLeave(b *testing.B) {
	s := rooms.NewMemoryStore()
	defer s.Close()
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, "r")
	if err != nil {
		b.Fatal(err)
	}
	go func() { // a consumer that keeps up, as a signaling hub would
		for range sub.C {
		}
	}()
	p := rooms.Participant{ID: "p", Identity: "u", Name: "U", Role: rooms.RoleStudent, JoinedAt: time.Now()}
	for b.Loop() {
		if _, _, err := s.Join(ctx, "r", p); err != nil {
			b.Fatal(err)
		}
		if err := s.Leave(ctx, "r", "p", rooms.ReasonLeft); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMemoryDocs(t *testing.T) {
	storetest.RunDocs(t, func(t *testing.T) rooms.Docs { return rooms.NewMemoryDocs() })
}

// The embedded store with its course records on disk passes the same suite.
func TestDurableMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rooms.Store {
		d := openDisk(t, t.TempDir())
		s, err := rooms.NewDurableMemoryStore(t.Context(), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
