package turnserver

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Credentials mints and checks short-lived TURN credentials in the TURN REST scheme that coturn
// also implements (use-auth-secret): the username is "<expiry unix seconds>:<identity>" and the
// password is base64(HMAC-SHA1(secret, username)). Nothing is stored: whoever knows the secret can
// recompute the password, so the embedded server and an external coturn check the same credentials.
type Credentials struct {
	Secret []byte
	TTL    time.Duration
}

// DefaultTTL is how long a minted credential may open new allocations. An allocation opened in time
// lives on while the client refreshes it (see Check), so a class longer than the TTL keeps its relay.
const DefaultTTL = time.Hour

// Mint returns a username and password for identity, valid until now+TTL.
func (c Credentials) Mint(identity string, now time.Time) (username, password string) {
	ttl := c.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + identity
	return username, c.Password(username)
}

// Password is the password that belongs to username.
func (c Credentials) Password(username string) string {
	mac := hmac.New(sha1.New, c.Secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

var (
	errMalformed = errors.New("username is not <expiry>:<identity>")
	errExpired   = errors.New("credential expired")
)

// Check parses a username and returns its identity. An expired username is refused only when
// opening an allocation (checkExpiry): refreshes, permissions and channel bindings of an existing
// allocation keep working, so media does not stop in the middle of a long class. The password
// itself is verified by the TURN server's MESSAGE-INTEGRITY check with the key derived from it.
func (c Credentials) Check(username string, now time.Time, checkExpiry bool) (identity string, err error) {
	exp, identity, ok := strings.Cut(username, ":")
	if !ok {
		return "", errMalformed
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", errMalformed
	}
	if checkExpiry && now.Unix() >= t {
		return "", fmt.Errorf("%w at %s", errExpired, time.Unix(t, 0).UTC().Format(time.RFC3339))
	}
	return identity, nil
}
