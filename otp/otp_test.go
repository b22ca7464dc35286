package otp_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/testenv"
)

func newCodes(t *testing.T) *otp.Codes {
	rdb, prefix := testenv.Redis(t)
	return otp.NewCodes(rdb, prefix, []byte("test-code-key"), 5*time.Minute, 5)
}

var spec = otp.Spec{Purpose: "transfer", Subject: "wallet-1", Binding: "to=wallet-2;amount=500000"}

func TestCodeRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	c := newCodes(t)

	id, code, expires, err := c.Issue(ctx, spec, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 6 || expires.Sub(now) != 5*time.Minute {
		t.Fatalf("Issue = %q, expires in %v; want six digits, 5m", code, expires.Sub(now))
	}
	for _, tt := range []struct {
		what string
		spec otp.Spec
		want errs.Code
	}{
		{"another purpose", otp.Spec{Purpose: "close_wallet", Subject: spec.Subject, Binding: spec.Binding}, errs.OTPInvalid},
		{"another wallet", otp.Spec{Purpose: spec.Purpose, Subject: "wallet-9", Binding: spec.Binding}, errs.OTPInvalid},
		{"another amount", otp.Spec{Purpose: spec.Purpose, Subject: spec.Subject, Binding: "to=wallet-2;amount=500001"}, errs.OTPInvalid},
	} {
		if err := c.Verify(ctx, id, code, tt.spec, now); !errs.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v; want %s", tt.what, err, tt.want)
		}
	}
	if err := c.Verify(ctx, id, code, spec, now); err != nil {
		t.Fatalf("the right code = %v", err)
	}
	if err := c.Verify(ctx, id, code, spec, now); !errs.Is(err, errs.OTPExpired) {
		t.Errorf("the code again = %v; want otp_expired (single use)", err)
	}
	if err := c.Verify(ctx, "ch_unknown", code, spec, now); !errs.Is(err, errs.OTPExpired) {
		t.Errorf("an unknown challenge = %v; want otp_expired", err)
	}
}

func TestCodeExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	c := newCodes(t)
	id, code, _, err := c.Issue(ctx, spec, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(ctx, id, code, spec, now.Add(5*time.Minute)); !errs.Is(err, errs.OTPExpired) {
		t.Errorf("at expiry = %v; want otp_expired", err)
	}
	if err := c.Verify(ctx, id, code, spec, now.Add(5*time.Minute-time.Second)); err != nil {
		t.Errorf("a second before expiry = %v; want ok", err)
	}
}

func TestCodeAttemptLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	c := newCodes(t)
	id, code, _, err := c.Issue(ctx, spec, now)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 5; i++ {
		if err := c.Verify(ctx, id, wrong, spec, now); !errs.Is(err, errs.OTPInvalid) {
			t.Fatalf("wrong code %d = %v; want otp_invalid", i, err)
		}
	}
	if err := c.Verify(ctx, id, code, spec, now); !errs.Is(err, errs.OTPExpired) {
		t.Errorf("the right code after 5 wrong ones = %v; want otp_expired (out of tries)", err)
	}
}

// TestCodeUsedOnceUnderConcurrency: of many requests carrying one code at
// once, exactly one succeeds.
func TestCodeUsedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	c := newCodes(t)
	id, code, _, err := c.Issue(ctx, spec, now)
	if err != nil {
		t.Fatal(err)
	}
	var ok, expired atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := c.Verify(ctx, id, code, spec, now); {
			case err == nil:
				ok.Add(1)
			case errs.Is(err, errs.OTPExpired):
				expired.Add(1)
			default:
				t.Errorf("Verify = %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || expired.Load() != 19 {
		t.Errorf("%d successes, %d used-up answers; want 1 and 19", ok.Load(), expired.Load())
	}
}

// TestApprovalTakenOnce: an approval challenge is handed out once, for its
// own operation only, and not after its expiry.
func TestApprovalTakenOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	a := otp.NewApprovals(rdb, prefix, time.Minute)
	now := time.Now()
	op := otp.Operation([2]string{"amount", "100"}, [2]string{"payee", "order:1"})
	ch, err := a.Create(ctx, op, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Take(ctx, ch.ID, otp.Operation([2]string{"amount", "101"}, [2]string{"payee", "order:1"}), now); !errs.Is(err, errs.ApprovalInvalid) {
		t.Errorf("another operation = %v; want approval_invalid", err)
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, err := a.Take(ctx, ch.ID, op, now)
			if err == nil {
				ok.Add(1)
				if msg != ch.Message {
					t.Errorf("Take = %q; want the challenge's message %q", msg, ch.Message)
				}
			} else if !errs.Is(err, errs.ApprovalInvalid) {
				t.Errorf("Take = %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d takes succeeded; want 1", ok.Load())
	}
	late, err := a.Create(ctx, op, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Take(ctx, late.ID, op, now.Add(time.Minute+time.Second)); !errs.Is(err, errs.ApprovalInvalid) {
		t.Errorf("after expiry = %v; want approval_invalid", err)
	}
}
