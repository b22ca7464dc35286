package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// authzCase is one call of the authorization matrix and the answer it must get.
type authzCase struct {
	call
	status int
	code   string // "" for an own request that may succeed
	// replayOf is set on the second sending of a signed request: the first
	// must have passed authentication.
	replayOf *call
}

// TestAuthorizationMatrix calls every operation of /openapi.json with the
// wrong credentials: none, malformed ones, another wallet's session or
// another merchant's key on a's or ma's real objects, a key without the
// route's scope, a revoked key, a logged-out and an expired session, a
// replayed signature, the operator token on wallet and merchant routes and
// a wallet session on operator and merchant routes. Each gets 401, 403 or
// 404 as documented (the harness checks the operation lists it), and no
// answer holds an identifier of a's or ma's that the request did not send.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	w := newWorld(t, env)
	routes := loadRoutes(t, env)

	// A key of ma's, revoked; a session of a's, logged out.
	revoked := w.issueKey(t, w.ma, "pos", "finance")
	if r := env.Do(t, "DELETE", "/v1/admin/merchants/"+w.ma.MerchantID+"/keys/"+revoked.KeyID, nil, w.operator()...); r.Status != http.StatusNoContent {
		t.Fatalf("revoke key = %d %s", r.Status, r.Body)
	}
	loggedOut := w.login(t, w.a.Customer)
	if r := env.Do(t, "DELETE", "/v1/wallet/sessions/current", nil, "Authorization", "Bearer "+loggedOut); r.Status != http.StatusNoContent {
		t.Fatalf("log out = %d %s", r.Status, r.Body)
	}

	owned := append(w.walletIDs(), w.merchantIDs()...)
	var cases []authzCase
	tried := map[string]int{}
	for _, r := range routes {
		path, ok := w.path(r, nil)
		if !ok {
			t.Errorf("%s: a path parameter has no value in this test's world; add one to pathValue", r)
			continue
		}
		var body []byte
		if r.bodySchema() != nil {
			valid := w.validBody(r)
			if valid == nil {
				t.Errorf("%s: no valid body in this test's world; add one to validBody", r)
				continue
			}
			body, _ = json.Marshal(valid)
		}
		base := call{Route: r, Method: r.Method, Path: path, Body: body, ContentType: "application/json", Idem: r.idempotent()}
		add := func(name string, cred credential, status int, code string, headers ...string) {
			c := base
			c.Case, c.Cred, c.Headers = name, cred, headers
			cases = append(cases, authzCase{call: c, status: status, code: code})
			tried[name]++
		}
		unauthorized := func(name string, cred credential, headers ...string) {
			add(name, cred, http.StatusUnauthorized, "unauthorized", headers...)
		}
		references := referencesOwned(base, w.walletIDs())
		if r.security() == "merchantSignature" {
			references = referencesOwned(base, w.merchantIDs())
		}
		switch r.security() {
		case "":
			// Registration and log-in are open to anyone by design: they are
			// how a caller gets credentials.
			tried["public (no credentials needed)"]++
			continue
		case "session":
			unauthorized("no credentials", noCredential)
			unauthorized("malformed session token", bearer("qs_not-a-real-token"))
			unauthorized("not a bearer scheme", noCredential, "Authorization", "Basic cXJwYXk6cXJwYXk=")
			unauthorized("logged-out session", bearer(loggedOut))
			unauthorized("operator token on a wallet route", bearer(gatewaytest.OperatorToken))
			unauthorized("merchant signature on a wallet route", signedBy(env, w.ma))
			switch {
			case references:
				add("another wallet's object", bearer(w.b.Token), http.StatusNotFound, "not_found")
			case r.Method == "GET" && r.takesHeader("Last-Event-ID"):
				// A stream resumed from its start sends b's whole feed at
				// once, so that all of it is read for a's identifiers.
				add("another wallet, own view", bearer(w.b.Token), 0, "", "Last-Event-ID", "0")
			case r.Method == "GET":
				add("another wallet, own view", bearer(w.b.Token), 0, "")
			default:
				tried["another wallet: the route names no object of another owner"]++
			}
		case "merchantSignature":
			unauthorized("no credentials", noCredential)
			unauthorized("malformed signature", forged(env, w.ma.KeyID, "v1=0000"))
			unauthorized("unknown key", forged(env, "qk_NOSUCHKEY0000000", "v1=0000"))
			unauthorized("signed with another key's secret", signedBy(env, gatewaytest.MerchantKey{KeyID: w.ma.KeyID, Secret: w.mb.Secret}))
			unauthorized("stale timestamp", staleBy(env, w.ma, -10*time.Minute))
			unauthorized("revoked key", signedBy(env, revoked))
			unauthorized("operator token on a merchant route", bearer(gatewaytest.OperatorToken))
			unauthorized("wallet session on a merchant route", bearer(w.a.Token))
			switch r.scope() {
			case "pos":
				add("key without the route's scope", signedBy(env, w.maFin), http.StatusForbidden, "forbidden")
			case "finance":
				add("key without the route's scope", signedBy(env, w.maPOS), http.StatusForbidden, "forbidden")
			default:
				tried["scope: the route needs none"]++
			}
			switch {
			case references:
				add("another merchant's object", signedBy(env, w.mb), http.StatusNotFound, "not_found")
			case r.Method == "GET":
				add("another merchant, own view", signedBy(env, w.mb), 0, "")
			default:
				tried["another merchant: the route names no object of another owner"]++
			}
			// The replay: one signature sent twice. The first sending must pass
			// authentication; it carries input the route refuses, so that it
			// changes nothing.
			first := base
			first.Case, first.Cred = "signed once", nil
			if r.Method != "GET" {
				first.Body = []byte(`{}`)
				if r.bodySchema() == nil {
					first.Body = []byte(`{"unexpected":true}`)
				}
			}
			first.Idem = false
			if r.idempotent() {
				first.Headers = []string{"Idempotency-Key", fresh("replay")}
			}
			first.Headers = append(first.Headers, signedBy(env, w.ma)(first.Method, first.Path, first.Body)...)
			second := first
			second.Case = "replayed signature"
			cases = append(cases, authzCase{call: second, status: http.StatusUnauthorized, code: "unauthorized", replayOf: &first})
			tried["replayed signature"]++
		case "operator":
			unauthorized("no credentials", noCredential)
			unauthorized("malformed operator token", bearer("not-the-operator-token"))
			unauthorized("operator token with another scheme", noCredential, "Authorization", "Token "+gatewaytest.OperatorToken)
			unauthorized("wallet session on an operator route", bearer(w.a.Token))
			unauthorized("merchant signature on an operator route", signedBy(env, w.ma))
		default:
			t.Errorf("%s: unknown security scheme %q", r, r.security())
		}
	}

	w.runAuthz(t, cases, owned)

	// Last, since it moves the clock for everyone: every session of a's
	// expires.
	expiring := w.login(t, w.a.Customer)
	env.Clock.Advance(2 * time.Hour) // past the test gateway's SESSION_TTL
	var expired []authzCase
	for _, r := range routes {
		if r.security() != "session" {
			continue
		}
		path, _ := w.path(r, nil)
		var body []byte
		if r.bodySchema() != nil {
			body, _ = json.Marshal(w.validBody(r))
		}
		expired = append(expired, authzCase{call: call{Route: r, Case: "expired session", Method: r.Method, Path: path, Body: body,
			ContentType: "application/json", Idem: r.idempotent(), Cred: bearer(expiring)}, status: http.StatusUnauthorized, code: "unauthorized"})
		tried["expired session"]++
	}
	w.runAuthz(t, expired, owned)

	total := 0
	names := make([]string, 0, len(tried))
	for name, n := range tried {
		total += n
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("%-62s %d", name, tried[name])
	}
	t.Logf("%d cases over %d operations", total, len(routes))
}

