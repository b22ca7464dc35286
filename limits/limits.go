// Package limits enforces a card's spending limits (per transaction, amount
// per day, count per day) with counters in Redis that every gateway replica
// shares.
//
// A payment or top-up first Reserves against the card's limits, then either
// Commits (the ledger posted it) or Releases (anything failed after the
// reservation). Reserved-but-uncommitted usage counts against the limits, so
// limits hold exactly however many payments race for the same card.
//
// Redis is not the truth, the ledger is. A day's counters that are missing
// (first use that day, Redis restarted or lost the key) are rebuilt from the
// ledger through the caller's SeedFunc before anything is reserved. What a
// rebuild cannot know is a reservation that was in flight when Redis lost the
// key: if it commits afterwards, its amount is missing from the rebuilt
// counters (and if the ledger already held it when the seed ran, it is
// counted once, as it should be). That window — Redis losing data while a
// payment is between Reserve and Commit — is the one way a day can overrun
// its limit, by at most the payments in flight at that moment.
//
// Every key of a card lives under one Redis Cluster hash tag, {card:<id>},
// so the scripts and the two-day read in Pending run unchanged on a cluster.
package limits

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/qrpay/qrpay/errs"
)

// Limits are a card's limits in minor units, read by the caller from
// PostgreSQL and passed on every Reserve, so a lowered limit applies to the
// very next payment. A zero limit allows nothing.
type Limits struct {
	PerTransaction int64
	DailyAmount    int64
	DailyCount     int64
}

// Usage is what a card has used on one day: committed and reserved amounts,
// and the number of payments.
type Usage struct {
	Amount int64
	Count  int64
}

// Ref names the ledger transfer a reservation is for, by the transfer's
// idempotency scope and key, so that a reservation its process never
// settled (it crashed, or lost Redis's answer) can be settled later by
// what the ledger holds: see Reconcile.
type Ref struct {
	Scope, Key string
}

// Reservation is a successful Reserve. The caller keeps it until the ledger
// has answered and then passes it to Commit or Release.
type Reservation struct {
	CardID string
	// ID is random, made by Reserve; it names the reservation in Redis.
	ID string
	// Day is the business day (YYYY-MM-DD in the store's location) the
	// reservation counts against, even if it is committed after midnight.
	Day    string
	Amount int64
}

// SeedFunc returns a card's committed usage in [dayStart, dayEnd) from the
// ledger. It is how the counters are rebuilt when Redis does not have them,
// so it must read the ledger, never Redis.
type SeedFunc func(ctx context.Context, cardID string, dayStart, dayEnd time.Time) (Usage, error)

// maxAmount bounds amounts and limits: Redis runs Lua with double-precision
// numbers, and with every operand at most 2^52 a sum of two is still exact.
// 2^52 minor units is far above any real limit.
const maxAmount = 1 << 52

// keyTTL is how long a day's counters live after the day starts: long
// enough to commit or release a reservation made just before midnight and
// for Pending to see yesterday's reservations.
const keyTTL = 48 * time.Hour

// seedAttempts bounds how often Reserve rebuilds a missing day before it
// gives up; more than one is only needed when Redis loses the key again
// between the rebuild and the reserve.
const seedAttempts = 3

// CommittedFunc reports whether the ledger holds the transfer ref names. It
// must read the ledger, never Redis.
type CommittedFunc func(ctx context.Context, ref Ref) (bool, error)

// Store keeps per-card daily usage in Redis.
type Store struct {
	rdb     redis.UniversalClient
	scripts redis.Scripter // rdb, or an autopipeliner in front of it
	prefix  string
	loc     *time.Location
	seed    SeedFunc

	// committed and grace settle forgotten reservations (Reconcile).
	committed CommittedFunc
	grace     time.Duration

	// seeding holds the rebuilds in flight in this process, by key, so that
	// concurrent first payments of a card call SeedFunc once, not once each.
	seeding singleflight.Group
}

