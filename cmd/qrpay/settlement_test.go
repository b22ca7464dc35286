package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// settledDay makes a merchant with one paid order and settles today for it.
func settledDay(t *testing.T, env *gatewaytest.Env) (gatewaytest.MerchantKey, gatewaytest.Order, string) {
	t.Helper()
	k := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, k, 4321)
	env.Pay(t, env.NewPayer(t, 100000), o.QRPayload)
	day := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format(time.DateOnly)
	r := env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": day, "merchant_id": k.MerchantID, "close_early": true},
		"Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != http.StatusOK {
		t.Fatalf("settle %s = %d %s", day, r.Status, r.Body)
	}
	return k, o, day
}

func TestSettlementCommands(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k, o, day := settledDay(t, env)
	creds := keyFlags(env, k)

	stdout, stderr, code := qrpay(t, append([]string{"settlement", "list", "-from", day, "-to", day}, creds...)...)
	if code != 0 {
		t.Fatalf("settlement list = %d: %s", code, stderr)
	}
	list := decode[[]sdk.Settlement](t, stdout)
	if len(list) != 1 || list[0].Date != day || list[0].PaymentsAmount != 4321 || list[0].Status != "settled" {
		t.Fatalf("settlement list printed %+v; want today's, with 4321", list)
	}
	st := list[0]
	if stdout, _, code = qrpay(t, append([]string{"settlement", "list", "-to", "2000-01-01"}, creds...)...); code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("an empty settlement list = %d %q; want []", code, stdout)
	}

	// Into a directory: the file takes the gateway's name.
	dir := t.TempDir()
	stdout, stderr, code = qrpay(t, append([]string{"settlement", "download", "-date", day, "-o", dir}, creds...)...)
	if code != 0 {
		t.Fatalf("settlement download = %d: %s", code, stderr)
	}
	got := decode[downloaded](t, stdout)
	if got.Path != filepath.Join(dir, st.FileName) || got.Size != st.FileSize || got.SHA256 != st.SHA256 || got.Date != day {
		t.Errorf("download printed %+v; want %s, %d bytes, %s", got, filepath.Join(dir, st.FileName), st.FileSize, st.SHA256)
	}
	b, err := os.ReadFile(got.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != st.SHA256 || !bytes.Contains(b, []byte(o.ID)) {
		t.Errorf("the saved file has SHA-256 %x (want %s) or lacks order %s", sum, st.SHA256, o.ID)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("the directory holds %v; want only the file, no temporary left", names)
	}

	// To a chosen file.
	target := filepath.Join(dir, "day.csv")
	stdout, stderr, code = qrpay(t, append([]string{"settlement", "download", "-date", day, "-o", target}, creds...)...)
	if got := decode[downloaded](t, stdout); code != 0 || got.Path != target {
		t.Errorf("download -o %s = %d %+v %s", target, code, got, stderr)
	}
	if b2, err := os.ReadFile(target); err != nil || !bytes.Equal(b, b2) {
		t.Errorf("the two downloads differ (%v)", err)
	}
}

func TestSettlementDownloadRefusesATamperedFile(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k, _, day := settledDay(t, env)
	proxy := tamperingProxy(t, env.URL)
	dir := t.TempDir()
	stdout, stderr, code := qrpay(t, "settlement", "download", "-date", day, "-o", dir, "-url", proxy.URL, "-key", k.KeyID, "-secret", k.Secret)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "checksum mismatch") {
		t.Errorf("download through a proxy that alters a byte = %d, stdout %q, stderr %q; want exit 1 and a checksum mismatch", code, stdout, stderr)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("the directory holds %v after a refused download; want nothing", names)
	}
}

func TestSettlementDownloadFailures(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k, _, day := settledDay(t, env)
	posOnly := env.NewMerchant(t, nil, "pos")
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong secret", []string{"-date", day, "-url", env.URL, "-key", k.KeyID, "-secret", k.Secret + "x"}, "unauthorized"},
		{"pos key", []string{"-date", day, "-url", env.URL, "-key", posOnly.KeyID, "-secret", posOnly.Secret}, "forbidden"},
		{"unsettled day", []string{"-date", "2020-01-01", "-url", env.URL, "-key", k.KeyID, "-secret", k.Secret}, "not_found"},
		{"bad date", []string{"-date", "yesterday", "-url", env.URL, "-key", k.KeyID, "-secret", k.Secret}, "YYYY-MM-DD"},
	} {
		_, stderr, code := qrpay(t, append([]string{"settlement", "download", "-o", dir}, tt.args...)...)
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: download = %d %s; want exit 1 with %q", tt.name, code, stderr, tt.want)
		}
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("failed downloads left %v", names)
	}
}

func TestSettlementFileName(t *testing.T) {
	for _, tt := range []struct{ cd, want string }{
		{`attachment; filename="qrpay-settlement-M1-2026-11-25.csv"`, "qrpay-settlement-M1-2026-11-25.csv"},
		{``, "qrpay-settlement-2026-11-25.csv"},
		{`attachment`, "qrpay-settlement-2026-11-25.csv"},
		{`attachment; filename="../../etc/passwd"`, "qrpay-settlement-2026-11-25.csv"},
		{`attachment; filename="a\\b.csv"`, "qrpay-settlement-2026-11-25.csv"},
		{`attachment; filename=".profile"`, "qrpay-settlement-2026-11-25.csv"},
	} {
		if got := settlementFileName(tt.cd, "2026-11-25"); got != tt.want {
			t.Errorf("settlementFileName(%q) = %q; want %q", tt.cd, got, tt.want)
		}
	}
}

func TestDownloadBarCountsBytes(t *testing.T) {
	var out bytes.Buffer
	bar := newDownloadBar(&out, 2048, "settlement 2026-11-25")
	bar.Write(make([]byte, 2048))
	bar.Finish()
	if !strings.Contains(out.String(), "settlement 2026-11-25") || !strings.Contains(out.String(), "100%") {
		t.Errorf("progress bar drew %q", out.String())
	}
	if isTerminal(&out) {
		t.Error("a buffer is taken for a terminal")
	}
}

// tamperingProxy forwards to the gateway but flips one byte of every
// settlement file it passes on, leaving the ETag as the gateway sent it.
func tamperingProxy(t *testing.T, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("Accept-Encoding") // the file comes plain, to alter
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/file") || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0x01
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
