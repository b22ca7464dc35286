package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/sdk"
)

// FuzzMerchantSignature checks the verifier of signed merchant requests
// against the SDK's signer. Headers of any form never panic the checks and
// pass only in the documented form. A request signed with sdk.Sign
// verifies, and no longer does with one byte of its body or path changed.
// A request the SDK signs and sends (sdk.SignRequest over HTTP) verifies
// against what the server reads from it: its method, path and query as
// sent, and its body.
func FuzzMerchantSignature(f *testing.F) {
	const secret = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
	f.Add("POST", "/v1/orders", []byte(`{"merchant_order_no":"POS1-000123","amount":1200}`), int64(1795680000), "nonce-0000000000000001", "v1=00", uint16(5))
	f.Add("GET", "/v1/orders?limit=10&starting_after=0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", []byte(nil), int64(1795680000), "nonce-0000000000000002", "", uint16(0))
	f.Add("post", "/v1/orders/o1/refunds", []byte(`{"refund_no":"R-1","amount":500}`), int64(1), "0123456789abcdef", "v1=", uint16(3))
	f.Add("DELETE", "/v1/a%2Fb/ü?q=a b#frag", []byte("\x00\xff"), int64(-1), "short", "v1=zz", uint16(1))
	f.Add("POST", "//evil.example/v1", []byte("{}"), int64(9223372036854775807), strings.Repeat("n", 65), "x", uint16(9))
	app := signatureEcho(secret)
	f.Fuzz(func(t *testing.T, method, path string, body []byte, ts int64, nonce, header string, at uint16) {
		now := time.Unix(ts, 0)
		if got, ok := signatureHeaders("key", header, nonce, header, now); ok {
			want, err := strconv.ParseInt(header, 10, 64)
			if err != nil || got != want || !validNonce.MatchString(nonce) {
				t.Fatalf("signatureHeaders(timestamp %q, nonce %q) = %d, true; want refused", header, nonce, got)
			}
		}
		sig := sdk.Sign(secret, method, path, ts, nonce, body)
		if !signatureMatches(secret, method, path, ts, nonce, body, sig) {
			t.Fatalf("signatureMatches(%q %q, body %q, t=%d, nonce %q) refused sdk.Sign's %s", method, path, body, ts, nonce, sig)
		}
		if _, ok := signatureHeaders("key", strconv.FormatInt(ts, 10), nonce, sig, now); ok != validNonce.MatchString(nonce) {
			t.Fatalf("signatureHeaders(t=%d, nonce %q) = %v at t; want %v", ts, nonce, ok, !ok)
		}
		if len(body) > 0 {
			b := bytes.Clone(body)
			b[int(at)%len(b)] ^= 1
			if signatureMatches(secret, method, path, ts, nonce, b, sig) {
				t.Fatalf("the signature of body %q also matches %q", body, b)
			}
		}
		if len(path) > 0 {
			p := []byte(path)
			p[int(at)%len(p)] ^= 1
			if signatureMatches(secret, method, string(p), ts, nonce, body, sig) {
				t.Fatalf("the signature of path %q also matches %q", path, p)
			}
		}
		sendSigned(t, app, secret, path, body, ts, nonce)
	})
}

// signatureEcho is a server that answers 204 to a request whose signature
// matches under secret and 401 to any other, reading the request the way
// authMerchant does.
func signatureEcho(secret string) *fiber.App {
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true})
	app.Use(func(c *fiber.Ctx) error {
		ts, err := strconv.ParseInt(c.Get(sdk.HeaderTimestamp), 10, 64)
		if err != nil || !signatureMatches(secret, c.Method(), c.OriginalURL(), ts, c.Get(sdk.HeaderNonce), c.Body(), c.Get(sdk.HeaderSignature)) {
			return c.SendStatus(http.StatusUnauthorized)
		}
		return c.SendStatus(http.StatusNoContent)
	})
	return app
}

// sendSigned sends path, with body, signed by sdk.SignRequest: a POST, or
// a GET when the body is empty (a GET's body is not read). Paths Go cannot
// put on a request line, and nonces that are no header value, are skipped.
func sendSigned(t *testing.T, app *fiber.App, secret, path string, body []byte, ts int64, nonce string) {
	if !validNonce.MatchString(nonce) {
		return
	}
	method := http.MethodPost
	if len(body) == 0 {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, "http://qrpay.test/"+strings.TrimPrefix(path, "/"), bytes.NewReader(body))
	if err != nil {
		return
	}
	sdk.SignRequest(r, "key", secret, ts, nonce, body)
	resp, err := app.Test(r, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, r.URL.RequestURI(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%s %s (path %q) with body %q signed by the SDK = %d; want its signature to match", method, r.URL.RequestURI(), path, body, resp.StatusCode)
	}
}

// FuzzDecodeStrict checks the request body decoder with several request
// types: it never panics; what it accepts is UTF-8, holds no NUL and no
// U+FFFD the body did not write; and the value it gives encodes to JSON it
// accepts again and decodes to the same value.
func FuzzDecodeStrict(f *testing.F) {
	for _, body := range []string{
		`{"merchant_order_no":"POS1-000123","amount":1200,"description":"2 coffees","terminal_id":"POS1"}`,
		`{"refund_no":"R-000123-1","amount":500,"reason":"one coffee spilt"}`,
		`{"to_phone":"+8613900000001","amount":2500,"note":"dinner","pin":"135790","otp":{"id":"o1","code":"123456"}}`,
		`{"kind":"notice","title":"t","body":"b","starts_at":"2026-11-26T10:01:00+08:00","ends_at":null}`,
		`{"scopes":["pos","finance"]}`,
		`{"grace_seconds":0}`,
		`{"qr_payload":"000201","card_id":"c","approval":{"device_id":"d"}}`,
		` {"amount":1} `, `{"amount":1}{}`, `{"amount":1,"amount":null}`, `{"Amount":1}`, `{"amount":1e3}`,
		`{"note":"\u0000"}`, `{"note":"\ufffd"}`, `{"note":"\ud83d\ude00 \\ud800"}`, `{"note":"\ude00\ud83d"}`, "{\"note\":\"\xff\"}", `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range requestTypes() {
			if decodeStrict(body, v) != nil {
				continue
			}
			if !utf8.Valid(body) {
				t.Fatalf("decodeStrict(%q, %T) accepted invalid UTF-8", body, v)
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("decodeStrict(%q, %T) gave %+v, which does not encode: %v", body, v, v, err)
			}
			if bytes.Contains(enc, []byte(`\u0000`)) {
				t.Fatalf("decodeStrict(%q, %T) accepted a NUL: %s", body, v, enc)
			}
			if bytes.ContainsRune(enc, utf8.RuneError) && !bytes.ContainsRune(body, utf8.RuneError) &&
				!bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
				t.Fatalf("decodeStrict(%q, %T) replaced something with U+FFFD: %s", body, v, enc)
			}
			again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := decodeStrict(enc, again); err != nil {
				t.Fatalf("decodeStrict(%q, %T) gave %s, which it refuses: %v", body, v, enc, err)
			}
			if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
				t.Fatalf("decodeStrict(%q, %T) gave %s, which decodes to %s", body, v, enc, enc2)
			}
		}
	})
}

// requestTypes are fresh values of request bodies with each kind of
// field: strings, integers, a *int, a slice, *time.Time, nested structs.
func requestTypes() []any {
	return []any{new(createOrderRequest), new(createRefundRequest), new(transferRequest),
		new(announcementRequest), new(issueKeyRequest), new(rotateWebhookSecretRequest), new(payRequest)}
}
