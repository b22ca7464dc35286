package gatewaytest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/otp"
)

// Challenge is the challenge of an otp_required answer.
type Challenge struct {
	ID        string    `json:"challenge_id"`
	Purpose   string    `json:"purpose"`
	SentTo    string    `json:"sent_to"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Challenge returns the challenge of an otp_required answer and fails the
// test when r is not one.
func (r Response) Challenge(t testing.TB) Challenge {
	t.Helper()
	var body struct {
		Error struct {
			Code      string     `json:"code"`
			Challenge *Challenge `json:"challenge"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || r.Status != http.StatusForbidden ||
		body.Error.Code != "otp_required" || body.Error.Challenge == nil {
		t.Fatalf("got %d %s; want 403 otp_required with a challenge", r.Status, r.Body)
	}
	return *body.Error.Challenge
}

// Message returns the code sent for a challenge, as the customer's phone
// received it.
func (e *Env) Message(t testing.TB, challengeID string) otp.Message {
	t.Helper()
	m, err := e.Outbox.Get(context.Background(), challengeID)
	if err != nil {
		t.Fatalf("code of %s: %v", challengeID, err)
	}
	return m
}

// OTP is the body field answering a challenge with its code.
func (e *Env) OTP(t testing.TB, ch Challenge) map[string]string {
	t.Helper()
	return map[string]string{"challenge_id": ch.ID, "code": e.Message(t, ch.ID).Code}
}

// DoOTP sends a JSON object request; when it is answered otp_required, it
// reads the code sent and sends the request again with it, as a wallet
// app does. It returns the last answer.
func (e *Env) DoOTP(t testing.TB, method, path string, body map[string]any, headers ...string) Response {
	t.Helper()
	r := e.Do(t, method, path, body, headers...)
	if r.Code() != "otp_required" {
		return r
	}
	again := make(map[string]any, len(body)+1)
	for k, v := range body {
		again[k] = v
	}
	again["otp"] = e.OTP(t, r.Challenge(t))
	return e.Do(t, method, path, again, headers...)
}
