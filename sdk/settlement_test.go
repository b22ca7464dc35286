package sdk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

const settlementCSV = "type,order_id,amount,fee\npayment,o1,1200,7\nrefund,o1,-500,-3\nsummary,2,700,4\n"

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestDownloadSettlement(t *testing.T) {
	for _, tt := range []struct {
		name string
		etag string
		sent string
		ok   bool
	}{
		{"good checksum", `"` + sha(settlementCSV) + `"`, settlementCSV, true},
		{"unquoted, upper-case ETag", strings.ToUpper(sha(settlementCSV)), settlementCSV, true},
		{"weak ETag", `W/"` + sha(settlementCSV) + `"`, settlementCSV, true},
		{"tampered body", `"` + sha(settlementCSV) + `"`, settlementCSV[:20] + "9" + settlementCSV[21:], false},
		{"truncated body", `"` + sha(settlementCSV) + `"`, settlementCSV[:30], false},
		{"no ETag", "", settlementCSV, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, gw, _ := newScripted(t, []http.HandlerFunc{answer(200, tt.sent, "Content-Type", "text/csv", "ETag", tt.etag)})
			var buf bytes.Buffer
			n, sum, err := client.DownloadSettlement(context.Background(), "2026-11-25", &buf)
			if buf.String() != tt.sent || n != int64(len(tt.sent)) || sum != sha(tt.sent) {
				t.Errorf("wrote %d bytes, sha %s; want what was sent, %d bytes, sha %s", n, sum, len(tt.sent), sha(tt.sent))
			}
			if tt.ok && err != nil {
				t.Errorf("err = %v; want none", err)
			}
			if !tt.ok && !errors.Is(err, sdk.ErrChecksumMismatch) {
				t.Errorf("err = %v; want ErrChecksumMismatch", err)
			}
			r := gw.seen()[0]
			if r.RequestURI != "/v1/settlements/2026-11-25/file" || r.Header.Get("Accept") != "text/csv" {
				t.Errorf("request %s Accept %q", r.RequestURI, r.Header.Get("Accept"))
			}
		})
	}
}

func TestDownloadSettlementFailures(t *testing.T) {
	client, gw, _ := newScripted(t, []http.HandlerFunc{refuse(503, "unavailable"), refuse(404, "not_found")})
	var buf bytes.Buffer
	n, _, err := client.DownloadSettlement(context.Background(), "2026-11-25", &buf)
	if !errors.Is(err, sdk.ErrNotFound) || n != 0 || buf.Len() != 0 || len(gw.seen()) != 2 {
		t.Errorf("n = %d, wrote %d, err = %v after %d attempts; want not_found after a retried 503, nothing written", n, buf.Len(), err, len(gw.seen()))
	}
}

func TestGetSettlement(t *testing.T) {
	body := `{"merchant_id":"m1","date":"2026-11-25","status":"settled","currency":"CNY","time_zone":"Asia/Shanghai",
 "payments_count":2,"payments_amount":2400,"refunds_count":1,"refunds_amount":500,"fees":11,"net":1889,
 "transfer_id":"t1","file_name":"qrpay-settlement-M7Q2M9X4K1-2026-11-25.csv","file_size":97,
 "sha256":"` + sha(settlementCSV) + `","generated_at":"2026-11-26T00:05:00+08:00","settled_at":"2026-11-26T00:05:01+08:00"}`
	client, gw, _ := newScripted(t, []http.HandlerFunc{answer(200, body)})
	s, err := client.GetSettlement(context.Background(), "2026-11-25")
	if err != nil {
		t.Fatal(err)
	}
	generated := time.Date(2026, 11, 25, 16, 5, 0, 0, time.UTC)
	if !s.GeneratedAt.Equal(generated) || s.SettledAt == nil || !s.SettledAt.Equal(generated.Add(time.Second)) ||
		s.TransferID == nil || *s.TransferID != "t1" {
		t.Errorf("generated_at %v, settled_at %v, transfer_id %v", s.GeneratedAt, s.SettledAt, s.TransferID)
	}
	s.GeneratedAt, s.SettledAt, s.TransferID = time.Time{}, nil, nil
	want := sdk.Settlement{MerchantID: "m1", Date: "2026-11-25", TimeZone: "Asia/Shanghai", Status: "settled", Currency: "CNY",
		PaymentsCount: 2, PaymentsAmount: 2400, RefundsCount: 1, RefundsAmount: 500, Fees: 11, Net: 1889,
		FileName: "qrpay-settlement-M7Q2M9X4K1-2026-11-25.csv", FileSize: 97, SHA256: sha(settlementCSV)}
	if *s != want {
		t.Errorf("settlement = %+v; want %+v", *s, want)
	}
	if r := gw.seen()[0]; r.RequestURI != "/v1/settlements/2026-11-25" {
		t.Errorf("request URI = %s", r.RequestURI)
	}
}
