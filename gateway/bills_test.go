package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

// shanghai is the test wallets' time zone (gatewaytest.WalletConfig).
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// at is an instant in the wallets' time zone: inShanghai("2025-03-31 23:59:59").
func inShanghai(s string) time.Time {
	t, err := time.ParseInLocation(time.DateTime, s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

// keySeq makes order numbers and keys unique.
var keySeq atomic.Int64

// shop is a merchant the bills tests buy from.
type shop struct {
	gatewaytest.MerchantKey
	name string
}

func newShop(t *testing.T, env *gatewaytest.Env, name, mcc string) shop {
	t.Helper()
	return shop{env.NewMerchant(t, map[string]any{"name": name, "mcc": mcc}), name}
}

// buy pays a new order of amount at the shop; it returns the movement and
// the order.
func (p payer) buy(t *testing.T, env *gatewaytest.Env, s shop, amount int64) (wallet.Movement, merchant.Order) {
	t.Helper()
	no := fmt.Sprintf("bill-%d", keySeq.Add(1))
	o := createOrder(t, env, s.MerchantKey, no, amount)
	r := p.pay(t, env, o.QRPayload, "pay-"+no)
	if r.Status != http.StatusCreated {
		t.Fatalf("pay %d at %s = %d %s", amount, s.name, r.Status, r.Body)
	}
	var mv wallet.Movement
	r.JSON(t, &mv)
	return mv, o
}

// refund returns amount of an order; it returns the refund and its ledger
// transfer id.
func (s shop) refund(t *testing.T, env *gatewaytest.Env, orderID string, amount int64) (merchant.Refund, string) {
	t.Helper()
	no := fmt.Sprintf("r-%d", keySeq.Add(1))
	r := env.Signed(t, s.MerchantKey, "POST", "/v1/orders/"+orderID+"/refunds", map[string]any{"refund_no": no, "amount": amount},
		"Idempotency-Key", no)
	if r.Status != http.StatusCreated {
		t.Fatalf("refund %d = %d %s", amount, r.Status, r.Body)
	}
	var rf merchant.Refund
	r.JSON(t, &rf)
	var transfer string
	if err := env.Pool.QueryRow(context.Background(), `SELECT transfer_id::text FROM refunds WHERE id = $1`, rf.ID).Scan(&transfer); err != nil {
		t.Fatal(err)
	}
	return rf, transfer
}

// send transfers amount from p to c.
func (p payer) send(t *testing.T, env *gatewaytest.Env, to customer, amount int64, note string) wallet.Movement {
	t.Helper()
	r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_phone": to.Phone, "amount": amount, "note": note, "pin": "135790"},
		p.Idem(fmt.Sprintf("send-%d", keySeq.Add(1)))...)
	if r.Status != http.StatusCreated {
		t.Fatalf("transfer = %d %s", r.Status, r.Body)
	}
	var mv wallet.Movement
	r.JSON(t, &mv)
	return mv
}

// backdated is a ledger transfer and the instant to move it to.
type backdated struct {
	id string
	at time.Time
}

// backdate moves transfers (and their postings) to chosen instants. The
// ledger stamps postings with PostgreSQL's clock, not the gateway's, so
// this is how a test puts movements in past months (and their accounts'
// openings before them). The instants must grow in the order the transfers
// were made: an account's posting ids and created_at then still agree, as
// the ledger keeps them.
func backdate(t *testing.T, env *gatewaytest.Env, moves ...backdated) {
	t.Helper()
	for i, m := range moves {
		if i > 0 && !moves[i-1].at.Before(m.at) {
			t.Fatalf("backdate: %s is not after %s", m.at, moves[i-1].at)
		}
		for _, q := range []string{`UPDATE transfers SET created_at = $2 WHERE id = $1`, `UPDATE postings SET created_at = $2 WHERE transfer_id = $1`,
			`UPDATE accounts SET created_at = least(created_at, $2) WHERE id IN (SELECT account_id FROM postings WHERE transfer_id = $1)`} {
			if tag, err := env.Pool.Exec(context.Background(), q, m.id, m.at); err != nil || tag.RowsAffected() == 0 {
				t.Fatalf("backdate %s: %v (%d rows)", m.id, err, tag.RowsAffected())
			}
		}
	}
}

func history(t *testing.T, env *gatewaytest.Env, c customer, query string) wallet.HistoryPage {
	t.Helper()
	r := env.Do(t, "GET", "/v1/wallet/movements?"+query, nil, c.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("history ?%s = %d %s", query, r.Status, r.Body)
	}
	var page wallet.HistoryPage
	r.JSON(t, &page)
	return page
}

func statement(t *testing.T, env *gatewaytest.Env, c customer, month string) wallet.Statement {
	t.Helper()
	r := env.Do(t, "GET", "/v1/wallet/statements/"+month, nil, c.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("statement %s = %d %s", month, r.Status, r.Body)
	}
	var st wallet.Statement
	r.JSON(t, &st)
	return st
}

func analysis(t *testing.T, env *gatewaytest.Env, c customer, query string) wallet.Analysis {
	t.Helper()
	r := env.Do(t, "GET", "/v1/wallet/analysis?"+query, nil, c.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("analysis ?%s = %d %s", query, r.Status, r.Body)
	}
	var a wallet.Analysis
	r.JSON(t, &a)
	return a
}

func itemIDs(items []wallet.HistoryItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestHistoryShowsEveryMovement(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	coffee, mart := newShop(t, env, "Blue Bottle Coffee", "5814"), newShop(t, env, "FreshMart", "5411")
	bob := newPayer(t, env, 10000)
	alice := newPayer(t, env, 0)
	topup := topUp(t, env, alice.customer, alice.card.ID, 100000)
	in := bob.send(t, env, alice.customer, 3000, "rent share")
	out := alice.send(t, env, bob.customer, 2000, "lunch")
	pay1, _ := alice.buy(t, env, coffee, 1200)
	pay2, order2 := alice.buy(t, env, mart, 5000)
	rf, refundTransfer := mart.refund(t, env, order2.ID, 500)

	page := history(t, env, alice.customer, "")
	bobMasked := masked(bob.Phone)
	want := []wallet.HistoryItem{
		{ID: refundTransfer, Type: "refund", Amount: 500, BalanceAfter: 95300, Counterparty: "FreshMart", Card: "**** 1111", Category: "groceries", OrderID: order2.ID, RefundID: rf.ID, Funding: "balance"},
		{ID: pay2.ID, Type: "payment", Amount: -5000, BalanceAfter: 94800, Counterparty: "FreshMart", Card: "**** 1111", Category: "groceries", OrderID: order2.ID, Funding: "balance"},
		{ID: pay1.ID, Type: "payment", Amount: -1200, BalanceAfter: 99800, Counterparty: "Blue Bottle Coffee", Card: "**** 1111", Category: "dining", OrderID: pay1.OrderID, Funding: "balance"},
		{ID: out.ID, Type: "transfer_out", Amount: -2000, BalanceAfter: 101000, Counterparty: bobMasked, Note: "lunch"},
		{ID: in.ID, Type: "transfer_in", Amount: 3000, BalanceAfter: 103000, Counterparty: bobMasked, Note: "rent share"},
		{ID: topup.ID, Type: "topup", Amount: 100000, BalanceAfter: 100000, Card: "**** 1111"},
	}
	if len(page.Data) != len(want) || page.HasMore || page.NextCursor != "" {
		t.Fatalf("history = %d items (has_more %v, cursor %q); want %d, the last page", len(page.Data), page.HasMore, page.NextCursor, len(want))
	}
	for i, w := range want {
		got := page.Data[i]
		w.Currency, w.CreatedAt = "CNY", got.CreatedAt
		if got != w {
			t.Errorf("history[%d] = %+v\n\twant %+v", i, got, w)
		}
		if i > 0 && got.CreatedAt.After(page.Data[i-1].CreatedAt) {
			t.Errorf("history[%d] is newer than the one before it", i)
		}
	}
	if got := balance(t, env, alice.customer); got != page.Data[0].BalanceAfter {
		t.Errorf("balance = %d; the newest movement left %d", got, page.Data[0].BalanceAfter)
	}

	// Pages of two, with a movement arriving mid-walk: it shows on no page
	// of this walk (the cursor only goes back in time) and no row shows
	// twice or goes missing; a new walk starts with it.
	var walked []string
	var late wallet.Movement
	cursor := ""
	for pages := 0; ; pages++ {
		q := "limit=2"
		if cursor != "" {
			q += "&starting_after=" + url.QueryEscape(cursor)
		}
		p := history(t, env, alice.customer, q)
		walked = append(walked, itemIDs(p.Data)...)
		if pages == 0 {
			late = topUp(t, env, alice.customer, alice.card.ID, 100)
		}
		if !p.HasMore {
			break
		}
		cursor = p.NextCursor
	}
	if !slices.Equal(walked, itemIDs(page.Data)) {
		t.Errorf("walked %v; want %v, each once", walked, itemIDs(page.Data))
	}
	if first := history(t, env, alice.customer, "limit=2"); first.Data[0].ID != late.ID || first.Data[1].ID != refundTransfer {
		t.Errorf("a new walk starts with %+v; want the new top-up, then the refund", first.Data)
	}

	// Type filters.
	for query, want := range map[string][]string{
		"type=payment":                  {pay2.ID, pay1.ID},
		"type=refund":                   {refundTransfer},
		"type=transfer_in,transfer_out": {out.ID, in.ID},
		"type=topup":                    {late.ID, topup.ID},
		"type=topup,refund&limit=2":     {late.ID, refundTransfer},
	} {
		if got := itemIDs(history(t, env, alice.customer, query).Data); !slices.Equal(got, want) {
			t.Errorf("history ?%s = %v; want %v", query, got, want)
		}
	}

	// Dates are days in the wallet's time zone, to inclusive: put the
	// top-up on the last second of 31 March (15:59:59 UTC) and the transfer
	// in on the first of 1 April (16:00:00 UTC the same day).
	backdate(t, env, backdated{topup.ID, inShanghai("2025-03-31 23:59:59")}, backdated{in.ID, inShanghai("2025-04-01 00:00:00")})
	for query, want := range map[string][]string{
		"from=2025-03-31&to=2025-03-31":              {topup.ID},
		"from=2025-04-01&to=2025-04-01":              {in.ID},
		"from=2025-03-01&to=2025-04-01":              {in.ID, topup.ID},
		"to=2025-04-30":                              {in.ID, topup.ID},
		"from=2025-04-02&type=transfer_in":           {},
		"from=2025-01-01&to=2025-12-31&type=payment": {},
	} {
		if got := itemIDs(history(t, env, alice.customer, query).Data); !slices.Equal(got, want) {
			t.Errorf("history ?%s = %v; want %v", query, got, want)
		}
	}
	if got := history(t, env, alice.customer, "from=2025-04-01").Data; len(got) != 6 || got[5].ID != in.ID {
		t.Errorf("history from 1 April = %d items; want all but the top-up", len(got))
	}

	// Bad parameters change nothing and say what is wrong.
	for _, query := range []string{"limit=0", "limit=101", "limit=-1", "limit=two", "from=2025-13-01", "from=20250301",
		"to=2025-02-30", "from=2025-03-02&to=2025-03-01", "type=bogus", "type=payment,", "type=Payment",
		"starting_after=not-a-cursor", "starting_after=MTIz", "starting_after=" + url.QueryEscape("cDotMQ")} {
		r := env.Do(t, "GET", "/v1/wallet/movements?"+query, nil, alice.Auth()...)
		if r.Status != http.StatusBadRequest || r.Code() != "invalid" {
			t.Errorf("history ?%s = %d %s; want 400 invalid", query, r.Status, r.Body)
		}
	}
	checkLedger(t, env)
}

// statementFixture makes Alice's months (Asia/Shanghai):
//
//	2025-02  Bob tops up 10000 (02-01); Alice tops up 100000 (02-10)
//	2025-03  coffee −1200 at 03-01 00:00:00 (16:00 UTC on 28 Feb); Bob sends 3000 (03-15);
//	         Alice sends Bob 2000 (03-20); groceries −5000 (03-25); 500 of it refunded at
//	         03-31 23:59:59 (15:59:59 UTC)
//	2025-04  coffee −700 at 04-01 00:00:00 (16:00 UTC on 31 March)
//	now      a top-up of 100
type statementFixture struct {
	env                    *gatewaytest.Env
	alice, bob             payer
	refundID, refundTx     string
	groceriesOrder, pay1ID string
}

func newStatementFixture(t *testing.T) statementFixture {
	env := gatewaytest.Start(t)
	coffee, mart := newShop(t, env, "Blue Bottle Coffee", "5814"), newShop(t, env, "FreshMart, Inc.", "5411")
	f := statementFixture{env: env, bob: newPayer(t, env, 0), alice: newPayer(t, env, 0)}
	bobTopUp := topUp(t, env, f.bob.customer, f.bob.card.ID, 10000)
	aliceTopUp := topUp(t, env, f.alice.customer, f.alice.card.ID, 100000)
	pay1, _ := f.alice.buy(t, env, coffee, 1200)
	in := f.bob.send(t, env, f.alice.customer, 3000, "=HYPERLINK(\"http://evil\")")
	out := f.alice.send(t, env, f.bob.customer, 2000, "lunch, Friday")
	pay2, order2 := f.alice.buy(t, env, mart, 5000)
	rf, rfTx := mart.refund(t, env, order2.ID, 500)
	pay3, _ := f.alice.buy(t, env, coffee, 700)
	backdate(t, env,
		backdated{bobTopUp.ID, inShanghai("2025-02-01 09:00:00")},
		backdated{aliceTopUp.ID, inShanghai("2025-02-10 10:00:00")},
		backdated{pay1.ID, inShanghai("2025-03-01 00:00:00")},
		backdated{in.ID, inShanghai("2025-03-15 12:00:00")},
		backdated{out.ID, inShanghai("2025-03-20 18:30:00")},
		backdated{pay2.ID, inShanghai("2025-03-25 08:15:00")},
		backdated{rfTx, inShanghai("2025-03-31 23:59:59")},
		backdated{pay3.ID, inShanghai("2025-04-01 00:00:00")})
	topUp(t, env, f.alice.customer, f.alice.card.ID, 100)
	f.refundID, f.refundTx, f.groceriesOrder, f.pay1ID = rf.ID, rfTx, order2.ID, pay1.ID
	return f
}

func byType(f wallet.Flow) map[string][2]int64 {
	m := map[string][2]int64{}
	for _, tt := range f.ByType {
		m[tt.Type] = [2]int64{tt.Count, tt.Amount}
	}
	return m
}

func TestStatementMonths(t *testing.T) {
	t.Parallel()
	f := newStatementFixture(t)
	env, alice := f.env, f.alice.customer
	feb, mar, apr := statement(t, env, alice, "2025-02"), statement(t, env, alice, "2025-03"), statement(t, env, alice, "2025-04")
	for _, c := range []struct {
		st                 wallet.Statement
		opening, closing   int64
		in, out            map[string][2]int64
		movements, inTotal int64
	}{
		{feb, 0, 100000, map[string][2]int64{"topup": {1, 100000}, "transfer_in": {}, "refund": {}},
			map[string][2]int64{"payment": {}, "transfer_out": {}}, 1, 100000},
		{mar, 100000, 95300, map[string][2]int64{"topup": {}, "transfer_in": {1, 3000}, "refund": {1, 500}},
			map[string][2]int64{"payment": {2, 6200}, "transfer_out": {1, 2000}}, 5, 3500},
		{apr, 95300, 94600, map[string][2]int64{"topup": {}, "transfer_in": {}, "refund": {}},
			map[string][2]int64{"payment": {1, 700}, "transfer_out": {}}, 1, 0},
	} {
		st := c.st
		if st.OpeningBalance != c.opening || st.ClosingBalance != c.closing || st.Movements != c.movements || st.MoneyIn.Amount != c.inTotal {
			t.Errorf("%s: opening %d, closing %d, %d movements, in %d; want %d, %d, %d, %d", st.Month,
				st.OpeningBalance, st.ClosingBalance, st.Movements, st.MoneyIn.Amount, c.opening, c.closing, c.movements, c.inTotal)
		}
		if got := byType(st.MoneyIn); !sameByType(got, c.in) {
			t.Errorf("%s money in = %v; want %v", st.Month, got, c.in)
		}
		if got := byType(st.MoneyOut); !sameByType(got, c.out) {
			t.Errorf("%s money out = %v; want %v", st.Month, got, c.out)
		}
		if st.OpeningBalance+st.MoneyIn.Amount-st.MoneyOut.Amount != st.ClosingBalance {
			t.Errorf("%s: %d + %d − %d ≠ %d", st.Month, st.OpeningBalance, st.MoneyIn.Amount, st.MoneyOut.Amount, st.ClosingBalance)
		}
		if !st.Complete || st.TimeZone != "Asia/Shanghai" || st.Currency != "CNY" || st.WalletID != f.alice.WalletID {
			t.Errorf("%s = %+v; want complete, Asia/Shanghai, CNY, Alice's", st.Month, st)
		}
	}
	if !mar.PeriodStart.Equal(inShanghai("2025-03-01 00:00:00")) || !mar.PeriodEnd.Equal(inShanghai("2025-04-01 00:00:00")) {
		t.Errorf("March runs %s to %s; want Shanghai midnights", mar.PeriodStart, mar.PeriodEnd)
	}

	// Every month from before the wallet to now chains, and this month
	// closes at the wallet's balance, which is the ledger's.
	now := env.Clock.Now().In(shanghai)
	var prev wallet.Statement
	months := 0
	for m := inShanghai("2024-12-01 00:00:00"); !m.After(now); m = m.AddDate(0, 1, 0) {
		st := statement(t, env, alice, m.Format("2006-01"))
		if months > 0 && st.OpeningBalance != prev.ClosingBalance {
			t.Errorf("%s opens at %d; %s closed at %d", st.Month, st.OpeningBalance, prev.Month, prev.ClosingBalance)
		}
		if st.OpeningBalance+st.MoneyIn.Amount-st.MoneyOut.Amount != st.ClosingBalance {
			t.Errorf("%s does not add up: %+v", st.Month, st)
		}
		prev = st
		months++
	}
	if months < 15 {
		t.Fatalf("walked %d months", months)
	}
	var ledgerBalance int64
	env.Pool.QueryRow(context.Background(), `SELECT a.balance FROM accounts a JOIN customers c ON c.account_id = a.id WHERE c.id = $1`,
		f.alice.WalletID).Scan(&ledgerBalance)
	if prev.Complete || prev.ClosingBalance != 94700 || prev.ClosingBalance != ledgerBalance || prev.ClosingBalance != balance(t, env, alice) {
		t.Errorf("this month = %+v; want incomplete, closing at the balance 94700 (ledger %d)", prev, ledgerBalance)
	}
	if dec := statement(t, env, alice, "2024-12"); dec.OpeningBalance != 0 || dec.ClosingBalance != 0 || dec.Movements != 0 || len(dec.MoneyIn.ByType) != 3 {
		t.Errorf("a month before the wallet = %+v; want zeros", dec)
	}
	// Bob's March is the other side of the transfers.
	if bm := statement(t, env, f.bob.customer, "2025-03"); bm.MoneyOut.Amount != 3000 || bm.MoneyIn.Amount != 2000 || bm.ClosingBalance != 9000 {
		t.Errorf("Bob's March = %+v; want 3000 out, 2000 in, closing 9000", bm)
	}
	// The same statement again (now from stored days) is the same.
	r1 := env.Do(t, "GET", "/v1/wallet/statements/2025-03", nil, alice.Auth()...)
	r2 := env.Do(t, "GET", "/v1/wallet/statements/2025-03?format=json", nil, alice.Auth()...)
	if !bytes.Equal(r1.Body, r2.Body) {
		t.Errorf("March twice:\n%s\n%s", r1.Body, r2.Body)
	}
	var stored int
	env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM wallet_statement_days d JOIN customers c ON c.account_id = d.account_id
		WHERE c.id = $1 AND d.day BETWEEN '2025-03-01' AND '2025-03-31' AND d.type = ''`, f.alice.WalletID).Scan(&stored)
	if stored != 31 {
		t.Errorf("stored days of March = %d; want 31", stored)
	}
	// Nothing is stored for the days before the wallet's account was opened
	// (moved back to its first movement, 10 February 2025).
	env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM wallet_statement_days d JOIN customers c ON c.account_id = d.account_id
		WHERE c.id = $1 AND d.day < '2025-02-10'`, f.alice.WalletID).Scan(&stored)
	if stored != 0 {
		t.Errorf("stored %d rows for days before the wallet", stored)
	}

	for month, code := range map[string]int{
		now.AddDate(0, 1, 1-now.Day()).Format("2006-01"): 400, // next month
		"2999-01": 400, "2025-13": 400, "2025-3": 400, "202503": 400, "march": 400,
	} {
		r := env.Do(t, "GET", "/v1/wallet/statements/"+month, nil, alice.Auth()...)
		if r.Status != code || r.Code() != "invalid" {
			t.Errorf("statement %s = %d %s; want %d invalid", month, r.Status, r.Body, code)
		}
	}
	if r := env.Do(t, "GET", "/v1/wallet/statements/2025-03?format=xml", nil, alice.Auth()...); r.Status != 400 {
		t.Errorf("format=xml = %d; want 400", r.Status)
	}
	checkLedger(t, env)
}

// TestStatementCSV golden-tests the statement file of the fixture's March.
// Ids, which are random, are replaced by their order of appearance; Bob's
// masked phone by a fixed one.
func TestStatementCSV(t *testing.T) {
	t.Parallel()
	f := newStatementFixture(t)
	r := f.env.Do(t, "GET", "/v1/wallet/statements/2025-03?format=csv", nil, f.alice.Auth()...)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		r.Header.Get("Content-Disposition") != `attachment; filename="statement-2025-03.csv"` {
		t.Fatalf("csv = %d %v %s", r.Status, r.Header, r.Body)
	}
	byAccept := f.env.Do(t, "GET", "/v1/wallet/statements/2025-03", nil, append(f.alice.Auth(), "Accept", "text/csv")...)
	if !bytes.Equal(byAccept.Body, r.Body) {
		t.Errorf("Accept: text/csv gave\n%s\nwant\n%s", byAccept.Body, r.Body)
	}
	got := normalizeIDs(string(r.Body))
	got = strings.ReplaceAll(got, masked(f.bob.Phone), "+86138****0002")
	golden := filepath.Join("testdata", "statement-2025-03.csv")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if got != string(want) {
		t.Errorf("statement file:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	// The file's own sums hold: its rows add up to its summary.
	var sum, opening, closing int64
	for _, line := range strings.Split(strings.TrimSpace(string(r.Body)), "\n") {
		fields := strings.Split(line, ",")
		switch {
		case fields[0] == "D" && fields[1] != "time":
			v, _ := strconv.ParseInt(fields[4], 10, 64)
			sum += v
		case fields[0] == "S" && fields[1] == "opening_balance":
			opening, _ = strconv.ParseInt(fields[4], 10, 64)
		case fields[0] == "S" && fields[1] == "closing_balance":
			closing, _ = strconv.ParseInt(fields[4], 10, 64)
		}
	}
	if opening+sum != closing || closing != 95300 {
		t.Errorf("file: opening %d + rows %d ≠ closing %d (want 95300)", opening, sum, closing)
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normalizeIDs replaces each distinct UUID by id-1, id-2, … in order of
// first appearance.
func normalizeIDs(s string) string {
	seen := map[string]string{}
	return uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := seen[id]; !ok {
			seen[id] = fmt.Sprintf("id-%d", len(seen)+1)
		}
		return seen[id]
	})
}

func sameByType(a, b map[string][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestAnalysisCategoriesMerchantsMonths: March 2025 (Asia/Shanghai) spends
// at eight merchants in seven categories; a refund in March of a February
// payment nets against that payment's merchant and category; another
// refund's metadata is stripped of the MCC, so its original payment is
// looked up.
//
//	dining        Blue Bottle Coffee 3000, Bistro 2000                = 5000
//	shopping      Boutique 6000 − 2500 (refund of February's 2500)   = 3500
//	groceries     FreshMart 4000 − 1000                               = 3000
//	entertainment CinemaCity 1500; health Pharmacy 700; transport Metro 500; other Odd 300
func TestAnalysisCategoriesMerchantsMonths(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	shops := map[string]shop{}
	for _, s := range [][2]string{{"Blue Bottle Coffee", "5814"}, {"Bistro", "5812"}, {"Boutique", "5651"}, {"FreshMart", "5411"},
		{"CinemaCity", "7832"}, {"Pharmacy", "5912"}, {"Metro", "4111"}, {"Odd", "0001"}} {
		shops[s[0]] = newShop(t, env, s[0], s[1])
	}
	bob := newPayer(t, env, 0)
	alice := newPayer(t, env, 0)
	var moves []backdated
	next := inShanghai("2025-01-05 10:00:00")
	mark := func(id string, when time.Time) {
		if when.IsZero() {
			when, next = next, next.Add(time.Hour)
		} else {
			next = when.Add(time.Hour)
		}
		moves = append(moves, backdated{id, when})
	}
	mark(topUp(t, env, bob.customer, bob.card.ID, 50000).ID, time.Time{})
	mark(topUp(t, env, alice.customer, alice.card.ID, 200000).ID, time.Time{})
	febPay, febOrder := alice.buy(t, env, shops["Boutique"], 2500)
	mark(febPay.ID, inShanghai("2025-02-14 12:00:00"))
	mark(topUp(t, env, alice.customer, alice.card.ID, 1000).ID, inShanghai("2025-03-01 09:00:00"))
	mark(bob.send(t, env, alice.customer, 1000, "").ID, time.Time{})
	mark(alice.send(t, env, bob.customer, 400, "").ID, time.Time{})
	var freshOrder string
	for _, b := range []struct {
		shop   string
		amount int64
	}{{"Blue Bottle Coffee", 3000}, {"Bistro", 2000}, {"Boutique", 6000}, {"FreshMart", 4000}, {"CinemaCity", 1500},
		{"Pharmacy", 700}, {"Metro", 500}, {"Odd", 300}} {
		mv, o := alice.buy(t, env, shops[b.shop], b.amount)
		mark(mv.ID, time.Time{})
		if b.shop == "FreshMart" {
			freshOrder = o.ID
		}
	}
	_, tx := shops["FreshMart"].refund(t, env, freshOrder, 1000)
	mark(tx, time.Time{})
	_, tx = shops["Boutique"].refund(t, env, febOrder.ID, 2500)
	mark(tx, inShanghai("2025-03-31 23:59:59"))
	backdate(t, env, moves...)
	// A refund whose metadata lost its MCC and merchant: found through its order.
	if _, err := env.Pool.Exec(context.Background(), `UPDATE transfers SET metadata = metadata - 'mcc' - 'merchant_id'
		WHERE kind = 'refund' AND metadata->>'order_id' = $1`, freshOrder); err != nil {
		t.Fatal(err)
	}

	a := analysis(t, env, alice.customer, "from=2025-03-01&to=2025-03-31&top=3")
	if a.Spending != (wallet.Spend{Payments: 18000, PaymentCount: 8, Refunds: 3500, RefundCount: 2, Net: 14500}) {
		t.Errorf("spending = %+v; want 18000 in 8 payments less 3500 in 2 refunds", a.Spending)
	}
	type cat struct {
		name       string
		net, share int64
	}
	var gotCats []cat
	var shareSum int64
	for _, c := range a.Categories {
		gotCats = append(gotCats, cat{c.Category, c.Net, c.ShareBPS})
		shareSum += c.ShareBPS
	}
	// Shares of 14500: 3448.28 2413.79 2068.97 1034.48 482.76 344.83 206.90;
	// the five points left go to the largest fractions (.97 .90 .83 .79 .76).
	wantCats := []cat{{"dining", 5000, 3448}, {"shopping", 3500, 2414}, {"groceries", 3000, 2069}, {"entertainment", 1500, 1034},
		{"health", 700, 483}, {"transport", 500, 345}, {"other", 300, 207}}
	if !slices.Equal(gotCats, wantCats) || shareSum != 10000 {
		t.Errorf("categories = %v (shares sum to %d); want %v", gotCats, shareSum, wantCats)
	}
	type mer struct {
		name       string
		net, share int64
	}
	var gotMer []mer
	for _, m := range a.Merchants {
		gotMer = append(gotMer, mer{m.Name, m.Net, m.ShareBPS})
	}
	// Boutique 3500, then a tie at 3000 by name; others: 2000+1500+700+500+300.
	wantMer := []mer{{"Boutique", 3500, 2414}, {"Blue Bottle Coffee", 3000, 2069}, {"FreshMart", 3000, 2069}}
	if !slices.Equal(gotMer, wantMer) || a.Others == nil || a.Others.Net != 5000 || a.Others.Merchants != 5 || a.Others.ShareBPS != 3448 {
		t.Errorf("merchants = %v, others %+v; want %v and 5 others netting 5000 (3448 bps)", gotMer, a.Others, wantMer)
	}
	if a.Merchants[0].MerchantID != shops["Boutique"].MerchantID || a.Merchants[0].Category != "shopping" || a.Merchants[0].Refunds != 2500 {
		t.Errorf("top merchant = %+v; want Boutique, shopping, with February's refund", a.Merchants[0])
	}
	if a.TopUps != (wallet.Total{Count: 1, Amount: 1000}) || a.TransfersIn != (wallet.Total{Count: 1, Amount: 1000}) ||
		a.TransfersOut != (wallet.Total{Count: 1, Amount: 400}) {
		t.Errorf("top-ups %+v, transfers in %+v, out %+v; want 1×1000, 1×1000, 1×400", a.TopUps, a.TransfersIn, a.TransfersOut)
	}
	if len(a.Months) != 12 || a.Months[0].Month != "2024-04" || a.Months[11].Month != "2025-03" {
		t.Fatalf("months = %+v; want 2024-04 to 2025-03", a.Months)
	}
	for i, m := range a.Months {
		want := wallet.MonthSpend{Month: m.Month}
		switch m.Month {
		case "2025-02":
			want = wallet.MonthSpend{Month: m.Month, Payments: 2500, PaymentCount: 1, Net: 2500}
		case "2025-03":
			want = wallet.MonthSpend{Month: m.Month, Payments: 18000, PaymentCount: 8, Refunds: 3500, RefundCount: 2, Net: 14500}
		}
		if m != want {
			t.Errorf("months[%d] = %+v; want %+v", i, m, want)
		}
	}

	// February alone: the Boutique payment, all of it (its refund is March's).
	feb := analysis(t, env, alice.customer, "from=2025-02-01&to=2025-02-28")
	if feb.Spending.Net != 2500 || len(feb.Categories) != 1 || feb.Categories[0].ShareBPS != 10000 || feb.Others != nil {
		t.Errorf("February = %+v", feb)
	}
	// A period of refunds only: net negative, no shares.
	last := analysis(t, env, alice.customer, "from=2025-03-31&to=2025-03-31")
	if last.Spending.Net != -2500 || len(last.Categories) != 1 || last.Categories[0].ShareBPS != 0 || last.Merchants[0].ShareBPS != 0 {
		t.Errorf("31 March = %+v; want −2500 net and no shares", last)
	}
	// Defaults: this month so far; nothing spent.
	if d := analysis(t, env, alice.customer, ""); d.Spending.Net != 0 || d.To != env.Clock.Now().In(shanghai).Format(time.DateOnly) || !strings.HasSuffix(d.From, "-01") {
		t.Errorf("default period = %s to %s, spending %+v", d.From, d.To, d.Spending)
	}
	for _, query := range []string{"top=0", "top=51", "top=x", "from=2025-03-02&to=2025-03-01", "from=2024-01-01&to=2025-03-01",
		"from=2025-3-1", "to=tomorrow"} {
		r := env.Do(t, "GET", "/v1/wallet/analysis?"+query, nil, alice.Auth()...)
		if r.Status != http.StatusBadRequest || r.Code() != "invalid" {
			t.Errorf("analysis ?%s = %d %s; want 400 invalid", query, r.Status, r.Body)
		}
	}
	checkLedger(t, env)
}

// TestBillsAreOnlyTheOwners: wallet B's history, statements and analysis
// never show A's movements, whatever B passes; nor can anyone read them
// without a session.
func TestBillsAreOnlyTheOwners(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	s := newShop(t, env, "Secret Shop", "5999")
	a, b := newPayer(t, env, 0), newPayer(t, env, 0)
	aTop := topUp(t, env, a.customer, a.card.ID, 77777)
	aPay, _ := a.buy(t, env, s, 4321)
	topUp(t, env, b.customer, b.card.ID, 500)
	aHistory := history(t, env, a.customer, "limit=1")
	month := env.Clock.Now().In(shanghai).Format("2006-01")
	leaks := []string{aTop.ID, aPay.ID, "Secret Shop", a.WalletID}
	for _, path := range []string{
		"/v1/wallet/movements", "/v1/wallet/movements?limit=100&type=topup,payment",
		"/v1/wallet/movements?starting_after=" + url.QueryEscape(aHistory.NextCursor), // A's cursor
		"/v1/wallet/statements/" + month, "/v1/wallet/statements/" + month + "?format=csv",
		"/v1/wallet/analysis", "/v1/wallet/analysis?top=50",
	} {
		r := env.Do(t, "GET", path, nil, b.Auth()...)
		if r.Status != 200 {
			t.Errorf("B: %s = %d %s", path, r.Status, r.Body)
		}
		for _, leak := range leaks {
			if strings.Contains(string(r.Body), leak) {
				t.Errorf("B: %s shows A's %q: %s", path, leak, r.Body)
			}
		}
		if r := env.Do(t, "GET", path, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("no session: %s = %d; want 401", path, r.Status)
		}
	}
	if got := history(t, env, b.customer, ""); len(got.Data) != 1 || got.Data[0].Amount != 500 {
		t.Errorf("B's history = %+v; want B's top-up alone", got.Data)
	}
	if st := statement(t, env, b.customer, month); st.ClosingBalance != 500 || st.Movements != 1 || st.WalletID != b.WalletID {
		t.Errorf("B's statement = %+v; want B's 500 alone", st)
	}
	if got := history(t, env, a.customer, ""); len(got.Data) != 2 {
		t.Errorf("A's history = %d movements; want 2", len(got.Data))
	}
}

// masked shows a phone number as the bills do: +86137****0143.
func masked(phone string) string { return phone[:len(phone)-8] + "****" + phone[len(phone)-4:] }
