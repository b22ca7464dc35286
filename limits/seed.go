package limits

import (
	"context"
	"errors"
	"time"

	"github.com/qrpay/qrpay/errs"
)

// seedTimeout bounds one rebuild of a day from the ledger. A rebuild runs
// on behalf of every payment waiting for it, so no one caller's deadline
// cancels it.
const seedTimeout = 10 * time.Second

// ensureSeeded makes sure the day's hash exists, rebuilding it from the
// ledger if it does not.
//
// Within a process the rebuild runs once however many payments find the day
// missing at the same moment (singleflight); each waits for it at most
// until its own context ends. Across replicas each may call SeedFunc once;
// that costs a ledger read and nothing more, since seedScript lets only the
// first initialise the day.
func (s *Store) ensureSeeded(ctx context.Context, key, cardID string, start, end, now time.Time) error {
	ch := s.seeding.DoChan(key, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), seedTimeout)
		defer cancel()
		return nil, s.rebuild(rctx, key, cardID, start, end, now)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, ctx.Err(), "card limits unavailable; try again")
	}
}

// rebuild seeds the day from the ledger unless it exists. The existence
// check matters within a process too: a payment that saw the day missing
// just before an earlier rebuild finished would otherwise read the ledger
// again.
func (s *Store) rebuild(ctx context.Context, key, cardID string, start, end, now time.Time) error {
	seeded, err := s.rdb.HExists(ctx, key, "seeded").Result()
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
	}
	if seeded {
		return nil
	}
	u, err := s.seed(ctx, cardID, start, end)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return err
		}
		return errs.Wrap(errs.Unavailable, err, "card limits could not be rebuilt from the ledger; try again")
	}
	if u.Amount < 0 || u.Count < 0 || u.Amount > maxAmount {
		return errs.E(errs.Internal, "limits: ledger usage of card %s on %s is out of range: %+v",
			cardID, start.Format(time.DateOnly), u)
	}
	// The TTL is relative to the caller's clock, so a skewed Redis clock
	// cannot expire the day early, and it never drops to nothing.
	ttl := max(start.Add(keyTTL).Sub(now), time.Minute)
	if err := seedScript.Run(ctx, s.rdb, []string{key}, u.Amount, u.Count, ttl.Milliseconds()).Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
	}
	return nil
}
