package wallet

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/testenv"
)

func TestBillShares(t *testing.T) {
	big := int64(1_000_000_000_000_000)
	tests := []struct {
		weights, want []int64
	}{
		{nil, []int64{}},
		{[]int64{0, 0}, []int64{0, 0}},
		{[]int64{-5, -1}, []int64{0, 0}},
		{[]int64{7}, []int64{10000}},
		{[]int64{1, 1, 1}, []int64{3334, 3333, 3333}}, // a tie goes to the earlier
		{[]int64{1, 2}, []int64{3333, 6667}},          // .33 and .67: the larger remainder
		{[]int64{1, 1, 1, 1, 1, 1, 1}, []int64{1429, 1429, 1429, 1429, 1428, 1428, 1428}}, // four points left over
		{[]int64{2, 1, 1}, []int64{5000, 2500, 2500}},                                     // exact
		{[]int64{9999, 1}, []int64{9999, 1}},                                              // exact
		{[]int64{1, big}, []int64{0, 10000}},                                              // tiny beside huge
		{[]int64{5, -3, 0, 5}, []int64{5000, 0, 0, 5000}},                                 // refunds beyond payments count as 0
		{[]int64{5000, 3500, 3000, 1500, 700, 500, 300}, []int64{3448, 2414, 2069, 1034, 483, 345, 207}},
		{[]int64{3500, 3000, 3000, 5000}, []int64{2414, 2069, 2069, 3448}},                // equal remainders: equal weights, earlier first
		{[]int64{1, 3, 3}, []int64{1428, 4286, 4286}},                                     // .57 .71 .71: two points, to the .71s
		{[]int64{math.MaxInt64, math.MaxInt64, math.MaxInt64}, []int64{3334, 3333, 3333}}, // the total overflows 64 bits
	}
	for _, tt := range tests {
		got := shares(tt.weights)
		if !slices.Equal(got, tt.want) {
			t.Errorf("shares(%v) = %v; want %v", tt.weights, got, tt.want)
		}
		var sum int64
		positive := false
		for i, v := range got {
			sum += v
			positive = positive || tt.weights[i] > 0
		}
		if positive && sum != 10000 {
			t.Errorf("shares(%v) sum to %d; want 10000", tt.weights, sum)
		}
	}
}

func TestBillCategoryTable(t *testing.T) {
	known := map[string]bool{}
	for _, c := range Categories {
		known[c] = true
	}
	if len(Categories) != 15 {
		t.Errorf("%d categories; the table documents 15", len(Categories))
	}
	used := map[string]bool{Other: true}
	for i, a := range mccRanges {
		if a.lo > a.hi || a.lo < 0 || a.hi > 9999 || !known[a.category] {
			t.Errorf("range %d–%d %q is malformed", a.lo, a.hi, a.category)
		}
		used[a.category] = true
		// Overlapping ranges must nest, the inner one narrower, so that
		// "the narrowest range wins" is never ambiguous.
		for _, b := range mccRanges[i+1:] {
			if a.hi < b.lo || b.hi < a.lo {
				continue
			}
			nested := (a.lo <= b.lo && b.hi <= a.hi) || (b.lo <= a.lo && a.hi <= b.hi)
			if !nested || a.hi-a.lo == b.hi-b.lo {
				t.Errorf("ranges %d–%d and %d–%d overlap without nesting", a.lo, a.hi, b.lo, b.hi)
			}
		}
	}
	for _, c := range Categories {
		if !used[c] {
			t.Errorf("no MCC maps to %s", c)
		}
	}
	for mcc, want := range map[string]string{
		"5814": Dining, "5812": Dining, "5411": Groceries, "5499": Groceries, "4111": Transport, "4121": Transport,
		"7523": Transport, "4511": Travel, "3058": Travel, "7011": Travel, "7512": Travel, "5541": Fuel, "5542": Fuel,
		"5983": Fuel, "5651": Shopping, "5732": Shopping, "5999": Shopping, "5311": Shopping, "7832": Entertainment,
		"7996": Entertainment, "5912": Health, "8062": Health, "4119": Health, "5047": Health, "8220": Education,
		"8351": Education, "4900": Utilities, "4814": Utilities, "4816": Digital, "5815": Digital, "5817": Digital,
		"7372": Digital, "7230": Services, "8111": Services, "4215": Services, "0742": Services, "9311": Government,
		"9222": Government, "6011": Financial, "6300": Financial, "4829": Financial, "0001": Other, "": Other,
		"58": Other, "58a4": Other, "+581": Other, "12345": Other,
	} {
		if got := CategoryOf(mcc); got != want {
			t.Errorf("CategoryOf(%q) = %s; want %s", mcc, got, want)
		}
	}
}

