package sdk_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

const (
	whsec    = "whsec_current"
	whsecOld = "whsec_previous"
	payload  = `{"id":"e1","type":"order.paid","created_at":"2026-11-26T10:01:00Z","order_id":"o1","sequence":2,"data":{"order":{"id":"o1","status":"paid","amount":1200},"refund":null}}`
)

// TestSignWebhookMatchesTheDocs recomputes the signature from
// docs/signing.md's recipe, independently of the SDK.
func TestSignWebhookMatchesTheDocs(t *testing.T) {
	at := time.Unix(1795680000, 0)
	m := hmac.New(sha256.New, []byte(whsec))
	m.Write([]byte("1795680000." + payload))
	want := "t=1795680000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := sdk.SignWebhook(whsec, at, []byte(payload)); got != want {
		t.Errorf("SignWebhook = %s; want %s", got, want)
	}
	rotating := sdk.SignWebhookWithSecrets([]string{whsecOld, whsec}, at, []byte(payload))
	if !strings.HasSuffix(rotating, strings.TrimPrefix(want, "t=1795680000")) || strings.Count(rotating, "v1=") != 2 {
		t.Errorf("SignWebhookWithSecrets = %s; want two v1, the second %s", rotating, want)
	}
}

func TestConstructEvent(t *testing.T) {
	now := time.Now()
	sign := func(secret string, at time.Time) string { return sdk.SignWebhook(secret, at, []byte(payload)) }
	good := sign(whsec, now)
	v1 := func(h string) string { return h[strings.Index(h, ",v1=")+1:] }
	ts := "t=" + strconv.FormatInt(now.Unix(), 10)

	for _, tt := range []struct {
		name    string
		payload string
		header  string
		secrets []string
		want    error
	}{
		{"good", payload, good, []string{whsec}, nil},
		{"good, with spaces", payload, strings.ReplaceAll(good, ",", ", "), []string{whsec}, nil},
		{"rotated: two v1, the second valid", payload, sdk.SignWebhookWithSecrets([]string{whsecOld, whsec}, now, []byte(payload)), []string{whsec}, nil},
		{"rotated: two v1, the first valid", payload, sdk.SignWebhookWithSecrets([]string{whsec, "whsec_next"}, now, []byte(payload)), []string{whsec}, nil},
		{"receiver holds two secrets", payload, sign(whsecOld, now), []string{whsec, whsecOld}, nil},
		{"unknown schemes are skipped", payload, good + ",v0=abc,v2=zzz", []string{whsec}, nil},
		{"v1 before t", payload, v1(good) + "," + ts, []string{whsec}, nil},
		{"a little skew is tolerated", payload, sign(whsec, now.Add(-299*time.Second)), []string{whsec}, nil},
		{"no header", payload, "", []string{whsec}, sdk.ErrNotSigned},
		{"blank header", payload, "  ", []string{whsec}, sdk.ErrNotSigned},
		{"not key=value", payload, "garbage", []string{whsec}, sdk.ErrInvalidHeader},
		{"no t", payload, v1(good), []string{whsec}, sdk.ErrInvalidHeader},
		{"t not a number", payload, "t=yesterday," + v1(good), []string{whsec}, sdk.ErrInvalidHeader},
		{"two t", payload, good + "," + ts, []string{whsec}, sdk.ErrInvalidHeader},
		{"v1 not hex", payload, ts + ",v1=xyz", []string{whsec}, sdk.ErrInvalidHeader},
		{"v1 too short", payload, ts + ",v1=abcd", []string{whsec}, sdk.ErrInvalidHeader},
		{"empty part", payload, good + ",", []string{whsec}, sdk.ErrInvalidHeader},
		{"no v1", payload, ts, []string{whsec}, sdk.ErrNoValidSignature},
		{"too old", payload, sign(whsec, now.Add(-301*time.Second)), []string{whsec}, sdk.ErrTooOld},
		{"from the future", payload, sign(whsec, now.Add(10*time.Minute)), []string{whsec}, sdk.ErrTooOld},
		{"wrong secret", payload, sign("whsec_wrong", now), []string{whsec}, sdk.ErrNoValidSignature},
		{"no secret configured", payload, sign("", now), []string{""}, sdk.ErrNoValidSignature},
		{"tampered payload", strings.Replace(payload, "1200", "120000", 1), good, []string{whsec}, sdk.ErrNoValidSignature},
		{"signature of another time", payload, ts + "0," + v1(good), []string{whsec}, sdk.ErrNoValidSignature},
		{"old and forged: the forgery is reported", payload, sign("whsec_wrong", now.Add(-time.Hour)), []string{whsec}, sdk.ErrNoValidSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := sdk.ConstructEventWithSecrets([]byte(tt.payload), tt.header, tt.secrets, 0)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v; want the event", err)
				}
				if ev.ID != "e1" || ev.Type != sdk.EventOrderPaid || ev.Sequence != 2 || ev.Data.Order.Status != sdk.OrderPaid || ev.Delivery != nil {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			if !errors.Is(err, tt.want) || ev != nil {
				t.Errorf("err = %v, event %v; want %v and no event", err, ev, tt.want)
			}
		})
	}
}

func TestConstructEventTolerance(t *testing.T) {
	header := sdk.SignWebhook(whsec, time.Now().Add(-10*time.Minute), []byte(payload))
	if _, err := sdk.ConstructEvent([]byte(payload), header, whsec, 0); !errors.Is(err, sdk.ErrTooOld) {
		t.Errorf("10 min old with the default tolerance: %v; want ErrTooOld", err)
	}
	if _, err := sdk.ConstructEvent([]byte(payload), header, whsec, 15*time.Minute); err != nil {
		t.Errorf("10 min old with 15 min tolerance: %v; want accepted", err)
	}
}

func TestConstructEventBadJSON(t *testing.T) {
	body := []byte(`{"id":`)
	_, err := sdk.ConstructEvent(body, sdk.SignWebhook(whsec, time.Now(), body), whsec, 0)
	if err == nil || errors.Is(err, sdk.ErrNoValidSignature) {
		t.Errorf("err = %v; want a decoding error", err)
	}
}