// runAuthz sends the cases, a replay only after its first sending, and
// checks every answer.
func (w *world) runAuthz(t *testing.T, cases []authzCase, owned []string) {
	t.Helper()
	var firsts []call
	for _, c := range cases {
		if c.replayOf != nil {
			firsts = append(firsts, *c.replayOf)
		}
	}
	firstResps, firstErrs := w.sendAll(firsts, 4)
	for i, c := range firsts {
		r := firstResps[i]
		if firstErrs[i] != nil || r.Status == http.StatusUnauthorized || r.Status >= 500 {
			t.Errorf("%s = %d %s (%v); want it to pass authentication", c, r.Status, r.Body, firstErrs[i])
		}
	}
	calls := make([]call, len(cases))
	for i, c := range cases {
		calls[i] = c.call
	}
	resps, errs := w.sendAll(calls, 6)
	for i, c := range cases {
		r, err := resps[i], errs[i]
		if err != nil {
			t.Errorf("%s: %v", c.call, err)
			continue
		}
		switch {
		case c.status == 0 && r.Status >= 500:
			t.Errorf("%s = %d %s; want no 5xx", c.call, r.Status, r.Body)
		case c.status != 0 && (r.Status != c.status || r.Code() != c.code):
			t.Errorf("%s = %d %.200s; want %d %s", c.call, r.Status, r.Body, c.status, c.code)
		}
		sent := c.Path + string(c.Body)
		for _, id := range owned {
			if strings.Contains(string(r.Body), id) && !strings.Contains(sent, id) {
				t.Errorf("%s = %d: the answer holds %q, which belongs to another owner: %.300s", c.call, r.Status, id, r.Body)
			}
		}
	}
}

