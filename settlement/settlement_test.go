package settlement_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/settlement"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// fixture is a gateway with one merchant, a payer, and a settlement service
// whose clock runs two days ahead, so that "today" has ended for it.
type fixture struct {
	env   *gatewaytest.Env
	m     gatewaytest.MerchantKey
	payer gatewaytest.Payer
	svc   *settlement.Service
	files settlement.Files
}

// newFixture's merchant was onboarded on the day since (local midnight):
// its first settlement is that day's.
func newFixture(t *testing.T, since string) *fixture {
	t.Helper()
	env := gatewaytest.Start(t)
	f := &fixture{env: env, m: env.NewMerchant(t, nil), payer: env.NewPayer(t, 500_000)}
	f.files = settlement.PGFiles{Pool: env.DB}
	if _, err := env.Pool.Exec(context.Background(), `UPDATE merchants SET created_at = $1`, day(since, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	f.svc = settlement.New(settlement.Config{Location: shanghai, Now: func() time.Time { return time.Now().Add(72 * time.Hour) }},
		env.DB, env.Ledger, f.files)
	return f
}

// pay pays a new order of amount and moves the payment to instant at.
func (f *fixture) pay(t *testing.T, amount int64, at time.Time) gatewaytest.Order {
	t.Helper()
	o := f.env.CreateOrder(t, f.m, amount)
	f.env.Pay(t, f.payer, o.QRPayload)
	f.move(t, `SELECT payment_id FROM orders WHERE id = $1`, o.ID, at)
	return o
}

// refund refunds part of an order and moves the refund to instant at.
func (f *fixture) refund(t *testing.T, o gatewaytest.Order, amount int64, at time.Time) {
	t.Helper()
	f.env.Refund(t, f.m, o.ID, amount)
	f.move(t, `SELECT transfer_id FROM refunds WHERE order_id = $1 ORDER BY created_at DESC LIMIT 1`, o.ID, at)
}

// move re-dates a committed transfer (and its postings) to at, as if it
// had happened then; balances are untouched.
func (f *fixture) move(t *testing.T, find, id string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	var transfer string
	if err := f.env.Pool.QueryRow(ctx, find, id).Scan(&transfer); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE transfers SET created_at = $2 WHERE id = $1`, `UPDATE postings SET created_at = $2 WHERE transfer_id = $1`} {
		if _, err := f.env.Pool.Exec(ctx, q, transfer, at); err != nil {
			t.Fatal(err)
		}
	}
}

func day(date string, hh, mm, ss int) time.Time {
	d, _ := time.ParseInLocation(time.DateOnly, date, shanghai)
	return d.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second)
}

func (f *fixture) file(t *testing.T, date string) (settlement.Settlement, [][]string, []byte) {
	t.Helper()
	st, r, err := f.svc.Open(context.Background(), f.m.MerchantID, date)
	if err != nil {
		t.Fatalf("open %s: %v", date, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("the file is not CSV: %v\n%s", err, b)
	}
	return st, recs, b
}

func rows(recs [][]string, kind string) [][]string {
	var out [][]string
	for _, r := range recs {
		if r[0] == kind {
			out = append(out, r)
		}
	}
	return out
}

func TestSettleADay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-03-10")
	ctx := context.Background()
	const date = "2026-03-10"
	a := f.pay(t, 10000, day(date, 9, 0, 0))
	f.pay(t, 2550, day(date, 12, 30, 0))
	f.pay(t, 1, day(date, 18, 0, 0))
	f.refund(t, a, 4000, day(date, 20, 0, 0))
	f.pay(t, 777, day("2026-03-11", 0, 0, 1)) // the next day's

	out, err := f.svc.Run(ctx, date, "", false)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(out) != 1 || out[0].Result != "settled" {
		t.Fatalf("Run = %+v; want the merchant settled", out)
	}
	st, recs, raw := f.file(t, date)
	// Fees at 60 bps, half up: 10000 → 60, 2550 → 15.3 → 15, 1 → 0; the refund returns round(60 × 4000/10000) = 24.
	want := settlement.Settlement{PaymentsCount: 3, PaymentsAmount: 12551, RefundsCount: 1, RefundsAmount: 4000, Fees: 60 + 15 - 24}
	want.Net = want.PaymentsAmount - want.RefundsAmount - want.Fees
	if st.PaymentsCount != want.PaymentsCount || st.PaymentsAmount != want.PaymentsAmount || st.RefundsCount != 1 ||
		st.RefundsAmount != 4000 || st.Fees != want.Fees || st.Net != want.Net {
		t.Errorf("settlement = %+v; want %+v", st, want)
	}
	if details := rows(recs, "D"); len(details) != 5 { // the column header and 4 rows
		t.Errorf("detail records = %d; want a header and 4 rows:\n%s", len(details), raw)
	}
	total := rows(recs, "S")[3]
	if total[1] != "total" || total[5] != i64(want.Net) {
		t.Errorf("total summary = %v; want net %d", total, want.Net)
	}
	for _, h := range [][2]string{{"format_version", settlement.FormatVersion}, {"business_date", date}, {"time_zone", "Asia/Shanghai"}, {"currency", "CNY"}} {
		if !bytes.Contains(raw, []byte("H,"+h[0]+","+h[1]+"\n")) {
			t.Errorf("file lacks header %s = %s", h[0], h[1])
		}
	}
	// The net moved from the merchant account to the payout account.
	var merchantBal, payoutBal int64
	f.env.Pool.QueryRow(ctx, `SELECT a.balance, p.balance FROM merchants m JOIN accounts a ON a.id = m.account_id
		JOIN accounts p ON p.id = m.payout_account_id WHERE m.id = $1`, f.m.MerchantID).Scan(&merchantBal, &payoutBal)
	if payoutBal != want.Net || merchantBal != 777-5 { // only the next day's payment (777 less its fee 4.662 → 5) is left
		t.Errorf("merchant = %d, payout = %d; want %d and %d", merchantBal, payoutBal, 777-5, want.Net)
	}
	// Running again posts nothing and changes nothing.
	out, err = f.svc.Run(ctx, date, "", false)
	if err != nil || out[0].Result != "already_settled" || out[0].SHA256 != st.SHA256 {
		t.Errorf("rerun = %+v, %v; want already_settled with the same checksum", out, err)
	}
	var settlementTransfers int
	f.env.Pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE kind = 'settlement'`).Scan(&settlementTransfers)
	if settlementTransfers != 1 {
		t.Errorf("settlement transfers = %d; want 1", settlementTransfers)
	}
	// Verify regenerates the file from the ledger: byte-identical.
	checks, err := f.svc.Verify(ctx, date, "")
	if err != nil || len(checks) != 1 || !checks[0].OK || checks[0].SHA256 != st.SHA256 {
		t.Errorf("verify = %+v, %v; want ok with the stored checksum", checks, err)
	}
	report, err := ledger.Check(ctx, f.env.Pool)
	if err != nil || !report.OK() {
		t.Errorf("ledger check: %+v %v", report, err)
	}
}

func TestDayBoundaryInTheTimeZone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-04-01")
	ctx := context.Background()
	f.pay(t, 100, day("2026-04-01", 23, 59, 59))
	f.pay(t, 200, day("2026-04-02", 0, 0, 0))
	for _, tt := range []struct {
		date   string
		amount int64
	}{{"2026-04-01", 100}, {"2026-04-02", 200}} {
		if _, err := f.svc.Run(ctx, tt.date, "", false); err != nil {
			t.Fatal(err)
		}
		st, _, _ := f.file(t, tt.date)
		if st.PaymentsCount != 1 || st.PaymentsAmount != tt.amount {
			t.Errorf("%s: %d payments of %d; want one of %d", tt.date, st.PaymentsCount, st.PaymentsAmount, tt.amount)
		}
	}
}

