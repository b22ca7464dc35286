package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// settledToday pays an order of amount to k's merchant and settles today
// (closing it early), as the nightly job would; it returns the day.
func settledToday(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, amount int64) string {
	t.Helper()
	p := env.NewPayer(t, amount*2)
	env.Pay(t, p, env.CreateOrder(t, k, amount).QRPayload)
	today := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format(time.DateOnly)
	r := env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": today, "close_early": true, "merchant_id": k.MerchantID},
		"Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"result":"settled"`) {
		t.Fatalf("settle = %d %s", r.Status, r.Body)
	}
	return today
}

// console is a browser-like client of the finance console: it keeps
// cookies and follows no redirect.
type console struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsole(t *testing.T, env *gatewaytest.Env) *console {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &console{t: t, base: env.URL, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *console) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in %s", page)
	}
	return m[1]
}

// signIn opens the sign-in form and posts the key; it returns the answer.
func (c *console) signIn(k gatewaytest.MerchantKey) (*http.Response, string) {
	c.t.Helper()
	_, page := c.do("GET", "/finance/", nil)
	return c.do("POST", "/finance/session", url.Values{"csrf": {csrfOf(c.t, page)}, "key_id": {k.KeyID}, "secret": {k.Secret}})
}

// TestFinanceConsole: sign-in needs a finance key and the form's CSRF
// token; the session cookie is HttpOnly and SameSite=Strict; the console
// shows the merchant's own settled days, with checksums that match the
// downloads and their reconciliation; sign-out needs the session's CSRF
// token and ends the session; a revoked key ends it too.
func TestFinanceConsole(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a := env.NewMerchant(t, map[string]any{"name": "Harbour Books"})
	b := env.NewMerchant(t, map[string]any{"name": "Other Shop"})
	posOnly := env.NewMerchant(t, nil, "pos")
	today := settledToday(t, env, a, 12345)
	settledToday(t, env, b, 777)

	c := newConsole(t, env)
	resp, page := c.do("GET", "/finance/", nil)
	checkCSP(t, "sign-in page", gatewaytest.Response{Header: resp.Header})
	if resp.StatusCode != 200 || !strings.Contains(page, `action="/finance/session"`) {
		t.Fatalf("sign-in page = %d %s", resp.StatusCode, page)
	}
	// No CSRF token, or another one: refused, no session.
	if resp, _ := c.do("POST", "/finance/session", url.Values{"key_id": {a.KeyID}, "secret": {a.Secret}}); resp.StatusCode != 403 {
		t.Errorf("sign-in without the CSRF token = %d; want 403", resp.StatusCode)
	}
	if resp, _ := c.do("POST", "/finance/session", url.Values{"csrf": {"forged"}, "key_id": {a.KeyID}, "secret": {a.Secret}}); resp.StatusCode != 403 {
		t.Errorf("sign-in with a forged CSRF token = %d; want 403", resp.StatusCode)
	}
	// A key without the finance scope, or a wrong secret: refused.
	if resp, _ := c.signIn(posOnly); resp.StatusCode != 401 {
		t.Errorf("sign-in with a pos-only key = %d; want 401", resp.StatusCode)
	}
	wrong := a
	wrong.Secret = b.Secret
	if resp, _ := c.signIn(wrong); resp.StatusCode != 401 {
		t.Errorf("sign-in with another key's secret = %d; want 401", resp.StatusCode)
	}

	resp, _ = c.signIn(a)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d; want 303", resp.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "qrpay_console" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/finance" || session.MaxAge <= 0 {
		t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Strict, Path=/finance, a lifetime", session)
	}
	if session.Secure {
		t.Errorf("session cookie is Secure over plain HTTP; it would never come back")
	}

	resp, page = c.do("GET", "/finance/", nil)
	checkCSP(t, "console", gatewaytest.Response{Header: resp.Header})
	if !strings.Contains(page, "Harbour Books") || !strings.Contains(page, `data-date="`+today+`"`) || !strings.Contains(page, "¥123.45") {
		t.Fatalf("console = %d %s; want A's settled day", resp.StatusCode, page)
	}
	if strings.Contains(page, "Other Shop") || strings.Contains(page, "7.77") {
		t.Errorf("A's console shows B's settlement")
	}
	if !strings.Contains(page, "✓ Agrees with the ledger") {
		t.Errorf("console lacks the day's reconciliation")
	}
	if n := strings.Count(page, `<rect class="bar`); n != 30 {
		t.Errorf("chart has %d bars; want 30", n)
	}
	sha := regexp.MustCompile(`<span class="sha256">([0-9a-f]{64})</span>`).FindStringSubmatch(page)
	if sha == nil {
		t.Fatal("no SHA-256 shown")
	}
	resp, file := c.do("GET", "/finance/settlements/"+today+"/file", nil)
	sum := sha256.Sum256([]byte(file))
	if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != sha[1] || resp.Header.Get("X-Content-SHA256") != sha[1] {
		t.Fatalf("download = %d, sha %x; want the shown %s", resp.StatusCode, sum, sha[1])
	}
	if resp, _ := c.do("GET", "/finance/settlements/2001-01-01/file", nil); resp.StatusCode != 404 {
		t.Errorf("download of an unsettled day = %d; want 404", resp.StatusCode)
	}

	// Sign-out needs the session's token; then the session is gone, even
	// for a client that kept the cookie.
	if resp, _ := c.do("POST", "/finance/session/end", url.Values{"csrf": {"forged"}}); resp.StatusCode != 403 {
		t.Errorf("sign-out with a forged CSRF token = %d; want 403", resp.StatusCode)
	}
	_, page = c.do("GET", "/finance/", nil)
	if resp, _ := c.do("POST", "/finance/session/end", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out = %d; want 303", resp.StatusCode)
	}
	kept := newConsole(t, env)
	u, _ := url.Parse(env.URL + "/finance/")
	kept.c.Jar.SetCookies(u, []*http.Cookie{{Name: "qrpay_console", Value: session.Value, Path: "/finance"}})
	if _, page := kept.do("GET", "/finance/", nil); !strings.Contains(page, `action="/finance/session"`) {
		t.Errorf("after sign-out the old cookie still opens the console")
	}
	if resp, _ := kept.do("GET", "/finance/settlements/"+today+"/file", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out the old cookie still downloads: %d", resp.StatusCode)
	}

	// A revoked key ends its sessions.
	c2 := newConsole(t, env)
	if resp, _ := c2.signIn(a); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", resp.StatusCode)
	}
	if r := env.Do(t, "DELETE", "/v1/admin/merchants/"+a.MerchantID+"/keys/"+a.KeyID, nil,
		"Authorization", "Bearer "+gatewaytest.OperatorToken); r.Status >= 300 {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	if _, page := c2.do("GET", "/finance/", nil); !strings.Contains(page, `action="/finance/session"`) {
		t.Errorf("a revoked key's session still opens the console")
	}
}
