package limits

import (
	"context"
	"errors"
	"time"

	"github.com/qrpay/qrpay/errs"
)

// flight is one rebuild in progress; the payments that find the same day
// missing wait for it instead of reading the ledger themselves.
type flight struct {
	done chan struct{}
	err  error
}

// ensureSeeded makes sure the day's hash exists, rebuilding it from the
// ledger if it does not.
//
// Within a process the rebuild runs once however many payments find the day
// missing at the same moment. Across replicas each may call SeedFunc once;
// that costs a ledger read and nothing more, since seedScript lets only the
// first initialise the day.
func (s *Store) ensureSeeded(ctx context.Context, key, cardID string, start, end, now time.Time) error {
	s.mu.Lock()
	if f, ok := s.seeding[key]; ok {
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return errs.Wrap(errs.Unavailable, ctx.Err(), "card limits unavailable; try again")
		}
		// The leader's failure is ours too, unless it was only the leader
		// giving up; then the caller's next attempt rebuilds the day itself.
		if f.err != nil && !errors.Is(f.err, context.Canceled) && !errors.Is(f.err, context.DeadlineExceeded) {
			return f.err
		}
		return nil
	}
	f := &flight{done: make(chan struct{})}
	s.seeding[key] = f
	s.mu.Unlock()

	f.err = s.rebuild(ctx, key, cardID, start, end, now)

	s.mu.Lock()
	delete(s.seeding, key)
	s.mu.Unlock()
	close(f.done)
	return f.err
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
