package sdk

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

const fuzzPayload = `{"id":"e1","type":"order.paid","created_at":"2026-11-26T10:01:00Z","order_id":"o1","sequence":2,"data":{"order":{"id":"o1","status":"paid","amount":1200},"refund":null}}`

// FuzzVerifyWebhook feeds the receiver arbitrary headers: it never panics,
// refuses with one of the documented errors, and accepts only a header
// that carries the HMAC of the payload under the secret, with a t within
// the tolerance.
func FuzzVerifyWebhook(f *testing.F) {
	const at = 1795680000
	good := SignWebhook("whsec_current", time.Unix(at, 0), []byte(fuzzPayload))
	for _, h := range []string{
		good,
		strings.ReplaceAll(good, ",", ", "),
		SignWebhookWithSecrets([]string{"whsec_previous", "whsec_current"}, time.Unix(at, 0), []byte(fuzzPayload)),
		good + ",v0=abc,v2=zzz",
		good[strings.Index(good, ",")+1:] + ",t=" + strconv.Itoa(at),
		"", "  ", "garbage", "t=yesterday", good + ",t=1", "t=1,v1=xyz", "t=1,v1=abcd", good + ",",
		"t=" + strconv.Itoa(at), "t=-1," + good[strings.Index(good, ",")+1:], "t=9223372036854775807,v1=",
	} {
		f.Add(h, []byte(fuzzPayload), "whsec_current", int64(at))
	}
	f.Add(good, []byte(fuzzPayload), "", int64(at))
	f.Add(good, []byte(fuzzPayload), "whsec_current", int64(at+301))
	f.Fuzz(func(t *testing.T, header string, payload []byte, secret string, now int64) {
		err := verifyWebhook(payload, header, []string{secret}, 0, time.Unix(now, 0))
		if err != nil {
			if !errors.Is(err, ErrNotSigned) && !errors.Is(err, ErrInvalidHeader) &&
				!errors.Is(err, ErrNoValidSignature) && !errors.Is(err, ErrTooOld) {
				t.Fatalf("verifyWebhook(%q) = %v; want one of the documented errors", header, err)
			}
			return
		}
		ts, sigs, perr := parseWebhookHeader(header)
		if perr != nil || secret == "" {
			t.Fatalf("verifyWebhook(%q) accepted a header that parses with %v, under secret %q", header, perr, secret)
		}
		if age := time.Unix(now, 0).Sub(time.Unix(ts, 0)); age > DefaultWebhookTolerance || -age > DefaultWebhookTolerance {
			t.Fatalf("verifyWebhook(%q) at %d accepted a signature %s old", header, now, age)
		}
		want := webhookMAC(secret, ts, payload)
		for _, sig := range sigs {
			if bytes.Equal(sig, want) {
				return
			}
		}
		t.Fatalf("verifyWebhook(%q) accepted a header without the payload's v1 %x", header, want)
	})
}

// FuzzSignWebhook checks SignWebhookWithSecrets against the receiver: a
// header signed with two secrets (a rotation) verifies under each, with or
// without spaces after the commas, and a header signed with one secret is
// refused under that secret with one byte changed, for a payload with one
// byte changed, and for another t. Unix times start at 1: the receiver
// refuses t ≤ 0.
func FuzzSignWebhook(f *testing.F) {
	f.Add([]byte(fuzzPayload), "whsec_current", "whsec_previous", int64(1795680000), uint8(6), uint8(7))
	f.Add([]byte(""), "k", "", int64(1), uint8(0), uint8(0))
	f.Add([]byte("{}"), strings.Repeat("x", 65), "whsec_\x00", int64(math.MaxInt64-1), uint8(64), uint8(1))
	f.Fuzz(func(t *testing.T, payload []byte, secret, previous string, ts int64, secretAt, payloadAt uint8) {
		if secret == "" || ts <= 0 || ts == math.MaxInt64 {
			return
		}
		at := time.Unix(ts, 0)
		rotating := SignWebhookWithSecrets([]string{previous, secret}, at, payload)
		for _, s := range []string{previous, secret} {
			if s == "" {
				continue
			}
			for _, h := range []string{rotating, strings.ReplaceAll(rotating, ",", " , ")} {
				if err := verifyWebhook(payload, h, []string{s}, 0, at); err != nil {
					t.Fatalf("verifyWebhook(%q, %q) under %q = %v; want accepted", payload, h, s, err)
				}
			}
		}

		header := SignWebhook(secret, at, payload)
		wrong := []byte(secret)
		wrong[int(secretAt)%len(wrong)] ^= 1
		if err := verifyWebhook(payload, header, []string{string(wrong)}, 0, at); !errors.Is(err, ErrNoValidSignature) {
			t.Fatalf("verifyWebhook(%q) under %q, signed with %q = %v; want ErrNoValidSignature", header, wrong, secret, err)
		}
		if len(payload) > 0 {
			tampered := bytes.Clone(payload)
			tampered[int(payloadAt)%len(tampered)] ^= 1
			if err := verifyWebhook(tampered, header, []string{secret}, 0, at); !errors.Is(err, ErrNoValidSignature) {
				t.Fatalf("verifyWebhook(%q) for %q, signed for %q = %v; want ErrNoValidSignature", header, tampered, payload, err)
			}
		}
		later := "t=" + strconv.FormatInt(ts+1, 10) + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, payload))
		if err := verifyWebhook(payload, later, []string{secret}, 0, at); !errors.Is(err, ErrNoValidSignature) {
			t.Fatalf("verifyWebhook(%q), the v1 of t=%d = %v; want ErrNoValidSignature", later, ts, err)
		}
		if err := verifyWebhook(payload, header, []string{secret}, 0, at.Add(DefaultWebhookTolerance+time.Second)); !errors.Is(err, ErrTooOld) {
			t.Fatalf("verifyWebhook(%q) %s later = %v; want ErrTooOld", header, DefaultWebhookTolerance+time.Second, err)
		}
	})
}