func TestRefundBelongsToItsOwnDay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-05-01")
	ctx := context.Background()
	o := f.pay(t, 5000, day("2026-05-01", 10, 0, 0))
	f.refund(t, o, 5000, day("2026-05-02", 10, 0, 0))
	for _, d := range []string{"2026-05-01", "2026-05-02"} {
		if _, err := f.svc.Run(ctx, d, "", false); err != nil {
			t.Fatal(err)
		}
	}
	st1, _, _ := f.file(t, "2026-05-01")
	st2, _, _ := f.file(t, "2026-05-02")
	if st1.RefundsCount != 0 || st2.RefundsCount != 1 || st2.PaymentsCount != 0 {
		t.Errorf("day 1 = %+v, day 2 = %+v; want the refund on day 2 only", st1, st2)
	}
	if st2.Net != -(5000-30) || st1.Net+st2.Net != 0 {
		t.Errorf("nets %d and %d; want the refund day to give back exactly what the payment day paid out", st1.Net, st2.Net)
	}
	checks, err := f.svc.Verify(ctx, "2026-05-02", f.m.MerchantID)
	if err != nil || !checks[0].OK {
		t.Errorf("verify = %+v %v", checks, err)
	}
}

func TestFailureLeavesNothingPublished(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-06-01")
	ctx := context.Background()
	const date = "2026-06-01"
	f.pay(t, 3000, day(date, 8, 0, 0))
	// The payout account is closed, so the transfer cannot post.
	if _, err := f.env.Pool.Exec(ctx, `UPDATE accounts SET closed_at = now() WHERE id = (SELECT payout_account_id FROM merchants WHERE id = $1)`, f.m.MerchantID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Run(ctx, date, "", false); err == nil {
		t.Fatal("Run with a closed payout account succeeded")
	}
	if _, _, err := f.svc.Open(ctx, f.m.MerchantID, date); !errs.Is(err, errs.NotFound) {
		t.Errorf("file after a failed run: %v; want not found", err)
	}
	var n int
	f.env.Pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE kind = 'settlement'`).Scan(&n)
	if n != 0 {
		t.Errorf("settlement transfers after a failed run = %d; want 0", n)
	}
	// A file store that breaks halfway: nothing recorded at all.
	broken := settlement.New(settlement.Config{Location: shanghai, Now: func() time.Time { return time.Now().Add(72 * time.Hour) }},
		f.env.DB, f.env.Ledger, failingFiles{f.files})
	f.env.Pool.Exec(ctx, `UPDATE accounts SET closed_at = NULL WHERE id = (SELECT payout_account_id FROM merchants WHERE id = $1)`, f.m.MerchantID)
	f.env.Pool.Exec(ctx, `DELETE FROM settlements`)
	if _, err := broken.Run(ctx, date, "", false); err == nil {
		t.Fatal("Run with a broken file store succeeded")
	}
	f.env.Pool.QueryRow(ctx, `SELECT count(*) FROM settlements`).Scan(&n)
	if n != 0 {
		t.Errorf("settlements after a broken write = %d; want 0", n)
	}
	// Once the fault is gone, the next run settles it.
	if out, err := f.svc.Run(ctx, date, "", false); err != nil || out[0].Result != "settled" {
		t.Errorf("run after recovery = %+v, %v", out, err)
	}
}

// failingFiles writes half a file and then fails, like a full disk.
type failingFiles struct{ settlement.Files }

func (ff failingFiles) Write(ctx context.Context, k settlement.FileKey, write func(io.Writer) error) (int64, string, error) {
	return ff.Files.Write(ctx, k, func(w io.Writer) error {
		if err := write(&limitedWriter{w: w, left: 100}); err != nil {
			return err
		}
		return nil
	})
}

type limitedWriter struct {
	w    io.Writer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, errors.New("no space left on device")
	}
	l.left -= len(p)
	return l.w.Write(p)
}

func TestConcurrentRunsSettleOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-07-01")
	const date = "2026-07-01"
	f.pay(t, 1234, day(date, 11, 0, 0))
	var wg sync.WaitGroup
	results := make([][]settlement.Outcome, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if results[i], err = f.svc.Run(context.Background(), date, "", false); err != nil {
				t.Errorf("run %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	settled := 0
	for _, r := range results {
		if len(r) == 1 && r[0].Result == "settled" {
			settled++
		} else if len(r) != 1 || r[0].Result != "already_settled" {
			t.Errorf("run = %+v", r)
		}
	}
	if settled != 1 {
		t.Errorf("runs that did the work = %d; want 1", settled)
	}
	var n int
	f.env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE kind = 'settlement'`).Scan(&n)
	if n != 1 {
		t.Errorf("settlement transfers = %d; want 1", n)
	}
}

