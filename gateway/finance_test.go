package gateway_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/settlement"
)

func TestFinanceDownloads(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a := env.NewMerchant(t, nil)
	b := env.NewMerchant(t, map[string]any{"name": "Other Shop"})
	posOnly := env.NewMerchant(t, nil, "pos")
	p := env.NewPayer(t, 100000)
	o := env.CreateOrder(t, a, 4321)
	env.Pay(t, p, o.QRPayload)
	today := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format(time.DateOnly)

	r := env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": today}, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != 400 {
		t.Errorf("settle today without close_early = %d %s; want 400", r.Status, r.Body)
	}
	r = env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": today, "close_early": true}, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != 200 || strings.Count(string(r.Body), `"result":"settled"`) != 3 {
		t.Fatalf("settle = %d %s; want three merchants settled", r.Status, r.Body)
	}

	var page settlement.Page
	env.Signed(t, a, "GET", "/v1/settlements?from="+today+"&to="+today, nil).JSON(t, &page)
	if len(page.Data) != 1 || page.Data[0].PaymentsAmount != 4321 {
		t.Fatalf("A's settlements = %+v; want today's with 4321", page.Data)
	}
	st := page.Data[0]
	r = env.Signed(t, a, "GET", "/v1/settlements/"+today+"/file", nil)
	sum := sha256.Sum256(r.Body)
	if r.Status != 200 || hex.EncodeToString(sum[:]) != st.SHA256 || r.Header.Get("ETag") != `"`+st.SHA256+`"` {
		t.Fatalf("download = %d, ETag %s, sha %x; want the settled checksum %s", r.Status, r.Header.Get("ETag"), sum, st.SHA256)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="qrpay-settlement-`) || !strings.Contains(cd, today) {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if !strings.Contains(string(r.Body), o.ID) {
		t.Errorf("A's file lacks A's order")
	}
	plain := r.Body
	r = env.Signed(t, a, "GET", "/v1/settlements/"+today+"/file", nil, "Accept-Encoding", "gzip")
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip download: Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain) {
		t.Errorf("gzip download differs from the plain one")
	}
	if r := env.Signed(t, a, "GET", "/v1/settlements/"+today+"/file", nil, "If-None-Match", `"`+st.SHA256+`"`); r.Status != http.StatusNotModified {
		t.Errorf("If-None-Match = %d; want 304", r.Status)
	}
	if r := env.Signed(t, a, "GET", "/v1/settlements/"+today+"/verify", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"ok":true`) {
		t.Errorf("verify = %d %s", r.Status, r.Body)
	}
	// B sees only its own day, and its file has none of A's orders.
	r = env.Signed(t, b, "GET", "/v1/settlements/"+today+"/file", nil)
	if r.Status != 200 || strings.Contains(string(r.Body), o.ID) {
		t.Errorf("B's file = %d; it must exist and not contain A's order", r.Status)
	}
	var bs settlement.Settlement
	env.Signed(t, b, "GET", "/v1/settlements/"+today, nil).JSON(t, &bs)
	if bs.MerchantID != b.MerchantID || bs.PaymentsCount != 0 {
		t.Errorf("B's settlement = %+v; want B's own, empty", bs)
	}
	if r := env.Signed(t, posOnly, "GET", "/v1/settlements", nil); r.Status != 403 {
		t.Errorf("a pos key lists settlements = %d; want 403", r.Status)
	}
	if r := env.Signed(t, a, "GET", "/v1/settlements/2020-01-01/file", nil); r.Status != 404 {
		t.Errorf("an unsettled day = %d; want 404", r.Status)
	}
	r = env.Do(t, "GET", "/v1/admin/settlements/verify?date="+today, nil, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r.Status != 200 || !strings.HasPrefix(string(r.Body), `{"ok":true`) {
		t.Errorf("admin verify = %d %s", r.Status, r.Body)
	}
}

// TestSettlementFailuresShowCodesNotInternals: a merchant's settlement that
// fails in the database answers with a code and a safe message; the
// database's own text stays in the log.
func TestSettlementFailuresShowCodesNotInternals(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 10_000)
	env.Pay(t, p, env.CreateOrder(t, a, 700).QRPayload)
	if _, err := env.Pool.Exec(t.Context(), `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'tablespace ts_fin_07 is full on host db-internal-3'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON settlements FOR EACH STATEMENT EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	today := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format(time.DateOnly)
	r := env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": today, "close_early": true},
		"Authorization", "Bearer "+gatewaytest.OperatorToken)
	var res struct {
		Data []settlement.Outcome `json:"data"`
	}
	r.JSON(t, &res)
	if r.Status != http.StatusOK || len(res.Data) != 1 || res.Data[0].Result != "failed" {
		t.Fatalf("settle = %d %s; want one failed merchant", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "db-internal-3") || res.Data[0].Code != "internal" || res.Data[0].Error == "" {
		t.Errorf("failed settlement = %s; want code internal and a message without the database's text", r.Body)
	}
	if !strings.Contains(env.Logs.String(), "db-internal-3") {
		t.Error("the cause is not in the log")
	}
}