// login opens another session of c and returns its token.
func (w *world) login(t *testing.T, c gatewaytest.Customer) string {
	t.Helper()
	r := w.env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": gatewaytest.Password, "device_id": c.DeviceID})
	if r.Status != http.StatusCreated {
		t.Fatalf("log in = %d %s", r.Status, r.Body)
	}
	var s struct {
		Token string `json:"token"`
	}
	r.JSON(t, &s)
	return s.Token
}

// walletIDs are the identifiers of a's objects.
func (w *world) walletIDs() []string {
	return []string{w.a.WalletID, w.a.Phone, w.a.CardID, w.movement, w.payment, w.aSession, w.device.id, w.charge}
}

// merchantIDs are the identifiers of ma's objects.
func (w *world) merchantIDs() []string {
	return []string{w.ma.MerchantID, w.ma.KeyID, w.maPOS.KeyID, w.maFin.KeyID, w.maSpare.KeyID, w.ma.WebhookSecret,
		w.paid.ID, w.open.ID, w.paidNo, w.refund, w.event, "Matrix Coffee A"}
}

// referencesOwned reports whether the request names one of a's or ma's
// objects, in its path or its body.
func referencesOwned(c call, owned []string) bool {
	for _, id := range owned {
		if strings.Contains(c.Path, id) || strings.Contains(string(c.Body), id) {
			return true
		}
	}
	return false
}

// forged signs nothing: it sends a key id with a signature that is not the
// request's.
func forged(env *gatewaytest.Env, keyID, signature string) credential {
	return func(method, path string, body []byte) []string {
		return []string{sdk.HeaderKey, keyID, sdk.HeaderTimestamp, fmt.Sprint(env.Clock.Now().Unix()),
			sdk.HeaderNonce, fresh("forged-nonce"), sdk.HeaderSignature, signature}
	}
}

// staleBy signs correctly with a timestamp off the clock by skew.
func staleBy(env *gatewaytest.Env, k gatewaytest.MerchantKey, skew time.Duration) credential {
	return func(method, path string, body []byte) []string {
		ts := env.Clock.Now().Add(skew).Unix()
		nonce := fresh("stale-nonce")
		return []string{sdk.HeaderKey, k.KeyID, sdk.HeaderTimestamp, fmt.Sprint(ts), sdk.HeaderNonce, nonce,
			sdk.HeaderSignature, sdk.Sign(k.Secret, method, path, ts, nonce, body)}
	}
}
