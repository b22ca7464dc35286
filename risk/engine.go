package risk

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
)

var decisions = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "qrpay_risk_decisions_total",
	Help: "Risk decisions by movement kind and outcome (allow, alert, step_up, decline).",
}, []string{"kind", "outcome"})

// Engine evaluates movements against the rules, with the wallet's counters
// in Redis. Every key of a wallet (its cards' included: a card belongs to
// one wallet) lives under one Redis Cluster hash tag, {risk:<wallet id>},
// so the one script that updates and reads them runs on one node.
type Engine struct {
	rdb     redis.UniversalClient
	scripts redis.Scripter // rdb, or an autopipeliner in front of it
	prefix  string
	t       Thresholds
}

// NewEngine returns an engine whose keys start with prefix.
func NewEngine(rdb redis.UniversalClient, prefix string, t Thresholds) *Engine {
	if t.AmountAlpha <= 0 || t.AmountAlpha > 1 {
		t.AmountAlpha = 0.1
	}
	if t.DeclineWindow <= 0 {
		t.DeclineWindow = 10 * time.Minute
	}
	return &Engine{rdb: rdb, scripts: rdb, prefix: prefix, t: t}
}

// Thresholds returns the engine's thresholds.
func (e *Engine) Thresholds() Thresholds { return e.t }

func (e *Engine) key(walletID, name string) string {
	return e.prefix + "risk:{" + walletID + "}:" + name
}

// statsTTL is how long a wallet's amount statistic outlives its last
// outgoing movement.
const statsTTL = 90 * 24 * time.Hour

// Evaluate counts the movement in the wallet's counters, reads them back
// and runs the rules: one Redis round trip. A Redis failure is
// unavailable, as for every money-moving check: callers fail closed.
func (e *Engine) Evaluate(ctx context.Context, f Facts) (Decision, Counters, error) {
	c, err := e.count(ctx, f)
	if err != nil {
		return Decision{}, Counters{}, err
	}
	d := Decide(f, c, e.t)
	decisions.WithLabelValues(string(f.Kind), d.Outcome.String()).Inc()
	return d, c, nil
}

func (e *Engine) count(ctx context.Context, f Facts) (Counters, error) {
	if f.WalletID == "" {
		return Counters{}, errs.E(errs.Invalid, "risk: a wallet is required")
	}
	now := f.Now.UnixMilli()
	var velocity, merchant, amount string
	card := f.CardID
	if f.Kind == Payment && card != "" {
		velocity = f.Key
		if velocity == "" {
			velocity = strconv.FormatInt(now, 10)
		}
		merchant = f.MerchantID
	}
	if card == "" {
		card = "-"
	}
	if f.Kind != TopUp && f.Amount > 0 {
		amount = strconv.FormatInt(f.Amount, 10)
	}
	keys := []string{e.key(f.WalletID, "card:"+card+":payments"), e.key(f.WalletID, "card:"+card+":merchants"),
		e.key(f.WalletID, "declines"), e.key(f.WalletID, "amounts")}
	res, err := evaluateScript.Run(ctx, e.scripts, keys, now, velocity, merchant, amount, f.Key,
		e.t.DeclineWindow.Milliseconds(), strconv.FormatFloat(e.t.AmountAlpha, 'g', -1, 64),
		strconv.FormatFloat(e.t.AmountZ, 'g', -1, 64), strconv.FormatFloat(StdFloor, 'g', -1, 64),
		e.t.AmountMinHistory, statsTTL.Milliseconds()).StringSlice()
	if err != nil {
		return Counters{}, errs.Wrap(errs.Unavailable, err, "risk checks unavailable; try again")
	}
	if len(res) != 6 {
		return Counters{}, fmt.Errorf("risk: evaluate script answered %d values", len(res))
	}
	var c Counters
	ints := []*int64{&c.CardPayments, &c.CardMerchants, &c.Declines, &c.Amounts}
	for i, p := range ints {
		if *p, err = strconv.ParseInt(res[i], 10, 64); err != nil {
			return Counters{}, fmt.Errorf("risk: counter %d: %w", i, err)
		}
	}
	if c.Mean, err = strconv.ParseFloat(res[4], 64); err != nil {
		return Counters{}, fmt.Errorf("risk: mean: %w", err)
	}
	if c.Var, err = strconv.ParseFloat(res[5], 64); err != nil {
		return Counters{}, fmt.Errorf("risk: variance: %w", err)
	}
	return c, nil
}

// Declined counts a refused attempt of the wallet (a wrong PIN, no funds,
// a limit, a decline), for the repeated declines rule. key names the
// attempt, so a retry that is refused again counts once. It costs a Redis
// call on the refusal path only.
func (e *Engine) Declined(ctx context.Context, walletID, key string, now time.Time) error {
	if key == "" {
		key = strconv.FormatInt(now.UnixNano(), 10)
	}
	k := e.key(walletID, "declines")
	_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, redis.Z{Score: float64(now.UnixMilli()), Member: key})
		p.PExpire(ctx, k, e.t.DeclineWindow+time.Minute)
		return nil
	})
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "risk counters unavailable")
	}
	return nil
}

// Batching runs the evaluation script through sc, typically the client's
// autopipeliner: the evaluations of concurrent movements then share round
// trips to Redis.
func (e *Engine) Batching(sc redis.Scripter) *Engine {
	e.scripts = sc
	return e
}
