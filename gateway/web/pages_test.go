package web_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

var inlineHandler = regexp.MustCompile(`\son[a-z]+=`)

// TestPagesLanguageAndPolicy: every page and asset carries the policy,
// pages speak the caller's language (Accept-Language, or the switch,
// which is remembered), and hold no inline script or style.
func TestPagesLanguageAndPolicy(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	for _, path := range []string{"/wallet/", "/wallet/home", "/wallet/pay", "/wallet/paycode", "/wallet/history", "/wallet/statement",
		"/wallet/analysis", "/wallet/notices", "/finance/", "/assets/app.css", "/assets/wallet.js", "/assets/display.js", "/assets/icon.svg",
		"/assets/jsqr.js", "/assets/jsqr.LICENSE.txt"} {
		r := env.Do(t, "GET", path, nil)
		if r.Status != 200 {
			t.Errorf("GET %s = %d", path, r.Status)
			continue
		}
		checkCSP(t, path, r)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s lacks nosniff or no-referrer", path)
		}
		if strings.HasPrefix(path, "/assets/") {
			continue
		}
		body := string(r.Body)
		if strings.Contains(body, "<script>") || strings.Contains(body, "style=") || inlineHandler.MatchString(body) {
			t.Errorf("GET %s has inline script or style", path)
		}
		if !strings.Contains(body, `name="viewport"`) {
			t.Errorf("GET %s has no viewport for phones", path)
		}
	}
	for _, path := range []string{"/wallet/nope", "/assets/nope.js", "/assets/app.exe"} {
		if r := env.Do(t, "GET", path, nil); r.Status != 404 {
			t.Errorf("GET %s = %d; want 404", path, r.Status)
		}
	}

	if r := env.Do(t, "GET", "/wallet/home", nil, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"); !strings.Contains(string(r.Body), "首页") ||
		!strings.Contains(string(r.Body), `lang="zh-CN"`) {
		t.Errorf("Accept-Language zh: the page is not in Chinese")
	}
	if r := env.Do(t, "GET", "/wallet/home", nil, "Accept-Language", "en-US"); !strings.Contains(string(r.Body), ">Home<") {
		t.Errorf("Accept-Language en: the page is not in English")
	}
	r := env.Do(t, "GET", "/wallet/home?lang=zh", nil, "Accept-Language", "en-US")
	if !strings.Contains(string(r.Body), "首页") || !strings.Contains(r.Header.Get("Set-Cookie"), "qrpay_lang=zh") {
		t.Fatalf("?lang=zh: not Chinese, or not remembered (%s)", r.Header.Get("Set-Cookie"))
	}
	if r := env.Do(t, "GET", "/wallet/home", nil, "Accept-Language", "en-US", "Cookie", "qrpay_lang=zh"); !strings.Contains(string(r.Body), "首页") {
		t.Errorf("the remembered language does not win over Accept-Language")
	}
}
