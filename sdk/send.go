package sdk

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// request is one API call, before it is signed and sent (perhaps several
// times).
type request struct {
	method string
	path   string // below the base URL, segments already escaped
	query  url.Values
	body   any // encoded to JSON once, so every attempt sends the same bytes
	// idempotencyKey is sent on every attempt; a POST without one gets a
	// random key, generated once per call.
	idempotencyKey string
	accept         string
}

// call performs r and decodes a successful JSON answer into out.
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("qrpay: %s %s: decoding the answer: %w", r.method, r.path, err)
	}
	return nil
}

// send performs r, retrying what may succeed if tried again, and returns the
// first 2xx response. With buffer set the body is read inside the attempt, so
// that a connection lost mid-body is retried like any network failure;
// without it the body is left for the caller to stream, and only failures up
// to the response headers are retried.
//
// Every attempt is signed afresh (new timestamp and nonce: the gateway refuses
// a nonce it has seen) but carries the same body and Idempotency-Key, so the
// gateway runs the operation at most once however many attempts reach it.
func (c *Client) send(ctx context.Context, r request, buffer bool) (*http.Response, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("qrpay: encoding %s %s: %w", r.method, r.path, err)
		}
	}
	if r.method == http.MethodPost && r.idempotencyKey == "" {
		r.idempotencyKey = randomHex()
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}

	for attempt := 0; ; attempt++ {
		resp, err := c.attempt(ctx, r, target, body, buffer)
		var wait time.Duration
		retry := false
		switch {
		case err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			retry = retryableTransport(err)
		default:
			apiErr := c.readError(resp)
			err, retry, wait = apiErr, retryableStatus(apiErr), min(apiErr.RetryAfter, maxRetryAfter)
		}
		if !retry || attempt >= c.maxRetries {
			return nil, err
		}
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		// Sleeping into a deadline only to fail with DeadlineExceeded would
		// hide the reason; the gateway's own answer says more.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, err
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// attempt sends r once.
func (c *Client) attempt(ctx context.Context, r request, target string, body []byte, buffer bool) (*http.Response, error) {
	// The body is given as a plain ReadCloser so that the request has no
	// GetBody and is not "replayable": net/http would otherwise resend it by
	// itself after some connection failures, with the same nonce, which the
	// gateway refuses as a replay. Retrying is this loop's job. (An empty
	// body of unknown length goes out chunked on a POST and not at all on a
	// GET; either way the gateway reads an empty body.)
	req, err := http.NewRequestWithContext(ctx, r.method, target, io.NopCloser(bytes.NewReader(body)))
	if err != nil {
		return nil, fmt.Errorf("qrpay: %s %s: %w", r.method, r.path, err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", cmp.Or(r.accept, "application/json"))
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.idempotencyKey)
	}
	SignRequest(req, c.keyID, c.secret, c.now().Unix(), c.nonce(), body)

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if buffer && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("qrpay: %s %s: reading the answer: %w", r.method, r.path, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}

// retryableStatus says whether the gateway's refusal may turn into a
// success unchanged: a dependency failed (5xx, which never half-did
// anything), we were too fast (429), or our own earlier attempt is still
// running (409 idempotency_in_progress). Other 4xx answers are final.
func retryableStatus(e *Error) bool {
	switch {
	case e.HTTPStatus >= 500, e.HTTPStatus == http.StatusTooManyRequests:
		return true
	case e.HTTPStatus == http.StatusConflict:
		return e.Code == codeIdempotencyInProgress
	}
	return false
}

// retryableTransport says whether a failure to get an answer is worth
// another attempt: refused, reset or dropped connections and timeouts are;
// a certificate that failed verification, a host that does not exist or a
// malformed request would fail the same way again.
func retryableTransport(err error) bool {
	var certErr *tls.CertificateVerificationError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.As(err, &certErr):
		return false
	case errors.As(err, &dnsErr):
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &opErr):
		return true
	case strings.Contains(err.Error(), "server closed idle connection"):
		// net/http's unexported errServerClosedIdle: the kept-alive
		// connection was closed before the request went out.
		return true
	case errors.As(err, &netErr):
		return netErr.Timeout()
	}
	return false
}

// backoff is the full-jitter exponential delay before retry number
// attempt+1.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryMax
	if attempt < 32 {
		if b := c.retryBase << attempt; b > 0 && b < d {
			d = b
		}
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxErrorBody bounds how much of a refusal is read: the gateway's error
// bodies are small, a misconfigured proxy's HTML page need not be read whole.
const maxErrorBody = 64 << 10

// readError turns a non-2xx response into an *Error and closes its body.
func (c *Client) readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{
		HTTPStatus: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.RequestID = body.Error.Code, body.Error.Message, body.Error.RequestID
	} else {
		// Not the gateway's error model: a proxy or load balancer answered.
		e.Code = codeForStatus(resp.StatusCode)
		e.Message = http.StatusText(resp.StatusCode)
		if s := strings.TrimSpace(string(raw)); s != "" && len(s) <= 200 {
			e.Message += ": " + s
		}
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds (what the gateway sends) or
// as an HTTP date (what a proxy might send). Zero means no usable hint.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 1<<32)) * time.Second // no overflow, whatever it says
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
