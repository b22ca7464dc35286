package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestBrowserFinanceConsole signs in to the finance console in Chromium
// with a finance key, sees a settled day with its reconciliation and chart
// bar, and downloads its file: the file's SHA-256 is the one shown.
func TestBrowserFinanceConsole(t *testing.T) {
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"name": "Harbour Books"})
	today := settledToday(t, env, k, 12345)
	b := newBrowser(t, 1200, 900)

	b.open(env.URL+"/finance/", "#signin")
	b.run("sign in", 20*time.Second,
		chromedp.SendKeys(chromedp.ID("key_id"), k.KeyID),
		chromedp.SendKeys(chromedp.ID("secret"), k.Secret),
		chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("settlements")),
	)
	row := `#settlements tr[data-date="` + today + `"]`
	if got := b.text(row + " .net"); got != "¥122.71" { // 123.45 less the 0.60 % fee (74 fen)
		t.Errorf("the day's net = %q; want ¥122.71", got)
	}
	if got := b.text(row + " .reconciliation"); got != "✓ Agrees with the ledger" {
		t.Errorf("reconciliation = %q", got)
	}
	if got := eval[string](b, `document.querySelector('#net-chart rect[data-date="`+today+`"]').getAttribute("data-net")`); got != "12271" {
		t.Errorf("the chart's bar for %s has net %s; want 12271", today, got)
	}
	shown := b.text(row + " .sha256")
	b.screenshot("finance-console")

	dir := t.TempDir()
	// Subscribe before clicking, so no event is lost; bounded in time.
	dctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(dctx, cdpbrowser.DownloadProgress)
	b.run("download", 20*time.Second,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			events := true
			_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events})
			return err
		}),
		chromedp.Click(chromedp.CSS(row+" a.download")),
	)
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("the download was cancelled")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != shown || len(data) == 0 {
		t.Errorf("the downloaded file's SHA-256 is %s (%d bytes); the console shows %s", got, len(data), shown)
	}
}
