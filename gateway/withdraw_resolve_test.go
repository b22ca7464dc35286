package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/wallet"
)

// errAnswerLost is a credit whose answer never came back: the issuer may
// or may not have made it.
var errAnswerLost = errors.New("read tcp 127.0.0.1:50412->127.0.0.1:443: connection reset by peer")

// ledgerIssuer keeps its credits by reference, as a bank's push-to-card
// API does with an idempotency key: a credit sent again under a reference
// it has made is answered as made, never made twice, and one it declined
// is declined again. What it does with a
// new credit is scripted by amount, one step per call: "lost-after"
// (credits, the answer is lost), "lost-before" (the answer is lost before
// it credits), "unavailable" (refuses to take it), "decline", or "ok"
// once the script runs out.
type ledgerIssuer struct {
	wallet.SimulatedIssuer
	mu       sync.Mutex
	script   map[int64][]string
	credits  map[string]int64 // reference → amount credited
	declined map[string]bool  // references declined
	calls    map[string]int   // reference → credits asked
}

func newLedgerIssuer(script map[int64][]string) *ledgerIssuer {
	return &ledgerIssuer{SimulatedIssuer: wallet.SimulatedIssuer{MaxCharge: 5_000_000}, script: script,
		credits: map[string]int64{}, declined: map[string]bool{}, calls: map[string]int{}}
}

func (i *ledgerIssuer) Credit(ctx context.Context, ref string, amount int64, currency, reference string) error {
	if err := i.SimulatedIssuer.Credit(ctx, ref, amount, currency, reference); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.calls[reference]++
	if _, made := i.credits[reference]; made {
		return nil
	}
	if i.declined[reference] {
		return errs.E(errs.CardDeclined, "the issuer declined the credit")
	}
	step := "ok"
	if s := i.script[amount]; len(s) > 0 {
		step, i.script[amount] = s[0], s[1:]
	}
	switch step {
	case "lost-after":
		i.credits[reference] = amount
		return errAnswerLost
	case "lost-before":
		return errAnswerLost
	case "unavailable":
		return errs.E(errs.Unavailable, "the card issuer did not answer; try again")
	case "decline":
		i.declined[reference] = true
		return errs.E(errs.CardDeclined, "the issuer declined the credit")
	}
	i.credits[reference] = amount
	return nil
}

// made answers the credits made, by amount, and how many references were
// asked more than once.
func (i *ledgerIssuer) made() (byAmount map[int64]int, askedAgain int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	byAmount = map[int64]int{}
	for _, a := range i.credits {
		byAmount[a]++
	}
	for _, n := range i.calls {
		if n > 1 {
			askedAgain++
		}
	}
	return byAmount, askedAgain
}

