package wallet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 holds argon2id cost parameters. OWASP's minimum for argon2id is
// 19 MiB, 2 passes, 1 lane; that is the default.
type Argon2 struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is the production cost.
var DefaultArgon2 = Argon2{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

var b64 = base64.RawStdEncoding

// hashSecret hashes a password or PIN with argon2id into a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. The secret is first keyed
// with the pepper (HMAC-SHA256), so a stolen database alone cannot be
// brute-forced: six-digit PINs especially need that.
func hashSecret(p Argon2, pepper []byte, secret string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	sum := argon2.IDKey(pepperize(pepper, secret), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// verifySecret checks secret against a PHC string made by hashSecret, with
// the cost recorded in it (so costs can be raised without a migration).
func verifySecret(phc string, pepper []byte, secret string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var p Argon2
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("argon2 parameters %q: %w", parts[3], err)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("argon2 salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("argon2 hash: %w", err)
	}
	got := argon2.IDKey(pepperize(pepper, secret), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// subjectKey derives, from the pepper, the key of the hashes that stand
// for phone numbers and client addresses in rate-limit keys.
func subjectKey(pepper []byte) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("qrpay rate-limit subjects"))
	return m.Sum(nil)
}

// CodeKey derives, from the pepper, the key one-time codes are stored
// under (as keyed hashes).
func CodeKey(pepper []byte) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("qrpay one-time codes"))
	return m.Sum(nil)
}

func pepperize(pepper []byte, secret string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// cardToken is the keyed hash a card number is stored as: equal numbers
// give equal tokens (so a card bound twice is detected), and without the key
// the token says nothing about the number.
func cardToken(key []byte, number string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(number))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSessionToken returns a bearer token and the hash it is stored as.
func newSessionToken() (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = "qs_" + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
