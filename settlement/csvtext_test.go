package settlement_test

import (
	"context"
	"net/http"
	"testing"
)

// TestFileNeutralisesFormulas: text a merchant or POS chose (the merchant's
// name, order numbers, terminal ids) cannot be read as a formula by a
// spreadsheet opening the settlement file; amounts stay plain numbers.
func TestFileNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-03-10")
	const date = "2026-03-10"
	if _, err := f.env.Pool.Exec(context.Background(), `UPDATE merchants SET name = '=HYPERLINK("x")'`); err != nil {
		t.Fatal(err)
	}
	r := f.env.Signed(t, f.m, "POST", "/v1/orders", map[string]any{"merchant_order_no": "=1+2", "amount": 500,
		"terminal_id": "@SUM(A1)"}, "Idempotency-Key", "formula-order")
	if r.Status != http.StatusCreated {
		t.Fatalf("create order = %d %s", r.Status, r.Body)
	}
	var o struct {
		ID        string `json:"id"`
		QRPayload string `json:"qr_payload"`
	}
	r.JSON(t, &o)
	f.env.Pay(t, f.payer, o.QRPayload)
	f.move(t, `SELECT payment_id FROM orders WHERE id = $1`, o.ID, day(date, 9, 0, 0))
	if _, err := f.svc.Run(context.Background(), date, "", false); err != nil {
		t.Fatal(err)
	}
	_, recs, _ := f.file(t, date)
	for _, rec := range recs {
		if rec[0] == "H" && rec[1] == "merchant_name" && rec[2] != `'=HYPERLINK("x")` {
			t.Errorf("merchant_name cell = %q; want it to start with '", rec[2])
		}
	}
	d := rows(recs, "D")
	if len(d) != 2 { // the column names, then the payment
		t.Fatalf("D rows = %q; want the header and one payment", d)
	}
	if got := d[1][4]; got != "'=1+2" {
		t.Errorf("merchant_order_no cell = %q; want '=1+2", got)
	}
	if got := d[1][11]; got != "'@SUM(A1)" {
		t.Errorf("terminal_id cell = %q; want '@SUM(A1)", got)
	}
	if got := d[1][6]; got != "500" {
		t.Errorf("amount cell = %q; want the plain number 500", got)
	}
}
