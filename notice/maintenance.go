package notice

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// Maintenance is the state of the maintenance switch.
type Maintenance struct {
	Active      bool       `json:"active" example:"true"`
	Message     string     `json:"message" example:"Payments are paused for a database upgrade."`
	ExpectedEnd *time.Time `json:"expected_end"`
	// AnnouncementID is the announcement that tells wallets about it.
	AnnouncementID string    `json:"announcement_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// maintenanceCache is a replica's memory of the switch. A request that
// finds it older than ttl reads the switch again (one request at a time;
// the others answer from memory meanwhile), so every replica sees a change
// within ttl plus one read.
type maintenanceCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	reading sync.Mutex
	state   Maintenance
	at      time.Time
	valid   bool
}

// StartMaintenance turns the switch on: money-moving requests are refused
// until StopMaintenance. A maintenance announcement, shown until the
// expected end, tells wallets why; starting again while on updates both.
func (s *Service) StartMaintenance(ctx context.Context, message string, expectedEnd *time.Time) (Maintenance, error) {
	message = strings.TrimSpace(message)
	now := s.now()
	switch {
	case message == "" || len([]rune(message)) > 500:
		return Maintenance{}, errs.E(errs.Invalid, "message must be 1 to 500 characters")
	case expectedEnd != nil && !expectedEnd.After(now):
		return Maintenance{}, errs.E(errs.Invalid, "expected_end must be in the future")
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Maintenance{}, fmt.Errorf("start maintenance: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var prev *string
	if err := tx.QueryRow(ctx, `SELECT CASE WHEN active THEN announcement_id::text END FROM maintenance WHERE id = 1 FOR UPDATE`).
		Scan(&prev); err != nil {
		return Maintenance{}, fmt.Errorf("start maintenance: %w", err)
	}
	if prev != nil {
		if _, err := tx.Exec(ctx, `UPDATE announcements SET ends_at = greatest($2, starts_at + interval '1 microsecond')
			WHERE id = $1 AND (ends_at IS NULL OR ends_at > $2)`, *prev, now); err != nil {
			return Maintenance{}, fmt.Errorf("start maintenance: %w", err)
		}
	}
	body := message
	if expectedEnd != nil {
		body += " Expected to end at " + expectedEnd.UTC().Format(time.RFC3339) + "."
	}
	a, err := announce(ctx, tx, AnnouncementInput{Kind: Planned, Title: "Payments are paused for maintenance", Body: body,
		StartsAt: now, EndsAt: expectedEnd}, now)
	if err != nil {
		return Maintenance{}, err
	}
	m, err := scanMaintenance(tx.QueryRow(ctx, `UPDATE maintenance SET active = true, message = $1, expected_end = $2,
		announcement_id = $3, updated_at = $4 WHERE id = 1 RETURNING `+maintenanceColumns, message, expectedEnd, a.ID, now))
	if err != nil {
		return Maintenance{}, fmt.Errorf("start maintenance: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Maintenance{}, fmt.Errorf("start maintenance: %w", err)
	}
	s.maint.set(m, time.Now())
	return m, nil
}

// StopMaintenance turns the switch off and ends its announcement.
func (s *Service) StopMaintenance(ctx context.Context) (Maintenance, error) {
	now := s.now()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Maintenance{}, fmt.Errorf("stop maintenance: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `UPDATE announcements a SET ends_at = greatest($1, a.starts_at + interval '1 microsecond')
		FROM maintenance m WHERE m.id = 1 AND m.active AND a.id = m.announcement_id AND (a.ends_at IS NULL OR a.ends_at > $1)`, now); err != nil {
		return Maintenance{}, fmt.Errorf("stop maintenance: %w", err)
	}
	m, err := scanMaintenance(tx.QueryRow(ctx, `UPDATE maintenance SET active = false, updated_at = $1 WHERE id = 1
		RETURNING `+maintenanceColumns, now))
	if err != nil {
		return Maintenance{}, fmt.Errorf("stop maintenance: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Maintenance{}, fmt.Errorf("stop maintenance: %w", err)
	}
	s.maint.set(m, time.Now())
	return m, nil
}

const maintenanceColumns = `active, message, expected_end, coalesce(announcement_id::text, ''), updated_at`

func scanMaintenance(row pgx.Row) (Maintenance, error) {
	var m Maintenance
	err := row.Scan(&m.Active, &m.Message, &m.ExpectedEnd, &m.AnnouncementID, &m.UpdatedAt)
	if !m.Active {
		m.Message, m.ExpectedEnd, m.AnnouncementID = "", nil, ""
	}
	return m, err
}

// ReadMaintenance reads the switch from PostgreSQL.
func (s *Service) ReadMaintenance(ctx context.Context) (Maintenance, error) {
	m, err := scanMaintenance(s.db.QueryRow(ctx, `SELECT `+maintenanceColumns+` FROM maintenance WHERE id = 1`))
	if err != nil {
		return Maintenance{}, fmt.Errorf("read maintenance: %w", err)
	}
	s.maint.set(m, time.Now())
	return m, nil
}

// CurrentMaintenance is the switch as this replica knows it: read again
// when the memory is older than the cache TTL. When PostgreSQL cannot be
// read, the last known state stands (and the request meets PostgreSQL's
// outage on its own path).
func (s *Service) CurrentMaintenance(ctx context.Context) Maintenance {
	c := &s.maint
	if m, fresh := c.get(time.Now()); fresh {
		return m
	}
	if !c.reading.TryLock() {
		m, _ := c.get(time.Now()) // another request is reading it
		return m
	}
	defer c.reading.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	m, err := s.ReadMaintenance(ctx)
	if err != nil {
		m, _ = c.get(time.Now())
	}
	return m
}

func (c *maintenanceCache) get(now time.Time) (Maintenance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.valid && now.Sub(c.at) < c.ttl
}

func (c *maintenanceCache) set(m Maintenance, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state, c.at, c.valid = m, now, true
}