// New returns a store whose keys start with prefix and whose days are
// calendar days in loc (the business time zone). seed rebuilds a day's
// counters from the ledger. rdb, loc and seed are required; a missing one
// is a wiring bug and panics here rather than on the first payment.
func New(rdb redis.UniversalClient, prefix string, loc *time.Location, seed SeedFunc) *Store {
	if rdb == nil || loc == nil || seed == nil {
		panic("limits.New: rdb, loc and seed are required")
	}
	return &Store{rdb: rdb, scripts: rdb, prefix: prefix, loc: loc, seed: seed}
}

// Batching runs the store's scripts through sc, typically rdb's
// autopipeliner: the reservations and commits of concurrent payments then
// share round trips to Redis instead of taking one each.
func (s *Store) Batching(sc redis.Scripter) *Store {
	s.scripts = sc
	return s
}

// Reconciling lets the store settle reservations older than grace by the
// ledger (see Reconcile): grace must exceed the longest time a transfer can
// take between its reservation and its commit. Call it before first use.
func (s *Store) Reconciling(grace time.Duration, committed CommittedFunc) *Store {
	s.grace, s.committed = grace, committed
	return s
}

// DayBounds returns the business day that contains now in loc, as
// YYYY-MM-DD, and its start and end (exclusive). A day is a calendar day in
// loc, so it may be 23 or 25 hours long where loc has daylight saving time.
func DayBounds(now time.Time, loc *time.Location) (day string, start, end time.Time) {
	y, m, d := now.In(loc).Date()
	start = time.Date(y, m, d, 0, 0, 0, 0, loc)
	end = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	return start.Format(time.DateOnly), start, end
}

// key is the hash holding one card's usage on one day. Its fields:
// seeded (present once the day was rebuilt from the ledger, so a day with
// zero usage is not rebuilt again), amount, count, pending (outstanding
// reservations), and r:<id> = amount for each outstanding reservation.
func (s *Store) key(cardID, day string) string {
	return s.prefix + "limits:{card:" + cardID + "}:" + day
}

// Reserve reserves amount against the card's limits for the day of now.
// It refuses with limit_exceeded, naming the limit, when amount is over the
// per-transaction limit, or when the day's usage plus amount would exceed
// the daily amount or daily count; a refusal changes nothing. The common
// path is one script call; a day not yet in Redis is first rebuilt from the
// ledger. Redis failures are unavailable: callers fail closed.
func (s *Store) Reserve(ctx context.Context, cardID string, amount int64, lim Limits, now time.Time) (Reservation, error) {
	return s.ReserveFor(ctx, cardID, amount, lim, now, Ref{})
}

// ReserveFor is Reserve for the transfer ref names: a reservation its
// process never commits or releases is settled by Reconcile. A refusal by
// the daily limits while older reservations are outstanding reconciles the
// card first and tries once more, so a forgotten reservation never keeps a
// card refused.
func (s *Store) ReserveFor(ctx context.Context, cardID string, amount int64, lim Limits, now time.Time, ref Ref) (Reservation, error) {
	r, err := s.reserve(ctx, cardID, amount, lim, now, ref)
	if errs.Is(err, errs.LimitExceeded) && amount <= lim.PerTransaction && s.committed != nil {
		if n, rerr := s.Reconcile(ctx, cardID, now); rerr == nil && n > 0 {
			return s.reserve(ctx, cardID, amount, lim, now, ref)
		}
	}
	return r, err
}

