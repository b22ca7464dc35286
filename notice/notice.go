// Package notice is what the operator tells every wallet: announcements
// (security tips, planned maintenance, notices) with a validity window, and
// the maintenance switch that stops money-moving requests while the
// operator works on the system. Both live in PostgreSQL, so every replica
// sees the same; each replica remembers the switch for a bounded time.
package notice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/qrpay/qrpay/errs"
)

// Querier is a pool or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is what the service needs: queries and transactions.
type DB interface {
	Querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// The kinds of announcement.
const (
	SecurityTip = "security_tip"
	Planned     = "maintenance"
	General     = "notice"
)

// Announcement is a message from the operator to every wallet, shown
// between StartsAt and EndsAt (open-ended when EndsAt is nil).
type Announcement struct {
	ID        string     `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Kind      string     `json:"kind" example:"security_tip" enum:"security_tip,maintenance,notice"`
	Title     string     `json:"title" example:"We never ask for your PIN"`
	Body      string     `json:"body" example:"No one from the bank will ever ask for your payment PIN, by phone or message."`
	StartsAt  time.Time  `json:"starts_at"`
	EndsAt    *time.Time `json:"ends_at"`
	CreatedAt time.Time  `json:"created_at"`
}

// AnnouncementInput is a new announcement; StartsAt defaults to now.
type AnnouncementInput struct {
	Kind, Title, Body string
	StartsAt          time.Time
	EndsAt            *time.Time
}

// Service keeps announcements and the maintenance switch.
type Service struct {
	db    DB
	now   func() time.Time
	maint maintenanceCache
}

// New returns the service. cacheTTL bounds how long this replica answers
// from its memory of the maintenance switch: a change made through another
// replica takes effect here within it.
func New(db DB, cacheTTL time.Duration, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now, maint: maintenanceCache{ttl: cacheTTL}}
}

func validKind(k string) bool { return k == SecurityTip || k == Planned || k == General }

// Announce publishes an announcement.
func (s *Service) Announce(ctx context.Context, in AnnouncementInput) (Announcement, error) {
	return announce(ctx, s.db, in, s.now())
}

func announce(ctx context.Context, q Querier, in AnnouncementInput, now time.Time) (Announcement, error) {
	in.Title, in.Body = strings.TrimSpace(in.Title), strings.TrimSpace(in.Body)
	switch {
	case !validKind(in.Kind):
		return Announcement{}, errs.E(errs.Invalid, "kind must be security_tip, maintenance or notice")
	case in.Title == "" || len([]rune(in.Title)) > 120:
		return Announcement{}, errs.E(errs.Invalid, "title must be 1 to 120 characters")
	case len([]rune(in.Body)) > 2000:
		return Announcement{}, errs.E(errs.Invalid, "body must be at most 2000 characters")
	}
	if in.StartsAt.IsZero() {
		in.StartsAt = now
	}
	if in.EndsAt != nil && !in.EndsAt.After(in.StartsAt) {
		return Announcement{}, errs.E(errs.Invalid, "ends_at must be after starts_at")
	}
	a := Announcement{ID: uuid.Must(uuid.NewV7()).String(), Kind: in.Kind, Title: in.Title, Body: in.Body,
		StartsAt: in.StartsAt, EndsAt: in.EndsAt, CreatedAt: now}
	_, err := q.Exec(ctx, `INSERT INTO announcements (id, kind, title, body, starts_at, ends_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.ID, a.Kind, a.Title, a.Body, a.StartsAt, a.EndsAt, a.CreatedAt)
	if err != nil {
		return Announcement{}, fmt.Errorf("announce: %w", err)
	}
	return a, nil
}

const announcementColumns = `id, kind, title, body, starts_at, ends_at, created_at`

func scanAnnouncements(rows pgx.Rows) ([]Announcement, error) {
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Announcement, error) {
		var a Announcement
		err := row.Scan(&a.ID, &a.Kind, &a.Title, &a.Body, &a.StartsAt, &a.EndsAt, &a.CreatedAt)
		return a, err
	})
	if list == nil {
		list = []Announcement{}
	}
	return list, err
}

// Active lists the announcements shown now, newest first.
func (s *Service) Active(ctx context.Context) ([]Announcement, error) {
	rows, err := s.db.Query(ctx, `SELECT `+announcementColumns+` FROM announcements
		WHERE starts_at <= $1 AND (ends_at IS NULL OR ends_at > $1) ORDER BY starts_at DESC, id DESC LIMIT 100`, s.now())
	if err != nil {
		return nil, fmt.Errorf("active announcements: %w", err)
	}
	return scanAnnouncements(rows)
}

// All lists every announcement, past and future, newest first.
func (s *Service) All(ctx context.Context) ([]Announcement, error) {
	rows, err := s.db.Query(ctx, `SELECT `+announcementColumns+` FROM announcements ORDER BY created_at DESC, id DESC LIMIT 500`)
	if err != nil {
		return nil, fmt.Errorf("announcements: %w", err)
	}
	return scanAnnouncements(rows)
}

// Withdraw ends an announcement now.
func (s *Service) Withdraw(ctx context.Context, id string) (Announcement, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Announcement{}, errs.E(errs.NotFound, "announcement not found")
	}
	rows, err := s.db.Query(ctx, `UPDATE announcements SET ends_at = greatest($2, starts_at + interval '1 microsecond')
		WHERE id = $1 AND (ends_at IS NULL OR ends_at > $2) RETURNING `+announcementColumns, id, s.now())
	if err != nil {
		return Announcement{}, fmt.Errorf("withdraw announcement: %w", err)
	}
	list, err := scanAnnouncements(rows)
	if err != nil {
		return Announcement{}, fmt.Errorf("withdraw announcement: %w", err)
	}
	if len(list) == 1 {
		return list[0], nil
	}
	var a Announcement
	err = s.db.QueryRow(ctx, `SELECT `+announcementColumns+` FROM announcements WHERE id = $1`, id).
		Scan(&a.ID, &a.Kind, &a.Title, &a.Body, &a.StartsAt, &a.EndsAt, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Announcement{}, errs.E(errs.NotFound, "announcement not found")
	}
	return a, err
}
