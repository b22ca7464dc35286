package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Settlement is one merchant's business day, netted and paid out: what the
// finance team checks against its own records. Amounts are in minor units;
// Net = PaymentsAmount − RefundsAmount − Fees.
type Settlement struct {
	MerchantID string `json:"merchant_id"`
	// Date is the business day, YYYY-MM-DD in TimeZone.
	Date     string `json:"date"`
	TimeZone string `json:"time_zone"`
	// PeriodStart and PeriodEnd bound what the settlement covers: normally
	// the business day; a day closed early ends early, and the next
	// settlement starts where this one ended.
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	// Status is "pending" until the net has moved to the payout account,
	// then "settled".
	Status         string `json:"status"`
	Currency       string `json:"currency"`
	PaymentsCount  int64  `json:"payments_count"`
	PaymentsAmount int64  `json:"payments_amount"`
	RefundsCount   int64  `json:"refunds_count"`
	// RefundsAmount is positive: the sum of the day's refunds.
	RefundsAmount int64 `json:"refunds_amount"`
	// Fees are the fees on payments less those returned with refunds.
	Fees int64 `json:"fees"`
	Net  int64 `json:"net"`
	// TransferID is the ledger transfer that moved Net; nil when Net is 0.
	TransferID *string `json:"transfer_id"`
	// FileName, FileSize and SHA256 (hex) describe the settlement file, so
	// that a copy can be checked without downloading it again.
	FileName string `json:"file_name"`
	FileSize int64  `json:"file_size"`
	SHA256   string `json:"sha256"`
	// GeneratedAt is when the file was written; SettledAt when the net
	// moved, nil while pending.
	GeneratedAt time.Time  `json:"generated_at"`
	SettledAt   *time.Time `json:"settled_at"`
	// FormatVersion is the file's layout ("qrpay-settlement/2" adds each
	// row's funding); a day keeps the layout it was settled in.
	FormatVersion string `json:"format_version"`
}

// ListSettlementsParams selects and pages ListSettlements.
type ListSettlementsParams struct {
	// From and To bound the business days, YYYY-MM-DD, both inclusive;
	// empty leaves that side open.
	From, To string
	// Limit is the page size; see ListOrdersParams.Limit.
	Limit int
	// StartingAfter resumes a listing after this date.
	StartingAfter string
}

// ListSettlements yields the merchant's settlements, newest first, fetching
// pages as the range needs them. It needs a key with the finance scope. A
// failed page is yielded as (nil, err) and ends the listing.
func (c *Client) ListSettlements(ctx context.Context, params *ListSettlementsParams) iter.Seq2[*Settlement, error] {
	q := url.Values{}
	if params != nil {
		if params.From != "" {
			q.Set("from", params.From)
		}
		if params.To != "" {
			q.Set("to", params.To)
		}
		setPaging(q, params.Limit, params.StartingAfter)
	}
	return paginate(ctx, c, "/v1/settlements", q, func(s *Settlement) string { return s.Date })
}

// GetSettlement returns the settlement of one business day (YYYY-MM-DD).
func (c *Client) GetSettlement(ctx context.Context, date string) (*Settlement, error) {
	seg, err := segment("settlement date", date)
	if err != nil {
		return nil, err
	}
	var s Settlement
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/settlements/" + seg}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SettlementCheck is a settled day recomputed from the ledger and compared
// with what was settled: the counts and sums, the file's checksum, the stored
// file's bytes and the payout transfer.
type SettlementCheck struct {
	MerchantID string `json:"merchant_id"`
	Date       string `json:"date"`
	// OK is true when nothing drifts.
	OK bool `json:"ok"`
	// Drifts says what disagrees, one sentence each; empty when OK.
	Drifts []string `json:"drifts"`
	// SHA256 is the checksum of the file regenerated from the ledger now;
	// it equals Settlement.SHA256 when OK.
	SHA256 string `json:"sha256"`
}

// VerifySettlement asks the gateway to reconcile one business day
// (YYYY-MM-DD) against its ledger, for a finance team that wants the
// gateway's own word before trusting a file. It needs the finance scope.
func (c *Client) VerifySettlement(ctx context.Context, date string) (*SettlementCheck, error) {
	seg, err := segment("settlement date", date)
	if err != nil {
		return nil, err
	}
	var ch SettlementCheck
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/settlements/" + seg + "/verify"}, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// ErrChecksumMismatch means a downloaded settlement file is not the one the
// gateway vouched for: its SHA-256 differs from the response's ETag (or
// there was no ETag to check). Discard what was written.
var ErrChecksumMismatch = errors.New("qrpay: settlement file checksum mismatch")

// DownloadSettlement streams the settlement file (CSV) of one business day
// into w, hashing it on the way, and returns the bytes written and their hex
// SHA-256. If the hash differs from the ETag the gateway sent, the error is
// ErrChecksumMismatch; n and the hash are returned all the same, to log.
//
// w receives the bytes before they are verified, so write to a temporary
// file and rename it only when err is nil. Failures before the body starts
// are retried; a connection lost mid-body is not, since w already has part
// of the file: call again with a fresh w.
func (c *Client) DownloadSettlement(ctx context.Context, date string, w io.Writer) (n int64, sha256hex string, err error) {
	seg, err := segment("settlement date", date)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/settlements/" + seg + "/file", accept: "text/csv"}, false)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(w, h), resp.Body)
	sha256hex = hex.EncodeToString(h.Sum(nil))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return n, sha256hex, fmt.Errorf("qrpay: downloading settlement %s: %w", date, err)
	}
	switch want := etagValue(resp.Header.Get("ETag")); {
	case want == "":
		return n, sha256hex, fmt.Errorf("%w: settlement %s came without an ETag to check", ErrChecksumMismatch, date)
	case !strings.EqualFold(want, sha256hex):
		return n, sha256hex, fmt.Errorf("%w: settlement %s: received %s, ETag %s", ErrChecksumMismatch, date, sha256hex, want)
	}
	return n, sha256hex, nil
}

// etagValue strips the quotes (and a weak validator's W/) from an ETag.
func etagValue(etag string) string {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	return strings.Trim(etag, `"`)
}
