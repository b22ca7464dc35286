package main

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/qrpay/qrpay/sdk"
)

// The merchant-API verbs (order, refund, settlement) call a running gateway
// through the SDK with an API key, read from flags or else the environment.
const (
	envURL    = "QRPAY_URL"
	envKeyID  = "QRPAY_KEY_ID"
	envSecret = "QRPAY_SECRET"

	defaultGatewayURL = "http://localhost:8080"
)

const credentialsHelp = `Credentials: -url (or QRPAY_URL, default http://localhost:8080), -key (or QRPAY_KEY_ID)
and -secret (or QRPAY_SECRET). Answers are printed as JSON on stdout; a refusal prints its
code, message and request id on stderr and exits 1.`

// credentials are a gateway and an API key.
type credentials struct {
	url, keyID, secret string
}

// addCredentialFlags registers -url, -key and -secret on fs. The
// environment is read only after parsing, so that a secret never appears as
// a flag default in -h output.
func addCredentialFlags(fs *flag.FlagSet) *credentials {
	c := &credentials{}
	fs.StringVar(&c.url, "url", "", "gateway base URL (default $"+envURL+" or "+defaultGatewayURL+")")
	fs.StringVar(&c.keyID, "key", "", "API key id, qk_… (default $"+envKeyID+")")
	fs.StringVar(&c.secret, "secret", "", "API key secret, sk_… (default $"+envSecret+")")
	return c
}

// client returns an SDK client for the credentials, filling what the flags
// left empty from the environment.
func (c *credentials) client(opts ...sdk.Option) (*sdk.Client, error) {
	url := cmp.Or(c.url, os.Getenv(envURL), defaultGatewayURL)
	keyID := cmp.Or(c.keyID, os.Getenv(envKeyID))
	secret := cmp.Or(c.secret, os.Getenv(envSecret))
	if keyID == "" || secret == "" {
		return nil, fmt.Errorf("no API key: pass -key and -secret, or set %s and %s", envKeyID, envSecret)
	}
	opts = append([]sdk.Option{sdk.WithUserAgent("qrpay-cli/" + sdk.Version)}, opts...)
	return sdk.NewClient(url, keyID, secret, opts...), nil
}

// parseArgs parses flags that may come before, between or after the
// positional arguments ("order get ID -url …" as well as "order get -url …
// ID"), and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlagSet returns a flag set that reports to stderr and shows usage
// below its flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags of qrpay %s:\n", usage, name)
		fs.PrintDefaults()
	}
	return fs
}

// printJSON writes v indented, as every merchant-API verb answers.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// apiError presents the gateway's refusal as code, message and request id,
// for a person reading stderr; errors.As still finds the *sdk.Error.
type apiError struct{ err *sdk.Error }

func (e apiError) Error() string {
	s := e.err.Code
	if e.err.Message != "" {
		s += ": " + e.err.Message
	}
	if e.err.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.err.HTTPStatus)
		if e.err.RequestID != "" {
			s += ", request id " + e.err.RequestID
		}
		s += ")"
	}
	return s
}

func (e apiError) Unwrap() error { return e.err }

// explain turns an *sdk.Error into an apiError and leaves any other error,
// wrapped ones included, as it is.
func explain(err error) error {
	if e, ok := err.(*sdk.Error); ok {
		return apiError{e}
	}
	return err
}

// helpOrErr makes -h a success: flag has already printed the usage.
func helpOrErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// randomSuffix is n random bytes in hex, for numbers the user did not give.
func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b)
}