// TestBillCategoryTableIsDocumented keeps docs/bills.md's MCC table equal
// to mccRanges.
func TestBillCategoryTableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "bills.md"))
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	in := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "| MCC | category |"):
			in = true
		case in && strings.HasPrefix(line, "| ---"):
		case in && strings.HasPrefix(line, "| "):
			cells := strings.Split(line, " | ")
			documented = append(documented, strings.TrimPrefix(cells[0], "| ")+" "+cells[1])
		default:
			in = false
		}
	}
	var want []string
	for _, r := range mccRanges {
		codes := fmt.Sprintf("%04d", r.lo)
		if r.hi != r.lo {
			codes += fmt.Sprintf("–%04d", r.hi)
		}
		want = append(want, codes+" "+r.category)
	}
	if !slices.Equal(documented, want) {
		t.Errorf("docs/bills.md lists\n%s\nbills.go has\n%s", strings.Join(documented, "\n"), strings.Join(want, "\n"))
	}
}

func TestBillCursor(t *testing.T) {
	for _, id := range []int64{1, 42, math.MaxInt64} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("decodeCursor(encodeCursor(%d)) = %d, %v", id, got, err)
		}
	}
	for _, bad := range []string{"x", "cDo", "cDowMA", "cDotMQ", "cDphYmM", "MTIz", "!!!", "cDoxMjM=", encodeCursor(5) + "A"} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted a bad cursor", bad)
		}
	}
}

