// Package auth mints and checks Chalk's join tokens: HS256 JWTs that name a room, an identity, a
// display name and a role.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chalk-edu/chalk/rooms"
)

const issuer = "chalk"

// MinSecretLen is the shortest accepted signing secret: HS256 with a short secret is brute-forceable.
const MinSecretLen = 32

// DefaultTTL is how long a minted token stays valid unless told otherwise (a school day).
const DefaultTTL = 6 * time.Hour

// Grant is what a token allows: joining Room as Identity, shown as Name, with Role.
type Grant struct {
	Room     string
	Identity string
	Name     string
	Role     rooms.Role
}

// Errors Check returns, wrapped with detail. Their text is safe to show to a user.
var (
	ErrMissing   = errors.New("a join token is required")
	ErrExpired   = errors.New("the join link has expired")
	ErrInvalid   = errors.New("the join link is not valid")
	ErrWrongRoom = errors.New("the join link is for another room")
)

type claims struct {
	Room string     `json:"room"`
	Name string     `json:"name,omitempty"`
	Role rooms.Role `json:"role"`
	jwt.RegisteredClaims
}

// Issuer signs and verifies tokens with one shared secret.
type Issuer struct {
	secret []byte
	now    func() time.Time
}

// NewIssuer returns an Issuer for secret, which must be at least MinSecretLen bytes.
func NewIssuer(secret string) (*Issuer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: token secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	return &Issuer{secret: []byte(secret), now: time.Now}, nil
}

// Mint returns a signed token for g, valid for ttl.
func (is *Issuer) Mint(g Grant, ttl time.Duration) (string, error) {
	if g.Room == "" || g.Identity == "" {
		return "", errors.New("auth: a token needs a room and an identity")
	}
	if !g.Role.Valid() {
		return "", fmt.Errorf("auth: unknown role %q", g.Role)
	}
	now := is.now()
	c := claims{
		Room: g.Room, Name: g.Name, Role: g.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   g.Identity,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), // tolerate clock skew between nodes
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(is.secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}

// Check verifies token and that it grants room. Errors wrap ErrMissing, ErrExpired, ErrInvalid or
// ErrWrongRoom.
func (is *Issuer) Check(token, room string) (Grant, error) {
	if token == "" {
		return Grant{}, ErrMissing
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return is.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(is.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Grant{}, fmt.Errorf("%w (%v)", ErrExpired, err)
	case err != nil:
		return Grant{}, fmt.Errorf("%w (%v)", ErrInvalid, err)
	}
	if c.Subject == "" || !c.Role.Valid() {
		return Grant{}, fmt.Errorf("%w (no identity or unknown role)", ErrInvalid)
	}
	if c.Room != room {
		return Grant{}, ErrWrongRoom
	}
	return Grant{Room: c.Room, Identity: c.Subject, Name: c.Name, Role: c.Role}, nil
}
