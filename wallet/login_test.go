package wallet

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/otp"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/testenv"
)

// TestLoginVerifiesOnceEachWay: an unknown phone, a wrong password and a
// locked sign-in each cost exactly one password verification and give the
// same error, so neither the answer nor its timing tells them apart.
func TestLoginVerifiesOnceEachWay(t *testing.T) {
	t.Parallel()
	pool := testenv.Postgres(t)
	rdb, prefix := testenv.Redis(t)
	led := ledger.New(pool, ledger.Options{})
	t.Cleanup(led.Close)
	cfg := Config{Currency: "CNY", Location: time.UTC, Pepper: []byte("test-pepper-0123456789"),
		Argon2: Argon2{MemoryKiB: 1024, Time: 1, Threads: 1}, SessionTTL: time.Hour, MaxAttempts: 3, LockoutFor: time.Hour}
	s := New(cfg, postgres.NewDB(pool, postgres.DBOptions{}), led, limits.New(rdb, prefix, time.UTC, CardUsageFromLedger(pool)), ratelimit.New(rdb, prefix), SimulatedIssuer{}, nil)
	sink := &codeSink{}
	s.Securing(Security{Codes: otp.NewCodes(rdb, prefix, CodeKey(cfg.Pepper), time.Minute, 5), Notifier: sink})
	var verified atomic.Int64
	s.verify = func(phc string, pepper []byte, secret string) (bool, error) {
		verified.Add(1)
		return verifySecret(phc, pepper, secret)
	}
	ctx := context.Background()
	const phone, password = "+8613800000001", "correct horse battery"
	const device = "test-device-1"
	register := RegisterInput{Phone: phone, Password: password, DeviceID: device}
	if _, err := s.Register(ctx, register); !errs.Is(err, errs.OTPRequired) {
		t.Fatalf("register without a code: %v; want otp_required", err)
	}
	register.OTP = &OTP{ChallengeID: sink.last.ChallengeID, Code: sink.last.Code}
	if _, err := s.Register(ctx, register); err != nil {
		t.Fatal(err)
	}
	try := func(what, phone, password, client string) error {
		t.Helper()
		verified.Store(0)
		_, _, _, err := s.Login(ctx, LoginInput{Phone: phone, Password: password, DeviceID: device}, client)
		if n := verified.Load(); n != 1 {
			t.Errorf("%s: %d password verifications; want 1", what, n)
		}
		return err
	}
	unknown := try("unknown phone", "+8613800000002", password, "192.0.2.1")
	wrong := try("wrong password", phone, "wrong password", "192.0.2.1")
	for range 2 {
		try("wrong password", phone, "wrong password", "192.0.2.1")
	}
	locked := try("locked, right password", phone, password, "192.0.2.1")
	for what, err := range map[string]error{"unknown phone": unknown, "wrong password": wrong, "locked": locked} {
		if err != errBadLogin {
			t.Errorf("%s: %v; want %v", what, err, errBadLogin)
		}
	}
	if err := try("right password, another client", phone, password, "192.0.2.2"); err != nil {
		t.Errorf("right password from another client: %v", err)
	}
	if !errs.Is(locked, errs.Unauthorized) {
		t.Errorf("locked = %v; want unauthorized", locked)
	}
}

// codeSink keeps the last code sent.
type codeSink struct {
	mu   sync.Mutex
	last otp.Message
}

func (c *codeSink) Send(_ context.Context, m otp.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = m
	return nil
}
