package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chalk-edu/chalk/rooms"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestMintCheck(t *testing.T) {
	is, err := NewIssuer(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewIssuer(strings.Repeat("x", 40))
	grant := Grant{Room: "math", Identity: "u1", Name: "Ada", Role: rooms.RoleInstructor}
	good, err := is.Mint(grant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := is.Mint(grant, -2*time.Minute)
	forged, _ := other.Mint(grant, time.Hour)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"room": "math", "sub": "u1", "role": "student", "iss": "chalk", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)

	tests := []struct {
		name, token, room string
		want              error
	}{
		{"valid", good, "math", nil},
		{"missing", "", "math", ErrMissing},
		{"expired", expired, "math", ErrExpired},
		{"wrong room", good, "art", ErrWrongRoom},
		{"other secret", forged, "math", ErrInvalid},
		{"alg none", none, "math", ErrInvalid},
		{"garbage", "not.a.jwt", "math", ErrInvalid},
		{"tampered", good[:len(good)-2] + "xx", "math", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := is.Check(tt.token, tt.room)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check() error = %v, want %v", err, tt.want)
			}
			if tt.want == nil && g != grant {
				t.Fatalf("Check() = %+v, want %+v", g, grant)
			}
		})
	}
}

func TestNewIssuerRejectsShortSecret(t *testing.T) {
	if _, err := NewIssuer("short"); err == nil {
		t.Fatal("NewIssuer accepted a 5-byte secret")
	}
}

func TestMintRejectsBadGrant(t *testing.T) {
	is, _ := NewIssuer(secret)
	for _, g := range []Grant{{Identity: "u"}, {Room: "r"}, {Room: "r", Identity: "u", Role: "admin"}} {
		if _, err := is.Mint(g, time.Hour); err == nil {
			t.Errorf("Mint(%+v) succeeded", g)
		}
	}
}