// TestStatementAgreesWithTheLedger seeds a year of movements and checks
// every month's statement against sums taken straight from the postings,
// with and without the stored days, then again after the stored days were
// tampered with; and the analysis against the seed's own arithmetic.
func TestStatementAgreesWithTheLedger(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, p := seedBills(t, pool, 6000, 2000)
	ctx := context.Background()
	loc := s.cfg.Location
	now := time.Now().In(loc)
	var balance int64
	if err := pool.QueryRow(ctx, `SELECT balance FROM accounts WHERE id = $1`, p.AccountID).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	sumBefore := func(at time.Time) int64 {
		var v int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = $1 AND created_at < $2`,
			p.AccountID, at).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	check := func(round string) {
		var prevClosing int64
		for i := 13; i >= 0; i-- {
			m := time.Date(now.Year(), now.Month()-time.Month(i), 1, 0, 0, 0, 0, loc)
			month := m.Format("2006-01")
			st, err := s.Statement(ctx, p, month, nil)
			if err != nil {
				t.Fatalf("%s: statement %s: %v", round, month, err)
			}
			live, err := s.statement(ctx, p, month, nil, false)
			if err != nil {
				t.Fatalf("%s: live statement %s: %v", round, month, err)
			}
			if !statementsEqual(st, live) {
				t.Errorf("%s: %s from stored days = %+v; from the ledger = %+v", round, month, st, live)
			}
			if want := sumBefore(m); st.OpeningBalance != want {
				t.Errorf("%s: %s opening = %d; the postings before it sum to %d", round, month, st.OpeningBalance, want)
			}
			if want := sumBefore(m.AddDate(0, 1, 0)); st.ClosingBalance != want {
				t.Errorf("%s: %s closing = %d; the postings before its end sum to %d", round, month, st.ClosingBalance, want)
			}
			if i < 13 && st.OpeningBalance != prevClosing {
				t.Errorf("%s: %s opening = %d; the month before closed at %d", round, month, st.OpeningBalance, prevClosing)
			}
			prevClosing = st.ClosingBalance
			if i == 0 && (st.ClosingBalance != balance || st.Complete) {
				t.Errorf("%s: this month closes at %d (complete %v); the balance is %d", round, st.ClosingBalance, st.Complete, balance)
			}
		}
	}
	check("first")
	var stored int
	pool.QueryRow(ctx, `SELECT count(*) FROM wallet_statement_days WHERE account_id = $1 AND type = ''`, p.AccountID).Scan(&stored)
	if stored < 360 {
		t.Errorf("stored days = %d; want every final day of the 14 months with movements", stored)
	}
	check("stored")
	// A wrong stored day is noticed (the month no longer adds up), the
	// answer comes from the ledger, and the month's days are dropped.
	month := time.Date(now.Year(), now.Month()-2, 1, 0, 0, 0, 0, loc)
	if _, err := pool.Exec(ctx, `UPDATE wallet_statement_days SET amount = amount + 1
		WHERE account_id = $1 AND day = $2 AND type = 'payment'`, p.AccountID, dateOf(month.AddDate(0, 0, 9))); err != nil {
		t.Fatal(err)
	}
	check("tampered")
	pool.QueryRow(ctx, `SELECT count(*) FROM wallet_statement_days WHERE account_id = $1 AND day >= $2 AND day < $3 AND type = 'payment' AND amount > 0`,
		p.AccountID, dateOf(month), dateOf(month.AddDate(0, 1, 0))).Scan(&stored)
	if stored != 0 {
		t.Errorf("the tampered day is still stored")
	}
}

func statementsEqual(a, b Statement) bool {
	return a.OpeningBalance == b.OpeningBalance && a.ClosingBalance == b.ClosingBalance && a.Movements == b.Movements &&
		a.Complete == b.Complete && slices.Equal(a.MoneyIn.ByType, b.MoneyIn.ByType) &&
		slices.Equal(a.MoneyOut.ByType, b.MoneyOut.ByType) && a.MoneyIn.Amount == b.MoneyIn.Amount && a.MoneyOut.Amount == b.MoneyOut.Amount
}

// TestStatementBalanceAtOutOfOrder makes created_at run against id order
// around a month boundary, as two ledger transactions can (one starts
// first and commits second), and checks the balances against plain sums.
func TestStatementBalanceAtOutOfOrder(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, p := seedBills(t, pool, 3000, 0)
	ctx := context.Background()
	loc := s.cfg.Location
	now := time.Now().In(loc)
	boundary := time.Date(now.Year(), now.Month()-4, 1, 0, 0, 0, 0, loc)
	// Rewrite the ten postings around the boundary to alternate sides of it
	// within a few minutes, in no order.
	_, err := pool.Exec(ctx, `WITH near AS (
			SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM postings
			WHERE account_id = $1 AND created_at >= $2::timestamptz - interval '1 day' ORDER BY created_at LIMIT 10)
		UPDATE postings p SET created_at = $2::timestamptz + CASE WHEN near.n % 2 = 0 THEN -1 ELSE 1 END * (near.n * interval '37 seconds')
		FROM near WHERE p.id = near.id`, p.AccountID, boundary)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{boundary, boundary.Add(-2 * time.Minute), boundary.Add(3 * time.Minute), boundary.AddDate(0, 1, 0)} {
		var got, want int64
		err := pool.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = $1 AND created_at < $2`, p.AccountID, at).Scan(&want)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err = balanceAt(ctx, tx, p.AccountID, at)
		tx.Rollback(ctx)
		if err != nil || got != want {
			t.Errorf("balanceAt(%s) = %d, %v; the postings before it sum to %d", at.Format(time.RFC3339), got, err, want)
		}
	}
	month := boundary.Format("2006-01")
	if _, err := s.Statement(ctx, p, month, nil); err != nil {
		t.Errorf("statement %s with postings out of order: %v", month, err)
	}
	// The history's dates (which it narrows to posting ids) select exactly
	// the postings created on those days.
	for _, days := range [][2]time.Time{{boundary.AddDate(0, 0, -1), boundary.AddDate(0, 0, -1)}, {boundary, boundary},
		{boundary.AddDate(0, 0, -1), boundary}, {boundary.AddDate(0, 0, -400), boundary}, {boundary, boundary.AddDate(0, 0, 400)}} {
		q := HistoryQuery{Limit: 100, From: dateOf(days[0]), To: dateOf(days[1])}
		var want []int64
		rows, err := pool.Query(ctx, `SELECT id FROM postings WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
			ORDER BY id DESC LIMIT 100`, p.AccountID, days[0], days[1].AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			want = append(want, id)
		}
		rows.Close()
		var got []int64
		for {
			page, err := s.History(ctx, p, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Data {
				got = append(got, it.postingID)
			}
			if !page.HasMore || len(got) >= 100 {
				break
			}
			q.StartingAfter = page.NextCursor
		}
		if len(got) > 100 {
			got = got[:100]
		}
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("history %s to %s = %d postings %v; want %d %v", q.From, q.To, len(got), got, len(want), want)
		}
	}
}

