package gateway

import (
	"crypto/subtle"
	"regexp"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/sdk"
)

const localsCaller = "merchant.caller"

var validNonce = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// errUnsigned is the one answer to every signature failure, so that a
// caller learns nothing from which check failed.
var errUnsigned = errs.E(errs.Unauthorized, "the request signature is missing or invalid")

// authMerchant verifies a signed merchant request (docs/signing.md): a live
// key with the route's scope, a timestamp within the window, the HMAC over
// the canonical string (compared in constant time, with the same function
// the SDK signs with), the key's request budget, and a nonce not seen
// within the window, on a request signed no earlier than the nonce
// store's epoch (nonce.go).
func (s *Server) authMerchant(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		keyID, nonce, sig := c.Get(sdk.HeaderKey), c.Get(sdk.HeaderNonce), c.Get(sdk.HeaderSignature)
		ts, ok := signatureHeaders(keyID, c.Get(sdk.HeaderTimestamp), nonce, sig, s.now())
		if !ok {
			return errUnsigned
		}
		ctx := c.UserContext()
		caller, secret, err := s.deps.Merchant.KeySecret(ctx, keyID)
		if err != nil {
			return err
		}
		if !signatureMatches(secret, c.Method(), c.OriginalURL(), ts, nonce, c.Body(), sig) {
			return errUnsigned
		}
		// Only a correctly signed request spends from the key's budget or
		// a nonce, so nobody can use up another caller's. A refused
		// request keeps its nonce: the same request may be sent again.
		wait, err := s.deps.Rate.Allow(ctx, "merchant:"+caller.KeyID, s.cfg.MerchantKeyLimit, s.now())
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "the rate limiter is unavailable; try again")
		}
		if wait > 0 {
			return &errs.Error{Code: errs.RateLimited, RetryAfter: wait,
				Message: "too many requests for this API key; try again after Retry-After seconds"}
		}
		fresh, err := s.spendNonce(ctx, caller.KeyID, nonce, ts)
		if err != nil {
			return err
		}
		if !fresh {
			return errUnsigned
		}
		if scope != "" && !caller.Can(scope) {
			return errs.E(errs.Forbidden, "this API key lacks the %q scope", scope)
		}
		c.Locals(localsCaller, caller)
		c.Locals(localsScope, caller.Scope())
		return c.Next()
	}
}

// signatureHeaders checks the form of a signed request's headers before
// anything is looked up: a key id, a nonce of the documented form, a
// signature, and a timestamp within the window around now. It returns the
// timestamp.
func signatureHeaders(keyID, timestamp, nonce, sig string, now time.Time) (int64, bool) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if keyID == "" || err != nil || !validNonce.MatchString(nonce) || sig == "" {
		return 0, false
	}
	skew := now.Sub(time.Unix(ts, 0))
	return ts, skew <= sdk.SignatureTolerance && skew >= -sdk.SignatureTolerance
}

// signatureMatches compares sig with the signature of the request under the
// key's secret, computed by the function the SDK signs with, in constant time.
func signatureMatches(secret, method, pathAndQuery string, ts int64, nonce string, body []byte, sig string) bool {
	want := sdk.Sign(secret, method, pathAndQuery, ts, nonce, body)
	return subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1
}

func callerOf(c *fiber.Ctx) merchant.Caller {
	m, _ := c.Locals(localsCaller).(merchant.Caller)
	return m
}
