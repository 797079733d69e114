package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/rooms"
)

// checkLessonAPI checks what a student of room sees of a recorded lesson through the HTTP API: the
// lesson in the list, ready, and its video, whole and by Range as a player seeks, byte for byte the
// stored lesson.mp4. A token for another room sees neither.
func checkLessonAPI(t *testing.T, srv *server, room, lesson string) {
	t.Helper()
	mint := func(room string) string {
		tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: "student-" + room, Name: "S", Role: rooms.RoleStudent}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	student, other := mint(room), mint("other-"+room)
	base := "http://" + srv.ln.Addr().String() + "/api/rooms/" + room + "/lessons"
	get := func(url, token, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	resp, body := get(base, student, "")
	var list struct {
		Lessons []rooms.Lesson `json:"lessons"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list.Lessons) != 1 ||
		list.Lessons[0].ID != lesson || list.Lessons[0].Status != "ready" || !list.Lessons[0].Video {
		t.Fatalf("lesson list: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(base, other, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("lesson list with another room's token: %d, want 403", resp.StatusCode)
	}

	want, err := os.ReadFile(filepath.Join(srv.cfg.Storage, "lessons", recorder.Prefix(lesson), "lesson.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	video := base + "/" + lesson + "/video"
	resp, body = get(video, student, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || !bytes.Equal(body, want) {
		t.Fatalf("video: %d %s, %d bytes of %d", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(want))
	}
	from, to := len(want)/2, len(want)/2+9999
	resp, body = get(video, student, fmt.Sprintf("bytes=%d-%d", from, to))
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[from:to+1]) {
		t.Fatalf("video range %d-%d: %d, %d bytes, Content-Range %q", from, to, resp.StatusCode, len(body), resp.Header.Get("Content-Range"))
	}
	if resp, _ := get(video, other, "bytes=0-99"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("video with another room's token: %d, want 403", resp.StatusCode)
	}
}