func (s *Store) reserve(ctx context.Context, cardID string, amount int64, lim Limits, now time.Time, ref Ref) (Reservation, error) {
	switch {
	case cardID == "":
		return Reservation{}, errs.E(errs.Invalid, "card id is required")
	case amount <= 0:
		return Reservation{}, errs.E(errs.Invalid, "amount must be positive")
	case amount > maxAmount:
		return Reservation{}, errs.E(errs.Invalid, "amount is too large")
	case lim.PerTransaction < 0 || lim.DailyAmount < 0 || lim.DailyCount < 0:
		return Reservation{}, errs.E(errs.Invalid, "card limits must not be negative")
	}
	// The per-transaction limit depends only on the arguments: refusing it
	// here costs no round trip and never triggers a rebuild.
	if amount > lim.PerTransaction {
		return Reservation{}, errs.E(errs.LimitExceeded, "amount exceeds the card's per-transaction limit")
	}
	day, start, end := DayBounds(now, s.loc)
	key := s.key(cardID, day)
	r := Reservation{CardID: cardID, ID: rand.Text(), Day: day, Amount: amount}
	if ref.Key != "" {
		r.ID = refID(ref, amount)
	}
	args := []any{"r:" + r.ID, amount, min(lim.DailyAmount, maxAmount), min(lim.DailyCount, maxAmount)}
	if ref.Key != "" {
		args = append(args, "k:"+r.ID, encodeRef(now, ref))
	}
	for attempt := 1; ; attempt++ {
		res, err := reserveScript.Run(ctx, s.scripts, []string{key}, args...).Text()
		if err != nil {
			return Reservation{}, errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
		}
		switch res {
		case "ok":
			return r, nil
		case "daily_amount":
			return Reservation{}, errs.E(errs.LimitExceeded, "amount exceeds the card's daily amount limit")
		case "daily_count":
			return Reservation{}, errs.E(errs.LimitExceeded, "the card has reached its daily count limit")
		case "missing":
		default:
			return Reservation{}, errs.E(errs.Internal, "limits: reserve script answered %q", res)
		}
		if attempt == seedAttempts {
			return Reservation{}, errs.E(errs.Unavailable, "card limits could not be initialised; try again")
		}
		if err := s.ensureSeeded(ctx, key, cardID, start, end, now); err != nil {
			return Reservation{}, err
		}
	}
}

// Commit records that the ledger posted r: the reservation is forgotten and
// its usage stays. Committing twice, or after a Release, does nothing.
func (s *Store) Commit(ctx context.Context, r Reservation) error {
	return s.settle(ctx, commitScript, r)
}

// Release gives r's amount and count back to its day and forgets it, for a
// payment that failed after Reserve. Releasing twice, or after a Commit,
// does nothing, so a caller unsure of the outcome may always release.
func (s *Store) Release(ctx context.Context, r Reservation) error {
	return s.settle(ctx, releaseScript, r)
}

func (s *Store) settle(ctx context.Context, script *redis.Script, r Reservation) error {
	if r.CardID == "" || r.ID == "" {
		return errs.E(errs.Invalid, "reservation is incomplete")
	}
	if _, err := time.Parse(time.DateOnly, r.Day); err != nil {
		return errs.E(errs.Invalid, "reservation day is not a date")
	}
	if err := script.Run(ctx, s.scripts, []string{s.key(r.CardID, r.Day)}, "r:"+r.ID, "k:"+r.ID).Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
	}
	return nil
}

// Usage returns the card's usage on the day of now, reservations included,
// after reconciling the card: what the next Reserve is checked against. A day missing from Redis is
// rebuilt from the ledger first, so the answer is never a silent zero.
func (s *Store) Usage(ctx context.Context, cardID string, now time.Time) (Usage, error) {
	if cardID == "" {
		return Usage{}, errs.E(errs.Invalid, "card id is required")
	}
	if _, err := s.Reconcile(ctx, cardID, now); err != nil {
		return Usage{}, err
	}
	day, start, end := DayBounds(now, s.loc)
	key := s.key(cardID, day)
	for attempt := 1; ; attempt++ {
		v, err := s.rdb.HMGet(ctx, key, "seeded", "amount", "count").Result()
		if err != nil {
			return Usage{}, errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
		}
		if v[0] != nil {
			return Usage{Amount: toInt(v[1]), Count: toInt(v[2])}, nil
		}
		if attempt == seedAttempts {
			return Usage{}, errs.E(errs.Unavailable, "card limits could not be initialised; try again")
		}
		if err := s.ensureSeeded(ctx, key, cardID, start, end, now); err != nil {
			return Usage{}, err
		}
	}
}

