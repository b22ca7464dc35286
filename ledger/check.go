package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/postgres"
)

// Drift is one account whose stored balance differs from its postings.
type Drift struct {
	AccountID int64 `json:"account_id"`
	Balance   int64 `json:"balance"`
	Postings  int64 `json:"postings_sum"`
}

// Report is the result of Check.
type Report struct {
	Accounts int64 `json:"accounts"`
	// Total is the sum of every account balance per currency; it is zero
	// when no money was created or destroyed.
	Total map[string]int64 `json:"total"`
	// Drifts lists accounts whose balance is not the sum of their postings.
	Drifts []Drift `json:"drifts"`
	// Unbalanced lists transfers whose postings do not sum to zero.
	Unbalanced []uuid.UUID `json:"unbalanced"`
	// Overdrawn lists non-negative accounts below zero.
	Overdrawn []int64 `json:"overdrawn"`
}

// OK reports whether the ledger is consistent.
func (r Report) OK() bool {
	for _, v := range r.Total {
		if v != 0 {
			return false
		}
	}
	return len(r.Drifts) == 0 && len(r.Unbalanced) == 0 && len(r.Overdrawn) == 0
}

// Check recomputes every balance from its postings, in one repeatable-read
// snapshot, and reports any drift. It reads every posting, so it is a job for
// tests, reconciliation and the admin endpoint, not for the request path.
func Check(ctx context.Context, db postgres.Beginner) (Report, error) {
	var r Report
	err := postgres.InTx(ctx, db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			var err error
			r, err = check(ctx, tx)
			return err
		})
	return r, err
}

func check(ctx context.Context, q Querier) (Report, error) {
	r := Report{Total: map[string]int64{}, Drifts: []Drift{}, Unbalanced: []uuid.UUID{}, Overdrawn: []int64{}}
	rows, err := q.Query(ctx, `
		SELECT a.id, a.currency, a.balance, a.allow_negative, coalesce(p.sum, 0)
		FROM accounts a
		LEFT JOIN (SELECT account_id, sum(amount)::bigint AS sum FROM postings GROUP BY account_id) p
			ON p.account_id = a.id
		ORDER BY a.id`)
	if err != nil {
		return r, fmt.Errorf("check balances: %w", err)
	}
	for rows.Next() {
		var d Drift
		var currency string
		var allowNegative bool
		if err := rows.Scan(&d.AccountID, &currency, &d.Balance, &allowNegative, &d.Postings); err != nil {
			rows.Close()
			return r, fmt.Errorf("check balances: %w", err)
		}
		r.Accounts++
		r.Total[currency] += d.Balance
		if d.Balance != d.Postings {
			r.Drifts = append(r.Drifts, d)
		}
		if !allowNegative && d.Balance < 0 {
			r.Overdrawn = append(r.Overdrawn, d.AccountID)
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("check balances: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT transfer_id FROM postings GROUP BY transfer_id HAVING sum(amount) <> 0`)
	if err != nil {
		return r, fmt.Errorf("check transfers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return r, fmt.Errorf("check transfers: %w", err)
		}
		r.Unbalanced = append(r.Unbalanced, id)
	}
	return r, rows.Err()
}
