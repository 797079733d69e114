package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// TestRelayTokensAreNotJoinTokens: each kind is accepted only where it belongs.
func TestRelayTokensAreNotJoinTokens(t *testing.T) {
	is, err := NewIssuer("relay-test-secret-0123456789abcdef0123")
	if err != nil {
		t.Fatal(err)
	}
	relay, err := is.MintRelay("node-b", "math", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	join, err := is.Mint(Grant{Room: "math", Identity: "u1", Name: "Ada", Role: rooms.RoleInstructor}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if node, err := is.CheckRelay(relay, "math"); err != nil || node != "node-b" {
		t.Fatalf("CheckRelay(relay) = %q, %v", node, err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"relay token on /ws", func() error { _, err := is.Check(relay, "math"); return err }(), ErrInvalid},
		{"join token on /relay", func() error { _, err := is.CheckRelay(join, "math"); return err }(), ErrInvalid},
		{"relay token for another room", func() error { _, err := is.CheckRelay(relay, "art"); return err }(), ErrWrongRoom},
		{"no relay token", func() error { _, err := is.CheckRelay("", "math"); return err }(), ErrMissing},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}
