package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// inZone makes the browser's clock read in zone, as a viewer there would see it.
func inZone(zone string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	})
}

// TestBrowserSchedule: an instructor in New York plans a session on the schedule page; a student in
// Tokyo sees it at her own local time, with the zone it was planned in, its title as text (never
// markup), a live session with its Join and recording links, and the instructor's cancellation.
func TestBrowserSchedule(t *testing.T) {
	srv := startTestServer(t, nil)
	const room = "sched"
	mint := func(identity string, role rooms.Role) string {
		tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: identity, Role: role}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	profTok, adaTok := mint("prof", rooms.RoleInstructor), mint("ada", rooms.RoleStudent)
	page := func(tok string) string { return srv.URL() + "/r/" + room + "/schedule?token=" + url.QueryEscape(tok) }

	prof := newBrowser(t, 1280, 900)
	if err := prof.do(20*time.Second, inZone("America/New_York"), chromedp.Navigate(page(profTok))); err != nil {
		t.Fatal(err)
	}
	prof.waitFor("the instructor's form", `!document.getElementById('editor').hidden`, 10*time.Second)
	// 9:00 on 10 March 2027 in New York is still standard time (DST starts on the 14th): 14:00 UTC.
	prof.js("fill the form", `(() => {
	  document.getElementById('f-title').value = `+"`"+xss+"`"+`;
	  document.getElementById('f-start').value = '2027-03-10T09:00';
	  document.getElementById('f-duration').value = '60';
	  document.getElementById('f-desc').value = 'Line one\nLine <b>two</b>';
	})()`)
	prof.click("Add to the schedule", "#f-save")
	prof.waitFor("the planned session", `document.querySelectorAll('#upcoming li.session').length === 1`, 10*time.Second)

	var list struct {
		Sessions []struct {
			ID, Title, TimeZone string
			Start               time.Time
		}
	}
	req, _ := http.NewRequest("GET", srv.URL()+"/api/rooms/"+room+"/schedule", nil)
	req.Header.Set("Authorization", "Bearer "+adaTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Sessions) != 1 || list.Sessions[0].Start.Format(time.RFC3339) != "2027-03-10T14:00:00Z" ||
		list.Sessions[0].TimeZone != "America/New_York" || list.Sessions[0].Title != xss {
		t.Fatalf("the API has %+v; want one session at 2027-03-10T14:00:00Z planned in America/New_York", list.Sessions)
	}

	// A live session that was recorded: the student gets Join and the recording.
	ctx := context.Background()
	if err := srv.store.UpdateLesson(ctx, room, rooms.Lesson{ID: "sched-lesson-1", Room: room, Status: "ready", StartedAt: time.Now().Add(-5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	body := `{"title":"Happening now","start":"` + time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339) + `","durationMinutes":60}`
	req, _ = http.NewRequest("POST", srv.URL()+"/api/rooms/"+room+"/schedule", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+profTok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create a live session: %v %v", resp, err)
	}

	ada := newBrowser(t, 1280, 900)
	if err := ada.do(20*time.Second, inZone("Asia/Tokyo"), chromedp.Navigate(page(adaTok))); err != nil {
		t.Fatal(err)
	}
	ada.waitFor("both sessions", `document.querySelectorAll('#upcoming li.session').length === 2`, 10*time.Second)
	got := evalString(ada, `JSON.stringify({
	  zone: document.getElementById('zone-line').textContent,
	  editor: document.getElementById('editor').hidden,
	  edits: document.querySelectorAll('#upcoming button').length,
	  imgs: document.querySelectorAll('.sessions img, .sessions b').length,
	  ics: document.getElementById('ics-link').getAttribute('href'),
	  sessions: [...document.querySelectorAll('#upcoming li.session')].map((li) => ({
	    title: li.querySelector('.session-title').lastChild.textContent,
	    badge: li.querySelector('.badge') ? li.querySelector('.badge').textContent : '',
	    date: li.querySelector('.session-date').textContent,
	    time: li.querySelector('.session-time').textContent,
	    planned: li.querySelector('.session-planned') ? li.querySelector('.session-planned').textContent : '',
	    desc: li.querySelector('.session-desc') ? li.querySelector('.session-desc').textContent : '',
	    links: [...li.querySelectorAll('a')].map((a) => a.textContent + ' ' + a.getAttribute('href')),
	  })),
	})`)
	var view struct {
		Zone     string
		Editor   bool
		Edits    int
		Imgs     int
		ICS      string
		Sessions []struct {
			Title, Badge, Date, Time, Planned, Desc string
			Links                                   []string
		}
	}
	if err := json.Unmarshal([]byte(got), &view); err != nil {
		t.Fatal(err)
	}
	q := "?token=" + url.QueryEscape(adaTok)
	if !strings.Contains(view.Zone, "Asia/Tokyo") || !view.Editor || view.Edits != 0 || view.Imgs != 0 ||
		view.ICS != "/api/rooms/"+room+"/schedule.ics"+q || len(view.Sessions) != 2 {
		t.Fatalf("the student's page: %s", got)
	}
	now, planned := view.Sessions[0], view.Sessions[1]
	if now.Title != "Happening now" || now.Badge != "Live now" || len(now.Links) != 2 ||
		now.Links[0] != "Join /r/"+room+q || now.Links[1] != "Watch the recording /r/"+room+"/lessons/sched-lesson-1"+q {
		t.Errorf("the live session: %+v", now)
	}
	// 14:00 UTC is 23:00 in Tokyo, the same day.
	if planned.Title != xss || !strings.Contains(planned.Date, "March 10, 2027") || planned.Time != "11:00 PM – 12:00 AM (next day)" ||
		!strings.Contains(planned.Planned, "9:00") || !strings.Contains(planned.Planned, "America/New York") ||
		planned.Desc != "Line one\nLine <b>two</b>" || len(planned.Links) != 0 {
		t.Errorf("the planned session, seen from Tokyo: %+v", planned)
	}
	ada.screenshot("schedule-student")

	// The instructor cancels it; the student sees that after a reload.
	prof.js("reload", `location.reload()`)
	prof.waitFor("both sessions", `document.querySelectorAll('#upcoming li.session').length === 2`, 10*time.Second)
	prof.click("Cancel session", `#upcoming li.session:last-child .session-actions button:nth-of-type(2)`)
	prof.waitFor("the cancellation", `!!document.querySelector('#upcoming li.status-cancelled')`, 10*time.Second)
	prof.screenshot("schedule-instructor")
	ada.js("reload", `location.reload()`)
	ada.waitFor("the cancelled badge", `(document.querySelector('#upcoming li.status-cancelled .badge') || {}).textContent === 'Cancelled'`, 10*time.Second)
}
