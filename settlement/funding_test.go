package settlement_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/settlement"
)

// TestFileShowsTheFundingAndKeepsOldLayouts: the file of a day with a
// card-funded payment names each row's funding in its last column, and
// its totals are the ledger's; a day settled in the first layout, which
// had no such column, is regenerated from the ledger in that layout, byte
// for byte.
func TestFileShowsTheFundingAndKeepsOldLayouts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-07-01")
	ctx := context.Background()
	const date = "2026-07-01"
	f.pay(t, 2000, day(date, 9, 0, 0))
	o := f.env.CreateOrder(t, f.m, 3000)
	if r := f.env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": f.payer.CardID,
		"pin": f.payer.PIN, "funding": "card"}, f.payer.Idem("card-settle-1")...); r.Status != http.StatusCreated {
		t.Fatalf("card-funded payment = %d %s", r.Status, r.Body)
	}
	f.move(t, `SELECT payment_id FROM orders WHERE id = $1`, o.ID, day(date, 10, 0, 0))
	f.refund(t, o, 1000, day(date, 11, 0, 0))

	if _, err := f.svc.Run(ctx, date, "", false); err != nil {
		t.Fatal(err)
	}
	st, recs, raw := f.file(t, date)
	if st.FormatVersion != settlement.FormatV2 || !bytes.Contains(raw, []byte("H,format_version,"+settlement.FormatV2+"\n")) {
		t.Errorf("format = %q; want %s", st.FormatVersion, settlement.FormatV2)
	}
	details := rows(recs, "D")
	if len(details) != 4 || details[0][len(details[0])-1] != "funding" {
		t.Fatalf("detail rows = %v; want a header ending in funding and 3 rows", details)
	}
	for i, want := range []string{"balance", "card", "card"} {
		if got := details[i+1][len(details[i+1])-1]; got != want {
			t.Errorf("row %d (%s) funding = %q; want %q", i+1, details[i+1][1], got, want)
		}
	}
	if st.PaymentsAmount != 5000 || st.RefundsAmount != 1000 {
		t.Errorf("settlement = %+v; want 5000 paid, 1000 refunded", st)
	}
	checks, err := f.svc.Verify(ctx, date, f.m.MerchantID)
	if err != nil || len(checks) != 1 || !checks[0].OK {
		t.Fatalf("verify = %+v, %v; want ok", checks, err)
	}

	// The same day as the first layout wrote it: no funding column.
	var v1 bytes.Buffer
	cw := csv.NewWriter(&v1)
	for _, rec := range recs {
		switch {
		case rec[0] == "H" && rec[1] == "format_version":
			rec = []string{"H", "format_version", settlement.FormatV1}
		case rec[0] == "D":
			rec = rec[:len(rec)-1]
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	sum := sha256.Sum256(v1.Bytes())
	v1sum := hex.EncodeToString(sum[:])
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE settlements SET format_version = $3, sha256 = $4, file_size = $5 WHERE merchant_id = $1 AND business_date = $2`,
			[]any{f.m.MerchantID, date, settlement.FormatV1, v1sum, v1.Len()}},
		{`DELETE FROM settlement_file_chunks WHERE merchant_id = $1 AND business_date = $2`, []any{f.m.MerchantID, date}},
		{`INSERT INTO settlement_file_chunks (merchant_id, business_date, seq, data) VALUES ($1, $2, 0, $3)`,
			[]any{f.m.MerchantID, date, v1.Bytes()}},
	} {
		if _, err := f.env.Pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	checks, err = f.svc.Verify(ctx, date, f.m.MerchantID)
	if err != nil || len(checks) != 1 || !checks[0].OK || checks[0].SHA256 != v1sum {
		t.Errorf("verify of a day settled in %s = %+v, %v; want ok, regenerated with checksum %s",
			settlement.FormatV1, checks, err, v1sum)
	}
}
