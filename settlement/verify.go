package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/ledger"
)

// Check is the reconciliation of one stored settlement against the ledger.
type Check struct {
	MerchantID string   `json:"merchant_id"`
	Date       string   `json:"date"`
	OK         bool     `json:"ok"`
	Drifts     []string `json:"drifts" doc:"What disagrees; empty when ok."`
	Stored     Totals   `json:"stored"`
	Ledger     Totals   `json:"ledger"`
	SHA256     string   `json:"sha256" doc:"The SHA-256 of the file regenerated from the ledger now."`
}

// Verify recomputes a day from the ledger for every merchant (or one) and
// compares it with what was settled: the counts and sums, the file's
// checksum regenerated from the ledger, the stored file's own bytes, and
// the settlement transfer. Any difference is a drift.
func (s *Service) Verify(ctx context.Context, date, merchantID string) ([]Check, error) {
	day, err := s.ParseDay(date)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM merchants WHERE created_at < $1 AND ($2 = '' OR id::text = $2) ORDER BY id`,
		day.End, merchantID)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	var checks []Check
	for _, id := range ids {
		c, err := s.verifyOne(ctx, id, day)
		if err != nil {
			return checks, err
		}
		checks = append(checks, c)
	}
	return checks, nil
}

func (s *Service) verifyOne(ctx context.Context, merchantID string, day Day) (Check, error) {
	c := Check{MerchantID: merchantID, Date: day.Date, Drifts: []string{}}
	drift := func(format string, args ...any) { c.Drifts = append(c.Drifts, fmt.Sprintf(format, args...)) }
	m, err := s.merchant(ctx, merchantID)
	if err != nil {
		return c, err
	}
	st, err := s.Get(ctx, merchantID, day.Date)
	version := FormatVersion
	if err == nil {
		day.Start, day.End = st.PeriodStart, st.PeriodEnd // recompute exactly the period that was settled
		version = st.FormatVersion                        // in the layout it was written in
	}
	if c.Ledger, err = s.totals(ctx, m, day); err != nil {
		return c, err
	}
	h := newHashingWriter(io.Discard)
	if _, err := s.writeFile(ctx, h, m, day, version); err != nil {
		return c, err
	}
	c.SHA256 = h.hex()
	if err != nil || st.Status != "settled" {
		drift("the day is not settled")
		return c, nil
	}
	c.Stored = Totals{PaymentsCount: st.PaymentsCount, PaymentsAmount: st.PaymentsAmount, RefundsCount: st.RefundsCount,
		RefundsAmount: st.RefundsAmount, Fees: st.Fees, Net: st.Net}
	for _, f := range []struct {
		name           string
		stored, ledger int64
	}{
		{"payments count", c.Stored.PaymentsCount, c.Ledger.PaymentsCount},
		{"payments amount", c.Stored.PaymentsAmount, c.Ledger.PaymentsAmount},
		{"refunds count", c.Stored.RefundsCount, c.Ledger.RefundsCount},
		{"refunds amount", c.Stored.RefundsAmount, c.Ledger.RefundsAmount},
		{"fees", c.Stored.Fees, c.Ledger.Fees},
		{"net", c.Stored.Net, c.Ledger.Net},
	} {
		if f.stored != f.ledger {
			drift("%s: settled %d, ledger %d", f.name, f.stored, f.ledger)
		}
	}
	if st.SHA256 != c.SHA256 {
		drift("checksum: settled %s, regenerated from the ledger %s", st.SHA256, c.SHA256)
	}
	if r, err := s.files.Open(ctx, FileKey{MerchantID: merchantID, Date: day.Date}); err != nil {
		drift("stored file: %v", err)
	} else {
		fh := sha256.New()
		n, err := io.Copy(fh, r)
		r.Close()
		if sum := hex.EncodeToString(fh.Sum(nil)); err != nil || sum != st.SHA256 || n != st.FileSize {
			drift("stored file: %d bytes with checksum %s; settled %d bytes with %s", n, sum, st.FileSize, st.SHA256)
		}
	}
	switch {
	case st.Net == 0 && st.TransferID != nil:
		drift("a zero net has a transfer %s", *st.TransferID)
	case st.Net != 0 && st.TransferID == nil:
		drift("a net of %d has no transfer", st.Net)
	case st.TransferID != nil:
		t, err := ledger.GetTransfer(ctx, s.pool, uuid.MustParse(*st.TransferID))
		if err != nil {
			drift("transfer %s: %v", *st.TransferID, err)
			break
		}
		if p, ok := t.Posting(m.account); !ok || p.Amount != -st.Net {
			drift("transfer %s does not move %d out of the merchant account", t.ID, st.Net)
		}
		if p, ok := t.Posting(m.payout); !ok || p.Amount != st.Net {
			drift("transfer %s does not move %d into the payout account", t.ID, st.Net)
		}
	}
	c.OK = len(c.Drifts) == 0
	return c, nil
}
