package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/gateway/web"
)

// The browser tests drive Debian's chromium (make test installs it, through
// .ci/test-deps). Without it they fail: a page no browser ever opened is
// not tested.

// browser is a headless Chromium tab and what its pages said.
type browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	// problems are console errors, uncaught exceptions and browser log
	// errors (a CSP violation, a failed load): any fails the test.
	problems []string
	// allowed are problems the test expects, by their text.
	allowed []string
	shots   string
}

// allow expects one problem report containing text: an error answer the
// API gives on purpose (otp_required, say), which the browser logs as a
// failed load.
func (b *browser) allow(text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, text)
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: apt-get install chromium (make test installs it through .ci/test-deps)")
	return ""
}

// screenshotDir is where screenshots go: $WEB_SCREENSHOTS, or a directory
// under the system's temporary directory. Never the repository.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("WEB_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "qrpay-web-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts Chromium for the test, phone-sized unless width says
// otherwise; it closes when the test ends, and fails the test if any page
// logged an error.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests run as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	return startTab(t, actx, screenshotDir(t))
}

func (b *browser) report(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, a := range b.allowed {
		if strings.Contains(p, a) {
			b.allowed = append(b.allowed[:i], b.allowed[i+1:]...)
			return
		}
	}
	b.problems = append(b.problems, p)
}

// newTab opens another tab in b's browser.
func (b *browser) newTab() *browser {
	b.t.Helper()
	return startTab(b.t, b.ctx, b.shots)
}

// startTab opens a tab under parent (an allocator: a new browser; a tab:
// another tab of its browser) and watches what its pages report.
func startTab(t *testing.T, parent context.Context, shots string) *browser {
	t.Helper()
	ctx, cancelCtx := chromedp.NewContext(parent)
	b := &browser{t: t, ctx: ctx, shots: shots}
	// The first action starts the browser: with no timeout on its context,
	// which would stop the browser with it (each step has its own).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelCtx()
		t.Fatalf("starting Chromium: %v", err)
	}
	// Console messages, uncaught exceptions and browser log entries (a CSP
	// violation, a failed load) of warning or error level are problems.
	watch, stopWatch := context.WithCancel(ctx)
	done := make(chan struct{})
	messages := chromedp.Console(watch)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				b.report(m.String() + " " + m.URL)
			}
		}
	}()
	t.Cleanup(func() {
		stopWatch()
		<-done
		cancelCtx()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("the browser reported: %s", p)
		}
	})
	return b
}

// run runs actions within timeout, failing the test at once otherwise.
func (b *browser) run(step string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", step, err)
	}
}

// value runs one action that returns a value, within timeout.
func value[T any](b *browser, step string, timeout time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", step, err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return value(b, "evaluate "+expr, 10*time.Second, chromedp.Evaluate[T](expr))
}

// text reads the text of the first node matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(value(b, "read "+sel, 10*time.Second, chromedp.Text(chromedp.CSS(sel))))
}

// waitText waits until the node matching sel holds want.
func (b *browser) waitText(sel, want string, timeout time.Duration) {
	b.t.Helper()
	var got string
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	for {
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[string](
			`(function(){var e=document.querySelector(`+strconv.Quote(sel)+`);return e?e.textContent:""})()`))
		if strings.Contains(got, want) {
			return
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("browser: %s says %q; want %q within %s", sel, got, want, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// screenshot writes a full-page PNG under the screenshot directory.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	png := value(b, "screenshot "+name, 20*time.Second, chromedp.FullScreenshot(100))
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// open navigates to url, waits for sel to be visible, and checks the page
// came with the Content-Security-Policy.
func (b *browser) open(url, sel string) {
	b.t.Helper()
	resp := value(b, "open "+url, 20*time.Second, chromedp.NavigateResponse(url))
	if resp.Status != 200 {
		b.t.Fatalf("browser: %s answered %d", url, resp.Status)
	}
	if got := fmt.Sprint(resp.Headers["Content-Security-Policy"]); got != web.ContentSecurityPolicy {
		b.t.Errorf("browser: %s came with Content-Security-Policy %q; want %q", url, got, web.ContentSecurityPolicy)
	}
	b.run("wait for "+sel, 10*time.Second, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// signIn signs c in to the wallet pages from this browser, a new device:
// the sign-in is answered otp_required, and the code sent to c's phone is
// entered. It ends on the home page.
func (b *browser) signIn(env *gatewaytest.Env, c gatewaytest.Customer) {
	b.t.Helper()
	b.allow("403 (Forbidden) " + env.URL + "/v1/wallet/sessions")
	b.open(env.URL+"/wallet/", "#signin")
	b.run("sign in", 10*time.Second,
		chromedp.SendKeys(chromedp.ID("phone"), c.Phone),
		chromedp.SendKeys(chromedp.ID("password"), gatewaytest.Password),
		chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	challenge := eval[string](b, `document.getElementById("code-dialog").dataset.challenge`)
	b.run("enter the code", 15*time.Second,
		chromedp.SendKeys(chromedp.ID("code"), env.Message(b.t, challenge).Code),
		chromedp.Click(chromedp.CSS(`#code-dialog button[value="ok"]`)),
		chromedp.WaitVisible(chromedp.ID("cards")),
	)
}