// TestAnalysisAgreesWithTheSeed checks a month's analysis against the
// seed's own rules: payments at merchant g*7 % 20, refunds of 500 against
// the payment before them.
func TestAnalysisAgreesWithTheSeed(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	s, p := seedBills(t, pool, 6000, 0)
	ctx := context.Background()
	loc := s.cfg.Location
	now := time.Now().In(loc)
	m := time.Date(now.Year(), now.Month()-2, 1, 0, 0, 0, 0, loc)
	a, err := s.Analysis(ctx, p, AnalysisQuery{From: dateOf(m), To: dateOf(m.AddDate(0, 1, -1)), Top: 3})
	if err != nil {
		t.Fatal(err)
	}
	// The same numbers straight from the ledger.
	var payments, refunds, paymentCount, refundCount int64
	err = pool.QueryRow(ctx, `SELECT coalesce(-sum(p.amount) FILTER (WHERE t.kind = 'payment'), 0), count(*) FILTER (WHERE t.kind = 'payment'),
			coalesce(sum(p.amount) FILTER (WHERE t.kind = 'refund'), 0), count(*) FILTER (WHERE t.kind = 'refund')
		FROM postings p JOIN transfers t ON t.id = p.transfer_id WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3`,
		p.AccountID, m, m.AddDate(0, 1, 0)).Scan(&payments, &paymentCount, &refunds, &refundCount)
	if err != nil {
		t.Fatal(err)
	}
	want := Spend{Payments: payments, PaymentCount: paymentCount, Refunds: refunds, RefundCount: refundCount, Net: payments - refunds}
	if a.Spending != want {
		t.Errorf("spending = %+v; want %+v", a.Spending, want)
	}
	var catNet, catShares, merchantNet, merchantShares int64
	for _, c := range a.Categories {
		catNet, catShares = catNet+c.Net, catShares+c.ShareBPS
	}
	for _, mc := range a.Merchants {
		merchantNet, merchantShares = merchantNet+mc.Net, merchantShares+mc.ShareBPS
	}
	rows, err := pool.Query(ctx, `SELECT DISTINCT t.merchant_id::text, t.mcc
		FROM postings p JOIN transfers t ON t.id = p.transfer_id
		WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3 AND t.kind IN ('payment', 'refund')`,
		p.AccountID, m, m.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	merchants, categories := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var id, mcc string
		if err := rows.Scan(&id, &mcc); err != nil {
			t.Fatal(err)
		}
		merchants[id], categories[CategoryOf(mcc)] = true, true
	}
	rows.Close()
	if a.Others == nil || a.Others.Merchants != len(merchants)-3 || len(a.Merchants) != 3 {
		t.Fatalf("merchants = %d + others %+v; want the top 3 of %d", len(a.Merchants), a.Others, len(merchants))
	}
	merchantNet, merchantShares = merchantNet+a.Others.Net, merchantShares+a.Others.ShareBPS
	if catNet != want.Net || merchantNet != want.Net || catShares != 10000 || merchantShares != 10000 {
		t.Errorf("categories net %d (shares %d), merchants net %d (shares %d); want %d and 10000", catNet, catShares, merchantNet, merchantShares, want.Net)
	}
	if len(a.Categories) != len(categories) {
		t.Errorf("categories = %+v; want %d", a.Categories, len(categories))
	}
	for i := 1; i < len(a.Categories); i++ {
		if a.Categories[i-1].Net < a.Categories[i].Net {
			t.Errorf("categories are not by net spending, largest first: %+v", a.Categories)
		}
	}
	if len(a.Months) != 12 || a.Months[11].Month != m.Format("2006-01") || a.Months[11].Net != want.Net {
		t.Errorf("months = %+v; want 12 ending with %s at %d", a.Months, m.Format("2006-01"), want.Net)
	}
	if a.TopUps.Count == 0 || a.TransfersIn.Count == 0 || a.TransfersOut.Count == 0 {
		t.Errorf("top-ups %+v, transfers in %+v, out %+v; want the month's", a.TopUps, a.TransfersIn, a.TransfersOut)
	}
}
