package settlement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// CatchUp settles every business day that has ended and is not settled for
// every merchant: yesterday normally, and after an outage each day that was
// missed, oldest first. It returns what it did.
func (s *Service) CatchUp(ctx context.Context) ([]Outcome, error) {
	var first *time.Time
	// The oldest day some merchant still lacks: the day after its last
	// settled day, or the day it was created.
	err := s.pool.QueryRow(ctx, `SELECT min(coalesce(
			(SELECT max(business_date) + 1 FROM settlements st WHERE st.merchant_id = m.id AND st.status = 'settled'),
			(m.created_at AT TIME ZONE $1)::date))::timestamp
		FROM merchants m`, s.cfg.Location.String()).Scan(&first)
	if err != nil {
		return nil, fmt.Errorf("catch up: %w", err)
	}
	if first == nil {
		return nil, nil
	}
	last := s.Yesterday()
	var all []Outcome
	var failed error
	// A merchant that fails a day fails its later days too (days settle in
	// order), but the others carry on.
	for d := first.Format(time.DateOnly); d <= last.Date; {
		out, err := s.Run(ctx, d, "", false)
		all = append(all, out...)
		failed = errors.Join(failed, err)
		if ctx.Err() != nil {
			return all, errors.Join(failed, ctx.Err())
		}
		t, _ := time.Parse(time.DateOnly, d)
		d = t.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	return all, failed
}

// Schedule runs CatchUp once now and then every day at hh:mm in the
// configured time zone, until the returned stop is called. Several replicas
// may schedule it: the day's advisory lock lets one do the work.
func (s *Service) Schedule(hour, minute uint) (stop func() error, err error) {
	sch, err := gocron.NewScheduler(gocron.WithLocation(s.cfg.Location))
	if err != nil {
		return nil, err
	}
	run := func(ctx context.Context) {
		out, err := s.CatchUp(ctx)
		if err != nil {
			s.log.Error("scheduled settlement failed", "err", err)
			return
		}
		if len(out) > 0 {
			s.log.Info("scheduled settlement ran", "merchant_days", len(out))
		}
	}
	if _, err := sch.NewJob(gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(hour, minute, 0))),
		gocron.NewTask(run), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
		return nil, err
	}
	if _, err := sch.NewJob(gocron.OneTimeJob(gocron.OneTimeJobStartImmediately()), gocron.NewTask(run)); err != nil {
		return nil, err
	}
	sch.Start()
	return sch.Shutdown, nil
}
