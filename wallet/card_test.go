package wallet

import (
	"strings"
	"testing"
	"time"
)

func TestCardNumberRules(t *testing.T) {
	tests := []struct {
		in, normalized string
		luhn           bool
		brand          string
	}{
		{"4111 1111 1111 1111", "4111111111111111", true, "visa"},
		{"4111-1111-1111-1112", "4111111111111112", false, "visa"},
		{"5555555555554444", "5555555555554444", true, "mastercard"},
		{"2223003122003222", "2223003122003222", true, "mastercard"},
		{"378282246310005", "378282246310005", true, "amex"},
		{"3530111333300000", "3530111333300000", true, "jcb"},
		{"6212345678901265", "6212345678901265", true, "unionpay"},
		{"12345678901", "", false, ""},          // too short
		{"41111111111111111111", "", false, ""}, // too long
		{"4111x11111111111", "", false, ""},
	}
	for _, tt := range tests {
		got := normalizeCardNumber(tt.in)
		if got != tt.normalized {
			t.Errorf("normalizeCardNumber(%q) = %q; want %q", tt.in, got, tt.normalized)
			continue
		}
		if got == "" {
			continue
		}
		if luhn(got) != tt.luhn {
			t.Errorf("luhn(%q) = %v; want %v", got, !tt.luhn, tt.luhn)
		}
		if b := brandOf(got); b != tt.brand {
			t.Errorf("brandOf(%q) = %q; want %q", got, b, tt.brand)
		}
	}
	for _, n := range []string{TestCardDeclined, TestCardNoFunds, TestCardLost, TestCardIssuerDown, TestCardExpiredByBan} {
		if !luhn(n) {
			t.Errorf("test card %s fails the Luhn check", n)
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		month, year int
		want        bool
	}{
		{11, 2026, false}, // good through the end of its month
		{10, 2026, true},
		{12, 2025, true},
		{1, 2027, false},
	}
	for _, tt := range tests {
		if got := expired(tt.month, tt.year, now); got != tt.want {
			t.Errorf("expired(%d, %d) at %v = %v; want %v", tt.month, tt.year, now, got, tt.want)
		}
	}
}

func TestSecretHashing(t *testing.T) {
	p := Argon2{MemoryKiB: 1024, Time: 1, Threads: 1}
	pepper := []byte("pepper")
	h := hashSecret(p, pepper, "135790")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hashSecret = %q; want a PHC argon2id string", h)
	}
	if h2 := hashSecret(p, pepper, "135790"); h2 == h {
		t.Errorf("two hashes of one secret are equal; want distinct salts")
	}
	for _, tt := range []struct {
		secret string
		pepper string
		want   bool
	}{{"135790", "pepper", true}, {"135791", "pepper", false}, {"135790", "other pepper", false}} {
		got, err := verifySecret(h, []byte(tt.pepper), tt.secret)
		if err != nil || got != tt.want {
			t.Errorf("verifySecret(%q, pepper %q) = %v, %v; want %v", tt.secret, tt.pepper, got, err, tt.want)
		}
	}
	if _, err := verifySecret("$2a$10$bcrypt", pepper, "x"); err == nil {
		t.Errorf("verifySecret(bcrypt) = nil error; want an error")
	}
}

// TestUnknownPhoneCostsAVerify: a login for an unknown phone verifies
// against a dummy hash made with the configured cost, so it takes as long
// as a wrong password.
func TestUnknownPhoneCostsAVerify(t *testing.T) {
	cost := Argon2{MemoryKiB: 2048, Time: 3, Threads: 1}
	s := New(Config{Argon2: cost, Pepper: []byte("p")}, nil, nil, nil, nil, nil, nil)
	if !strings.Contains(s.dummyHash, "$m=2048,t=3,p=1$") {
		t.Errorf("dummy hash %q; want the configured cost m=2048,t=3,p=1", s.dummyHash)
	}
}

func TestMaskPhone(t *testing.T) {
	if got := maskPhone("+8613800138000"); got != "+86138****8000" {
		t.Errorf("maskPhone = %q; want +86138****8000", got)
	}
}
