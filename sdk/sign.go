package sdk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed request. docs/signing.md specifies the scheme for
// integrators writing their own client.
const (
	HeaderKey       = "X-Qrpay-Key"
	HeaderTimestamp = "X-Qrpay-Timestamp"
	HeaderNonce     = "X-Qrpay-Nonce"
	HeaderSignature = "X-Qrpay-Signature"
)

// SignatureTolerance is how far a request's timestamp may be from the
// server's clock.
const SignatureTolerance = 300 * time.Second

// CanonicalString is what a request signature covers: the scheme name, the
// method, the path with its query exactly as sent, the timestamp, the nonce
// and the hex SHA-256 of the body, one per line.
func CanonicalString(method, pathAndQuery string, timestamp int64, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return strings.Join([]string{
		"QRPAY-HMAC-SHA256",
		strings.ToUpper(method),
		pathAndQuery,
		strconv.FormatInt(timestamp, 10),
		nonce,
		hex.EncodeToString(sum[:]),
	}, "\n")
}

// Sign returns the value of the X-Qrpay-Signature header: "v1=" and the hex
// HMAC-SHA256 of the canonical string under the key's secret.
func Sign(secret, method, pathAndQuery string, timestamp int64, nonce string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(CanonicalString(method, pathAndQuery, timestamp, nonce, body)))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets the four signature headers on r, signing
// r.URL.RequestURI(): the path and query exactly as Go writes them on the
// request line, which is what the gateway compares. The Client calls it on
// every attempt; tests and tools that build raw requests (a replayed nonce,
// a skewed clock) call it to get precisely what the gateway verifies.
func SignRequest(r *http.Request, keyID, secret string, timestamp int64, nonce string, body []byte) {
	r.Header.Set(HeaderKey, keyID)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(timestamp, 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, Sign(secret, r.Method, r.URL.RequestURI(), timestamp, nonce, body))
}
