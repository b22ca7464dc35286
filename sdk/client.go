package sdk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Version is the SDK's version. It is sent in the default User-Agent so that
// support can tell an SDK bug from an integration bug.
const Version = "0.1.0"

const (
	defaultTimeout    = 30 * time.Second
	defaultMaxRetries = 2
	defaultRetryBase  = 500 * time.Millisecond
	defaultRetryMax   = 8 * time.Second
	// maxRetryAfter caps the server's Retry-After hint: a POS customer is
	// standing at the till, and a longer pause is better decided by the caller.
	maxRetryAfter = 30 * time.Second
)

// Client calls the qrpay merchant API with one API key. It is safe for
// concurrent use; create one per key and share it, so that connections are
// reused.
type Client struct {
	base    string // scheme, host and optional path prefix, without a trailing slash
	baseErr error  // a malformed base URL fails every call, since NewClient cannot
	keyID   string
	secret  string

	http       *http.Client
	maxRetries int
	userAgent  string
	retryBase  time.Duration
	retryMax   time.Duration
	now        func() time.Time
	nonce      func() string
	sleep      func(context.Context, time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// NewClient returns a client for the gateway at baseURL (for example
// "https://pay.example.com" or "http://127.0.0.1:8080"), signing every request
// with the API key keyID and its secret. A malformed baseURL is reported by
// the first call rather than here, so that construction never fails.
func NewClient(baseURL, keyID, secret string, opts ...Option) *Client {
	c := &Client{
		keyID:      keyID,
		secret:     secret,
		http:       &http.Client{Timeout: defaultTimeout},
		maxRetries: defaultMaxRetries,
		userAgent:  "qrpay-go/" + Version,
		retryBase:  defaultRetryBase,
		retryMax:   defaultRetryMax,
		now:        time.Now,
		nonce:      randomHex,
		sleep:      sleepContext,
	}
	c.base, c.baseErr = parseBase(baseURL)
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func parseBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("qrpay: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("qrpay: base URL %q: want http(s)://host[:port][/prefix]", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// WithHTTPClient sets the HTTP client, for a proxy, custom TLS or a different
// timeout. The default has a 30 s timeout per attempt, which also bounds a
// settlement download; give a longer one if files are large. A nil client is
// ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithMaxRetries sets how many times a failed request is tried again (default
// 2, so at most 3 attempts). 0 turns retries off, for callers that run their
// own retry loop with the same Idempotency-Key.
func WithMaxRetries(n int) Option {
	return func(c *Client) { c.maxRetries = max(n, 0) }
}

// WithUserAgent replaces the User-Agent, for example to name the terminal
// model and software version in the gateway's logs.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithRetryDelay sets the exponential backoff between retries: the n-th retry
// waits a random time between zero and min(base·2ⁿ, max) ("full jitter", so
// that many terminals failing together do not retry together). A Retry-After
// from the gateway takes precedence. Defaults: 500 ms and 8 s.
func WithRetryDelay(base, maxDelay time.Duration) Option {
	return func(c *Client) {
		c.retryBase, c.retryMax = max(base, 0), max(maxDelay, 0)
	}
}

// WithClock sets where request timestamps come from. The gateway refuses a
// timestamp more than 300 s from its own clock, so this exists for tests of
// exactly that, and for terminals whose clock is known to be off.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithNonceSource sets where request nonces come from (default: 16 random
// bytes from crypto/rand, in hex). Each attempt asks for a fresh one; a
// source that repeats itself gets requests refused as replays, which is what
// the gateway's own tests need to provoke.
func WithNonceSource(nonce func() string) Option {
	return func(c *Client) {
		if nonce != nil {
			c.nonce = nonce
		}
	}
}

// randomHex returns 128 random bits in hex: 32 characters, inside the
// gateway's nonce alphabet and its Idempotency-Key length limit.
func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// segment escapes one path segment, refusing an empty one before it could
// turn GET /v1/orders/{id} into GET /v1/orders/, a different route.
func segment(what, v string) (string, error) {
	if v == "" {
		return "", &Error{Code: codeInvalid, Message: what + " is empty"}
	}
	return url.PathEscape(v), nil
}
