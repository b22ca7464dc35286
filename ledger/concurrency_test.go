package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
)

// TestBankConcurrency is the classic bank test: many writers move money at
// random among accounts while readers check, on every read, that no money was
// created or destroyed and that no wallet went negative.
func TestBankConcurrency(t *testing.T) {
	t.Parallel()
	const (
		writers   = 16
		perWriter = 500
		accounts  = 24
		initial   = 10_000
		shared    = 50 // keys every writer posts at once, identically
	)
	f := newFixture(t, accounts)
	for _, w := range f.wallets {
		f.fund(t, w, initial)
	}
	ctx := context.Background()

	var (
		mu      sync.Mutex
		acked   = map[uuid.UUID]int{}
		sharedT = make([]map[uuid.UUID]bool, shared)
	)
	for i := range sharedT {
		sharedT[i] = map[uuid.UUID]bool{}
	}
	var rejected atomic.Int64

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	readErr := make(chan error, 4)
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var total, minWallet int64
				err := f.pool.QueryRow(ctx, `SELECT sum(balance)::bigint,
					coalesce(min(balance) FILTER (WHERE NOT allow_negative), 0) FROM accounts`).Scan(&total, &minWallet)
				switch {
				case err != nil:
					readErr <- err
					return
				case total != 0:
					readErr <- fmt.Errorf("read %d: total of all balances = %d; want 0", reads.Load(), total)
					return
				case minWallet < 0:
					readErr <- fmt.Errorf("read %d: a wallet is at %d", reads.Load(), minWallet)
					return
				}
				reads.Add(1)
			}
		}()
	}

	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range perWriter {
				var tr ledger.Transfer
				if i < shared {
					// Every writer posts the same transfer under the same key.
					from, to := f.wallets[i%accounts].ID, f.wallets[(i+1)%accounts].ID
					tr = move(from, to, 1, fmt.Sprintf("shared-%d", i))
				} else {
					from := rng.IntN(accounts)
					to := (from + 1 + rng.IntN(accounts-1)) % accounts
					tr = move(f.wallets[from].ID, f.wallets[to].ID, 1+rng.Int64N(3000), fmt.Sprintf("w%d-%d", w, i))
				}
				got, err := f.l.Post(ctx, tr)
				switch {
				case errs.Is(err, errs.InsufficientFunds):
					rejected.Add(1)
					continue
				case err != nil:
					t.Errorf("Post %s: %v", tr.Key, err)
					return
				}
				mu.Lock()
				if i < shared {
					sharedT[i][got.ID] = true
				} else {
					acked[got.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	readers.Wait()
	close(readErr)
	for err := range readErr {
		t.Error(err)
	}

	for i, ids := range sharedT {
		if len(ids) > 1 {
			t.Errorf("shared key %d produced %d transfers; want 1", i, len(ids))
		}
	}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("transfer %s acknowledged %d times", id, n)
		}
	}
	ids := make([]uuid.UUID, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	var present int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE id = ANY($1)`, ids).Scan(&present); err != nil {
		t.Fatal(err)
	}
	if present != len(acked) {
		t.Errorf("acknowledged transfers present = %d; want %d", present, len(acked))
	}
	var sharedRows int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE idem_key LIKE 'shared-%'`).Scan(&sharedRows); err != nil {
		t.Fatal(err)
	}
	if sharedRows != shared {
		t.Errorf("transfers under shared keys = %d; want %d", sharedRows, shared)
	}
	if got, want := f.count(t, "transfers"), len(acked)+shared+accounts; got != want {
		t.Errorf("transfers = %d; want %d acknowledged + %d shared + %d fundings", got, len(acked), shared, accounts)
	}
	report, err := ledger.Check(ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() {
		t.Errorf("ledger check: %+v", report)
	}
	if reads.Load() == 0 || rejected.Load() == 0 {
		t.Errorf("reads = %d, rejected = %d; the test wants both readers and overdraft attempts to have run", reads.Load(), rejected.Load())
	}
	t.Logf("%d transfers committed, %d refused for funds, %d consistent snapshot reads", len(acked), rejected.Load(), reads.Load())
}

// TestConcurrentHotAccount pays one account from many wallets at once: the
// shape of a busy merchant. Every payment lands and the balance is exact.
func TestConcurrentHotAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 41)
	hot := f.wallets[40]
	payers := f.wallets[:40]
	for _, w := range payers {
		f.fund(t, w, 1000)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, err := f.l.Post(context.Background(), move(w.ID, hot.ID, 40, fmt.Sprintf("%d-%d", w.ID, i))); err != nil {
					t.Errorf("pay: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := f.balance(t, hot.ID); got != 40*25*40 {
		t.Errorf("hot balance = %d; want %d", got, 40*25*40)
	}
	t.Logf("1000 payments to one account in %v", time.Since(start))
}
