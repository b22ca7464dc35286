package sdk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader is the header that carries a webhook's signature,
// "t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]".
const WebhookSignatureHeader = "Qrpay-Signature"

// DefaultWebhookTolerance is how far a webhook's timestamp may be from the
// receiver's clock. It bounds how long a captured delivery can be replayed.
const DefaultWebhookTolerance = 300 * time.Second

// Why a webhook was refused; test with errors.Is. A receiver should answer
// any of them with 400 and not act on the body.
var (
	// ErrNotSigned: the signature header is missing or empty.
	ErrNotSigned = errors.New("qrpay: webhook is not signed")
	// ErrInvalidHeader: the signature header is not t=…,v1=….
	ErrInvalidHeader = errors.New("qrpay: webhook signature header is malformed")
	// ErrTooOld: the timestamp is outside the tolerance — older (a replay, or
	// a delivery delayed too long), or further in the future than a clock's
	// drift explains.
	ErrTooOld = errors.New("qrpay: webhook timestamp is outside the tolerance")
	// ErrNoValidSignature: no v1 signature matches any of the secrets. The
	// body was changed, or the secret is wrong.
	ErrNoValidSignature = errors.New("qrpay: no valid webhook signature")
)

// ConstructEvent checks a webhook delivery and decodes its event: payload is
// the raw request body, exactly as received (not re-encoded JSON), header is
// the Qrpay-Signature header, and secret the merchant's webhook secret
// (whsec_…). A tolerance of 0 means DefaultWebhookTolerance.
//
// For the grace period after a rotation (Client.RotateWebhookSecret) the
// gateway signs with the new and the previous secret and sends one v1 for
// each; the event is accepted if any of them matches.
func ConstructEvent(payload []byte, header, secret string, tolerance time.Duration) (*Event, error) {
	return ConstructEventWithSecrets(payload, header, []string{secret}, tolerance)
}

// ConstructEventWithSecrets is ConstructEvent for a receiver that holds more
// than one secret: while rotating on its own side, it accepts an event that
// matches any of them.
func ConstructEventWithSecrets(payload []byte, header string, secrets []string, tolerance time.Duration) (*Event, error) {
	if err := verifyWebhook(payload, header, secrets, tolerance, time.Now()); err != nil {
		return nil, err
	}
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("qrpay: decoding webhook event: %w", err)
	}
	return &e, nil
}

// verifyWebhook checks the signature before the timestamp: t only means
// something once a signature vouches for it.
func verifyWebhook(payload []byte, header string, secrets []string, tolerance time.Duration, now time.Time) error {
	if strings.TrimSpace(header) == "" {
		return ErrNotSigned
	}
	ts, sigs, err := parseWebhookHeader(header)
	if err != nil {
		return err
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: the header has no v1 signature", ErrNoValidSignature)
	}
	matched, keyed := false, false
	for _, secret := range secrets {
		if secret == "" {
			continue // an empty HMAC key is one anybody can sign with
		}
		keyed = true
		want := webhookMAC(secret, ts, payload)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				matched = true
			}
		}
	}
	if !keyed {
		return fmt.Errorf("%w: no webhook secret configured", ErrNoValidSignature)
	}
	if !matched {
		return ErrNoValidSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	switch age := now.Sub(time.Unix(ts, 0)); {
	case age > tolerance:
		return fmt.Errorf("%w: signed %s ago", ErrTooOld, age.Truncate(time.Second))
	case -age > tolerance:
		return fmt.Errorf("%w: signed %s in the future", ErrTooOld, (-age).Truncate(time.Second))
	}
	return nil
}

// parseWebhookHeader reads "t=…,v1=…[,v1=…]". Other schemes (v0, a future
// v2) are skipped, so that the gateway can add one without breaking
// receivers; a part that is not key=value, a second t, or a v1 that is not
// a SHA-256 in hex makes the header malformed.
func parseWebhookHeader(header string) (ts int64, sigs [][]byte, err error) {
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: part %q is not key=value", ErrInvalidHeader, part)
		}
		switch k {
		case "t":
			if seenT {
				return 0, nil, fmt.Errorf("%w: more than one t", ErrInvalidHeader)
			}
			seenT = true
			if ts, err = strconv.ParseInt(v, 10, 64); err != nil || ts <= 0 {
				return 0, nil, fmt.Errorf("%w: t=%q is not a Unix time", ErrInvalidHeader, v)
			}
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: v1 is not a hex SHA-256", ErrInvalidHeader)
			}
			sigs = append(sigs, sig)
		}
	}
	if !seenT {
		return 0, nil, fmt.Errorf("%w: no t", ErrInvalidHeader)
	}
	return ts, sigs, nil
}

// webhookMAC is HMAC-SHA256 under secret of "<t>." followed by the body.
func webhookMAC(secret string, ts int64, payload []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

// SignWebhook returns the Qrpay-Signature header value for payload sent at
// t: the one signer the gateway's webhook sender and receivers' tests share,
// so that what ConstructEvent accepts is exactly what the gateway sends.
func SignWebhook(secret string, t time.Time, payload []byte) string {
	return SignWebhookWithSecrets([]string{secret}, t, payload)
}

// SignWebhookWithSecrets signs with each secret, one v1 per secret in the
// given order: what the gateway sends while a merchant's webhook secret is
// being rotated, so that receivers holding either secret accept it.
func SignWebhookWithSecrets(secrets []string, t time.Time, payload []byte) string {
	ts := t.Unix()
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(ts, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(webhookMAC(s, ts, payload)))
	}
	return b.String()
}