// Pending returns how many of the card's reservations are neither committed
// nor released, among those made today or yesterday (a payment reserved just
// before midnight is still outstanding after it), after reconciling the
// card. Closing a wallet waits for zero. Reservations Redis lost are not
// counted; the ledger, which the closing checks too, still holds any that
// were posted.
func (s *Store) Pending(ctx context.Context, cardID string, now time.Time) (int, error) {
	if cardID == "" {
		return 0, errs.E(errs.Invalid, "card id is required")
	}
	if _, err := s.Reconcile(ctx, cardID, now); err != nil {
		return 0, err
	}
	today, start, _ := DayBounds(now, s.loc)
	yesterday, _, _ := DayBounds(start.Add(-time.Nanosecond), s.loc)
	// Both keys carry the card's hash tag, so the pipeline is one round trip
	// to one node even on a cluster.
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HGet(ctx, s.key(cardID, today), "pending")
		p.HGet(ctx, s.key(cardID, yesterday), "pending")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
	}
	n := 0
	for _, c := range cmds {
		v, err := c.(*redis.StringCmd).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
		}
		n += v
	}
	return n, nil
}

// toInt reads an HMGET value; an absent field is zero.
func toInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Reconcile settles the card's reservations of today and yesterday that are
// older than the grace period given to Reconciling and were made for a
// transfer (ReserveFor), by what the ledger holds: committed if it holds the
// transfer, released if not. That is how a reservation whose process died
// between Reserve and Commit, or whose Commit or Release never reached
// Redis, stops counting wrongly, so the counters converge to the ledger. It
// returns how many it settled. Without Reconciling it does nothing.
//
// A transfer that commits after its reservation was released this way —
// one that took longer than the grace period — is missing from the
// counters until the day ends, as after Redis loses a day.
func (s *Store) Reconcile(ctx context.Context, cardID string, now time.Time) (int, error) {
	if s.committed == nil {
		return 0, nil
	}
	today, start, _ := DayBounds(now, s.loc)
	yesterday, _, _ := DayBounds(start.Add(-time.Nanosecond), s.loc)
	settled := 0
	for _, day := range []string{today, yesterday} {
		key := s.key(cardID, day)
		fields, err := s.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return settled, errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
		}
		for field, v := range fields {
			id, ok := strings.CutPrefix(field, "k:")
			if !ok {
				continue
			}
			at, ref, ok := decodeRef(v)
			if !ok || now.Sub(at) < s.grace {
				continue
			}
			done, err := s.committed(ctx, ref)
			if err != nil {
				return settled, err
			}
			script := releaseScript
			if done {
				script = commitScript
			}
			// Settled only if the reference is still the one read: a
			// retry that took the reservation over meanwhile renewed it.
			if err := script.Run(ctx, s.rdb, []string{key}, "r:"+id, field, v).Err(); err != nil {
				return settled, errs.Wrap(errs.Unavailable, err, "card limits unavailable; try again")
			}
			settled++
		}
	}
	return settled, nil
}

// refID is the id of the reservation made for ref's transfer of amount.
// One transfer, however many times it is attempted, holds one reservation:
// a retry after its process died (its idempotency lease ran out) takes
// over the dead attempt's reservation instead of adding a second, which
// Reconcile would confirm too once the retry commits, counting the
// transfer twice. The amount is part of it so that a retry with another
// amount never inherits a reservation checked for a smaller one.
func refID(ref Ref, amount int64) string {
	h := sha256.Sum256([]byte(ref.Scope + "\x1f" + ref.Key + "\x1f" + strconv.FormatInt(amount, 10)))
	return "t" + base64.RawURLEncoding.EncodeToString(h[:18])
}

// A reservation's reference is kept as "<unix ms>\x1f<scope>\x1f<key>".
func encodeRef(at time.Time, ref Ref) string {
	return strconv.FormatInt(at.UnixMilli(), 10) + "\x1f" + ref.Scope + "\x1f" + ref.Key
}

func decodeRef(v string) (time.Time, Ref, bool) {
	parts := strings.SplitN(v, "\x1f", 3)
	if len(parts) != 3 {
		return time.Time{}, Ref{}, false
	}
	ms, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return time.Time{}, Ref{}, false
	}
	return time.UnixMilli(ms), Ref{Scope: parts[1], Key: parts[2]}, true
}