// TestWithdrawalsLeftInTransitAreFinished: three withdrawals whose
// issuer's answer was lost — one credited, two not — stay in transit;
// the resolver, run by two replicas at once, asks the issuer again under
// each withdrawal's reference and finishes each once: the credited one
// settled without a second credit, one credited now, and the one the
// issuer now declines back in the wallet. A withdrawal younger than the
// resolver's age is left to its request.
func TestWithdrawalsLeftInTransitAreFinished(t *testing.T) {
	t.Parallel()
	issuer := newLedgerIssuer(map[int64][]string{
		3000: {"lost-after"},
		2000: {"lost-before", "ok"},
		1000: {"lost-before", "decline"},
		500:  {"lost-before", "ok"},
	})
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Issuer = issuer })
	replica := env.Replica(t, func(o *gatewaytest.Options) { o.Issuer = issuer }) // one issuer, as in life
	p := newPayer(t, env, 10000)
	for _, amount := range []int64{3000, 2000, 1000} {
		r := withdraw(env, t, p.customer, "lost-"+string(rune('a'+amount/1000)), map[string]any{"card_id": p.card.ID, "amount": amount, "pin": gatewaytest.PIN})
		if r.Status != http.StatusCreated {
			t.Fatalf("withdrawal of %d with its answer lost = %d %s; want 201: the money left the wallet", amount, r.Status, r.Body)
		}
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 6000 {
		t.Fatalf("in transit = %d; want 6000", got)
	}
	ctx := context.Background()
	// Younger than the resolver's age: left alone.
	left, err := env.Wallet.ResolveWithdrawals(ctx, time.Hour)
	if err != nil || left != (wallet.Resolved{}) {
		t.Fatalf("resolving withdrawals older than an hour = %+v, %v; want nothing done", left, err)
	}

	var wg sync.WaitGroup
	results := make([]wallet.Resolved, 2)
	for i, gw := range []*gatewaytest.Env{env, replica} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if results[i], err = gw.Wallet.ResolveWithdrawals(ctx, 0); err != nil {
				t.Errorf("resolve on replica %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if s, r := results[0].Settled+results[1].Settled, results[0].Reversed+results[1].Reversed; s < 2 || r < 1 {
		t.Errorf("the resolvers settled %d and reversed %d (%+v); want at least 2 and 1 between them", s, r, results)
	}
	if got := countTransfers(t, env, "withdrawal_settle"); got != 2 {
		t.Errorf("settled withdrawals = %d; want 2", got)
	}
	if got := countTransfers(t, env, "withdrawal_reversal"); got != 1 {
		t.Errorf("reversed withdrawals = %d; want 1", got)
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 0 {
		t.Errorf("in transit = %d; want 0", got)
	}
	if got := balance(t, env, p.customer); got != 10000-3000-2000 {
		t.Errorf("balance = %d; want %d: the declined 1000 back", got, 10000-3000-2000)
	}
	credits, again := issuer.made()
	if credits[3000] != 1 || credits[2000] != 1 || credits[1000] != 0 {
		t.Errorf("the issuer credited %v; want 3000 and 2000 once each, 1000 never", credits)
	}
	if again != 3 {
		t.Errorf("%d withdrawals were asked again; want 3", again)
	}
	// The bills show the declined one coming back.
	if page := history(t, env, p.customer, "type=withdrawal_reversal"); len(page.Data) != 1 || page.Data[0].Amount != 1000 {
		t.Errorf("reversals in the history = %+v; want the 1000", page.Data)
	}
	// The resolved money can leave the wallet, and the wallet close.
	if r := withdraw(env, t, p.customer, "rest", map[string]any{"card_id": p.card.ID, "amount": 5000, "pin": gatewaytest.PIN}); r.Status != http.StatusCreated {
		t.Errorf("withdrawing the rest = %d %s", r.Status, r.Body)
	}
	if r := env.DoOTP(t, "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, p.Auth()...); r.Status != http.StatusOK {
		t.Errorf("close after every withdrawal finished = %d %s", r.Status, r.Body)
	}
	if again, err := env.Wallet.ResolveWithdrawals(ctx, 0); err != nil || again != (wallet.Resolved{}) {
		t.Errorf("a second round = %+v, %v; want nothing left", again, err)
	}
	checkLedger(t, env)
}

// TestWithdrawalFinishedOnce: a resolver finishing a withdrawal while its
// request still waits for the issuer, which then declines it: of the
// settlement the resolver posts and the reversal the request tries, only
// one lands, so the money is neither sent to the card and given back, nor
// taken from other withdrawals in transit.
func TestWithdrawalFinishedOnce(t *testing.T) {
	t.Parallel()
	issuer := &gatedIssuer{ledgerIssuer: newLedgerIssuer(map[int64][]string{700: {"lost-before"}}),
		called: make(chan struct{}), release: make(chan error)}
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Issuer = issuer })
	p := newPayer(t, env, 10000)
	// Another withdrawal sits in transit, so a second finish would find
	// money there to take.
	if r := withdraw(env, t, p.customer, "other", map[string]any{"card_id": p.card.ID, "amount": 700, "pin": gatewaytest.PIN}); r.Status != http.StatusCreated {
		t.Fatalf("withdrawal left in transit = %d %s", r.Status, r.Body)
	}
	issuer.gate(1200)
	done := make(chan gatewaytest.Response, 1)
	go func() {
		done <- withdraw(env, t, p.customer, "raced", map[string]any{"card_id": p.card.ID, "amount": 1200, "pin": gatewaytest.PIN})
	}()
	<-issuer.called
	// The resolver settles both: the issuer credits the 1200 under its
	// reference, and the 700 now.
	res, err := env.Wallet.ResolveWithdrawals(context.Background(), 0)
	if err != nil || res.Settled != 2 {
		t.Fatalf("resolve = %+v, %v; want 2 settled", res, err)
	}
	// The request's own answer, late: declined.
	issuer.release <- errs.E(errs.CardDeclined, "the issuer declined the credit")
	<-done
	if got := countTransfers(t, env, "withdrawal_settle"); got != 2 {
		t.Errorf("settled = %d; want 2", got)
	}
	if got := countTransfers(t, env, "withdrawal_reversal"); got != 0 {
		t.Errorf("reversed = %d; want 0: the withdrawal was finished once, settled", got)
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 0 {
		t.Errorf("in transit = %d; want 0", got)
	}
	if got := balance(t, env, p.customer); got != 10000-700-1200 {
		t.Errorf("balance = %d; want %d", got, 10000-700-1200)
	}
	checkLedger(t, env)
}

// gatedIssuer holds the first credit of the gated amount until the test
// releases it with an answer; every other credit goes to the ledgerIssuer.
type gatedIssuer struct {
	*ledgerIssuer
	mu      sync.Mutex
	amount  int64
	called  chan struct{}
	release chan error
}

func (g *gatedIssuer) gate(amount int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.amount = amount
}

func (g *gatedIssuer) Credit(ctx context.Context, ref string, amount int64, currency, reference string) error {
	g.mu.Lock()
	held := amount == g.amount
	if held {
		g.amount = 0
	}
	g.mu.Unlock()
	if !held {
		return g.ledgerIssuer.Credit(ctx, ref, amount, currency, reference)
	}
	g.called <- struct{}{}
	select {
	case err := <-g.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
