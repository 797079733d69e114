package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Relay tokens let one Chalk node receive a room's media from another (cascading). They are signed
// with the same secret as join tokens but carry a different issuer, so /ws (Check) refuses them and
// the relay endpoint (CheckRelay) refuses join tokens: a participant's link cannot open a relay, and
// a node's credential cannot join a class.
const relayIssuer = "chalk-relay"

// RelayTTL is how long a relay token stays valid: it is presented once, when the relay connects.
const RelayTTL = time.Minute

type relayClaims struct {
	Room string `json:"room"`
	jwt.RegisteredClaims
}

// MintRelay returns a token for node to relay room's media from the room's home node.
func (is *Issuer) MintRelay(node, room string, ttl time.Duration) (string, error) {
	if node == "" || room == "" {
		return "", errors.New("auth: a relay token needs a node and a room")
	}
	now := is.now()
	c := relayClaims{Room: room, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: relayIssuer, Subject: node,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(is.secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign relay token: %w", err)
	}
	return s, nil
}

// CheckRelay verifies a relay token for room and returns the node it was minted for. Errors wrap
// ErrMissing, ErrExpired, ErrInvalid or ErrWrongRoom.
func (is *Issuer) CheckRelay(token, room string) (node string, err error) {
	if token == "" {
		return "", ErrMissing
	}
	var c relayClaims
	_, err = jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return is.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(relayIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(is.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", fmt.Errorf("%w (%v)", ErrExpired, err)
	case err != nil:
		return "", fmt.Errorf("%w (%v)", ErrInvalid, err)
	}
	if c.Subject == "" {
		return "", fmt.Errorf("%w (no node)", ErrInvalid)
	}
	if c.Room != room {
		return "", ErrWrongRoom
	}
	return c.Subject, nil
}