func TestCatchUpSettlesMissedDays(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-01-01")
	ctx := context.Background()
	// The merchant exists since three days before the settlement clock's yesterday.
	yesterday := f.svc.Yesterday()
	if _, err := f.env.Pool.Exec(ctx, `UPDATE merchants SET created_at = $2 WHERE id = $1`, f.m.MerchantID, yesterday.Start.AddDate(0, 0, -3)); err != nil {
		t.Fatal(err)
	}
	f.pay(t, 500, yesterday.Start.AddDate(0, 0, -1).Add(time.Hour))
	out, err := f.svc.CatchUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 {
		t.Errorf("catch-up settled %d merchant-days; want 4 (three missed days and yesterday)", len(out))
	}
	if again, _ := f.svc.CatchUp(ctx); len(again) != 0 {
		t.Errorf("a second catch-up did %d; want nothing", len(again))
	}
	page, err := f.svc.List(ctx, f.m.MerchantID, "", "", "", 0)
	if err != nil || len(page.Data) != 4 {
		t.Fatalf("list = %d settlements (%v); want 4", len(page.Data), err)
	}
	if page.Data[0].Date != yesterday.Date {
		t.Errorf("newest settlement %s; want %s", page.Data[0].Date, yesterday.Date)
	}
}

func TestDirFilesAreAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := settlement.DirFiles{Dir: dir}
	ctx := context.Background()
	k := settlement.FileKey{MerchantID: "m1", Date: "2026-01-01"}
	if _, _, err := files.Write(ctx, k, func(w io.Writer) error { _, err := io.WriteString(w, "first,version\n"); return err }); err != nil {
		t.Fatal(err)
	}
	_, _, err := files.Write(ctx, k, func(w io.Writer) error {
		io.WriteString(w, "half of the second")
		return errors.New("crash")
	})
	if err == nil {
		t.Fatal("a failed write reported success")
	}
	r, err := files.Open(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "first,version\n" {
		t.Errorf("after a failed write the file reads %q; want the first version whole", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "m1", "*"))
	if len(left) != 1 {
		t.Errorf("files left behind: %v", left)
	}
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// TestCloseDayEarly settles today before midnight: what is paid afterwards
// today goes to tomorrow's settlement, so nothing is settled twice or never.
func TestCloseDayEarly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-08-01")
	ctx := context.Background()
	var mu sync.Mutex
	now := day("2026-08-01", 15, 0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc := settlement.New(settlement.Config{Location: shanghai, Now: clock}, f.env.DB, f.env.Ledger, f.files)
	f.pay(t, 1000, day("2026-08-01", 10, 0, 0))
	if _, err := svc.Run(ctx, "2026-08-01", "", false); err == nil {
		t.Fatal("settled a day that has not ended without closing it early")
	}
	if out, err := svc.Run(ctx, "2026-08-01", "", true); err != nil || out[0].Result != "settled" {
		t.Fatalf("close early = %+v, %v", out, err)
	}
	f.pay(t, 2000, day("2026-08-01", 16, 0, 0)) // after the early close
	f.pay(t, 3000, day("2026-08-02", 9, 0, 0))
	mu.Lock()
	now = day("2026-08-03", 1, 0, 0)
	mu.Unlock()
	if out, _ := svc.Run(ctx, "2026-08-01", "", false); out[0].Result != "already_settled" {
		t.Errorf("nightly run of the closed day = %+v; want already_settled", out)
	}
	if _, err := svc.Run(ctx, "2026-08-02", "", false); err != nil {
		t.Fatal(err)
	}
	d1, _ := svc.Get(ctx, f.m.MerchantID, "2026-08-01")
	d2, _ := svc.Get(ctx, f.m.MerchantID, "2026-08-02")
	if d1.PaymentsAmount != 1000 || d2.PaymentsAmount != 5000 || !d2.PeriodStart.Equal(d1.PeriodEnd) {
		t.Errorf("day 1 = %d over [%v, %v), day 2 = %d over [%v, %v); want 1000 then 5000, back to back",
			d1.PaymentsAmount, d1.PeriodStart, d1.PeriodEnd, d2.PaymentsAmount, d2.PeriodStart, d2.PeriodEnd)
	}
	for _, d := range []string{"2026-08-01", "2026-08-02"} {
		if checks, err := svc.Verify(ctx, d, ""); err != nil || !checks[0].OK {
			t.Errorf("verify %s = %+v, %v", d, checks, err)
		}
	}
}
