package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/idem"
)

const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	localsFingerprint    = "idem.fingerprint"
	localsScope          = "idem.scope"
)

// idempotent makes a money-moving POST safe to retry. The first request
// with a key claims it in Redis and runs; its response is stored and every
// later request with the same key and body gets that response again, marked
// Idempotent-Replayed. A duplicate arriving while the first runs is told to
// retry; the same key with another body is refused. Responses that say
// "try again" (5xx) are not stored, so the retry runs, and the domain's
// PostgreSQL unique key turns it into a replay if the first had committed.
func (s *Server) idempotent(c *fiber.Ctx) error {
	key := c.Get(headerIdempotencyKey)
	switch {
	case key == "":
		return errs.E(errs.IdempotencyKeyRequired, "the Idempotency-Key header is required for this request")
	case len(key) > 255:
		return errs.E(errs.Invalid, "Idempotency-Key must be at most 255 characters")
	case strings.IndexFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0:
		return errs.E(errs.Invalid, "Idempotency-Key must be printable ASCII")
	}
	scope, _ := c.Locals(localsScope).(string)
	// Keyed, because bodies can hold secrets (a payment PIN): an unkeyed
	// hash of a six-digit PIN is undone by a million guesses.
	sum := hmac.New(sha256.New, s.cfg.FingerprintKey)
	sum.Write([]byte(c.Method() + " " + c.OriginalURL() + "\n"))
	sum.Write(c.Body())
	fp := sum.Sum(nil)
	c.Locals(localsFingerprint, fp)
	ctx := c.UserContext()

	out, err := s.deps.Idempotency.Begin(ctx, scope, key, hex.EncodeToString(fp))
	if err != nil {
		return err
	}
	switch out.State {
	case idem.Mismatch:
		return errs.E(errs.IdempotencyMismatch, "Idempotency-Key %q was already used with a different request", key)
	case idem.InProgress:
		return &errs.Error{Code: errs.IdempotencyInProgress, RetryAfter: out.RetryAfter,
			Message: "a request with this Idempotency-Key is still in progress"}
	case idem.Done:
		c.Set(headerReplayed, "true")
		c.Set(fiber.HeaderContentType, out.Record.ContentType)
		return c.Status(out.Record.Status).Send(out.Record.Body)
	}

	handlerErr := c.Next()
	if handlerErr != nil {
		if herr := s.errorHandler(c, handlerErr); herr != nil {
			return herr
		}
	}
	resp := c.Response()
	status := resp.StatusCode()
	// The response is written: record it even if the client left or the
	// server is shutting down (the request's context ends with either),
	// within a bound of its own.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	// A mismatch found by the ledger (the Redis record of the key was lost)
	// says nothing about what the key did: storing it would answer the
	// key's own request with it from then on.
	if !final(status) || errs.Is(handlerErr, errs.IdempotencyMismatch) {
		if err := s.deps.Idempotency.Abandon(bg, scope, key, out.Token); err != nil {
			s.log.WarnContext(ctx, "releasing an idempotency key failed; it expires with its lease", slog.Any("err", err))
		}
		return nil
	}
	rec := idem.Record{Status: status, ContentType: string(resp.Header.ContentType()), Body: append([]byte(nil), resp.Body()...)}
	if err := s.deps.Idempotency.Finish(bg, scope, key, out.Token, rec); err != nil {
		s.log.WarnContext(ctx, "storing an idempotent response failed; a retry will replay from the ledger", slog.Any("err", err))
	}
	return nil
}

// recordTimeout bounds recording a finished request's answer in Redis.
const recordTimeout = 5 * time.Second

// final reports whether a response is the outcome of the operation itself,
// to be replayed for every retry: success, or a refusal the same request
// will always meet (funds, a conflicting state, a mismatch). Failures of
// input, credentials or dependencies are not stored, so the caller can fix
// them and retry under the same key.
func final(status int) bool {
	switch status {
	case http.StatusPaymentRequired, http.StatusConflict, http.StatusGone, http.StatusUnprocessableEntity:
		return true
	}
	return status >= 200 && status < 300
}

// fingerprint is the request's fingerprint, as the ledger stores it.
func fingerprint(c *fiber.Ctx) []byte {
	fp, _ := c.Locals(localsFingerprint).([]byte)
	return fp
}
