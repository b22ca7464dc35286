package ledger

import (
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// feedWrites gathers the wallet feed entries of a batch: one for each
// posting on a wallet account, or the transfer's own (Transfer.Feed) in
// place of its posting on that account. They are written in the batch's write
// pipeline, in the transaction that commits their transfers, so a wallet's
// feed shows a movement if and only if it committed. The batch holds every
// account it touches locked (step 1 of commitTx) when the entries take
// their ids, so the ids of one account's entries grow in commit order:
// readers of the feed page and resume by id without missing an entry that
// commits late.
type feedWrites struct {
	account, amount []int64
	transfer        []uuid.UUID
	kind            []string
	at              []time.Time
}

func (w *feedWrites) add(accounts map[int64]*Account, t *Transfer) {
	var own int64
	if f := t.Feed; f != nil {
		if a := accounts[f.AccountID]; a != nil && a.Kind == Wallet {
			own = f.AccountID
			w.entry(t, f.AccountID, f.Amount)
		}
	}
	for _, p := range t.Postings {
		if a := accounts[p.AccountID]; a == nil || a.Kind != Wallet || p.AccountID == own {
			continue
		}
		w.entry(t, p.AccountID, p.Amount)
	}
}

func (w *feedWrites) entry(t *Transfer, account, amount int64) {
	w.account, w.amount = append(w.account, account), append(w.amount, amount)
	w.transfer, w.kind, w.at = append(w.transfer, t.ID), append(w.kind, t.Kind), append(w.at, t.CreatedAt)
}

func (w *feedWrites) queue(b *pgx.Batch) {
	if len(w.account) == 0 {
		return
	}
	b.Queue(`INSERT INTO wallet_notifications (account_id, kind, transfer_id, amount, created_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::uuid[], $4::bigint[], $5::timestamptz[])`,
		w.account, w.kind, w.transfer, w.amount, w.at)
}
