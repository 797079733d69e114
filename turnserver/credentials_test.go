package turnserver

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

func TestCredentialsMintAndCheck(t *testing.T) {
	c := Credentials{Secret: secret, TTL: time.Hour}
	now := time.Unix(1_800_000_000, 0)
	user, pass := c.Mint("s:1234", now)
	if user != "1800003600:s:1234" {
		t.Fatalf("username %q", user)
	}
	if pass != c.Password(user) {
		t.Fatal("password does not match its username")
	}
	for _, tc := range []struct {
		name        string
		username    string
		at          time.Time
		checkExpiry bool
		identity    string
		err         error
	}{
		{"valid", user, now, true, "s:1234", nil},
		{"last second", user, now.Add(time.Hour - time.Second), true, "s:1234", nil},
		{"expired", user, now.Add(time.Hour), true, "", errExpired},
		{"expired, not opening an allocation", user, now.Add(2 * time.Hour), false, "s:1234", nil},
		{"no colon", "1800003600", now, true, "", errMalformed},
		{"not a number", "tomorrow:s1", now, true, "", errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.Check(tc.username, tc.at, tc.checkExpiry)
			if !errors.Is(err, tc.err) || id != tc.identity {
				t.Fatalf("Check = %q, %v; want %q, %v", id, err, tc.identity, tc.err)
			}
		})
	}
}

// The scheme is the TURN REST one coturn uses: Pion's own implementation of it, written
// independently, computes the same password for the same username.
func TestCredentialsMatchTURNREST(t *testing.T) {
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(string(secret), "s1234", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := (Credentials{Secret: secret}).Password(user); got != pass {
		t.Fatalf("password %q, TURN REST says %q", got, pass)
	}
}
