package rooms_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// The moderation keys are part of the documented key layout.
func TestRedisModerationKeyLayout(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	s := newRedisStore(t, url, "mod:")
	prof := rooms.Participant{ID: "prof", Identity: "u-prof", Name: "Prof", Role: rooms.RoleInstructor, JoinedAt: time.Now()}
	if _, _, err := s.Join(ctx, "r", prof); err != nil {
		t.Fatal(err)
	}
	on := rooms.LobbyOn
	if err := s.UpdateSettings(ctx, "r", rooms.SettingsChange{Lobby: &on}, "prof"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.Enter(ctx, "r", rooms.Participant{ID: id, Identity: "u-" + id, Name: id, Role: rooms.RoleStudent, JoinedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(s.Remove(ctx, "r", "b", "prof"), s.Admit(ctx, "r", "a", "prof")); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, url)
	if got, err := c.Get(ctx, "mod:room:{r}:settings").Result(); err != nil || !strings.Contains(got, `"lobby":"on"`) {
		t.Errorf("settings = %q, %v", got, err)
	}
	if got, err := c.Get(ctx, "mod:room:{r}:attcount").Result(); err != nil || got != "2" {
		t.Errorf("attcount = %q, %v; want 2 stays (prof, a)", got, err)
	}
	if got, err := c.HGet(ctx, "mod:room:{r}:attopen", "u-a").Result(); err != nil || got != "2" {
		t.Errorf("attopen of u-a = %q, %v", got, err)
	}
	if got, err := c.HGet(ctx, "mod:room:{r}:attendance", "2").Result(); err != nil || !strings.Contains(got, `"identity":"u-a"`) {
		t.Errorf("attendance 2 = %q, %v", got, err)
	}
	ban, err := c.HGet(ctx, "mod:room:{r}:removed", "u-b").Result()
	until, body, _ := strings.Cut(ban, " ")
	n, _ := strconv.ParseInt(until, 10, 64)
	if err != nil || time.Until(time.Unix(n, 0)) < rooms.RemovalTTL-time.Minute || !strings.Contains(body, `"identity":"u-b"`) {
		t.Errorf("removal of u-b = %q, %v", ban, err)
	}
	if n, err := c.LLen(ctx, "mod:room:{r}:lobby").Result(); err != nil || n != 0 {
		t.Errorf("lobby length %d, %v", n, err)
	}
	// An expired removal is ignored, and dropped on the next Enter of that identity.
	if err := c.HSet(ctx, "mod:room:{r}:removed", "u-b", strconv.FormatInt(time.Now().Unix()-1, 10)+" "+body).Err(); err != nil {
		t.Fatal(err)
	}
	if snap, err := s.Snapshot(ctx, "r"); err != nil || len(snap.Removed) != 0 {
		t.Fatalf("expired removal in the snapshot: %+v, %v", snap.Removed, err)
	}
	if _, err := s.Enter(ctx, "r", rooms.Participant{ID: "b2", Identity: "u-b", Name: "b", Role: rooms.RoleStudent, JoinedAt: time.Now()}); err != nil {
		t.Fatalf("enter after the removal expired: %v", err)
	}
	if ok, err := c.HExists(ctx, "mod:room:{r}:removed", "u-b").Result(); err != nil || ok {
		t.Errorf("expired removal still stored (%v, %v)", ok, err)
	}
}
