package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// qrpay runs the command line in-process, as a shell would.
func qrpay(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// keyFlags are the credential flags of a merchant key on env's gateway.
func keyFlags(env *gatewaytest.Env, k gatewaytest.MerchantKey) []string {
	return []string{"-url", env.URL, "-key", k.KeyID, "-secret", k.Secret}
}

// decode reads a verb's JSON answer, failing the test if it is not one.
func decode[T any](t *testing.T, stdout string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("stdout is not the JSON answer: %v\n%s", err, stdout)
	}
	return v
}

func TestParseArgsTakesFlagsAnywhere(t *testing.T) {
	for _, args := range [][]string{
		{"ID", "-url", "u", "-no", "N"},
		{"-url", "u", "ID", "-no", "N"},
		{"-url", "u", "-no", "N", "ID"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		u, no := fs.String("url", "", ""), fs.String("no", "", "")
		pos, err := parseArgs(fs, args)
		if err != nil || !reflect.DeepEqual(pos, []string{"ID"}) || *u != "u" || *no != "N" {
			t.Errorf("parseArgs(%q) = %q, %v; url %q, no %q", args, pos, err, *u, *no)
		}
	}
}

func TestAPIErrorShowsCodeMessageAndRequestID(t *testing.T) {
	e := &sdk.Error{HTTPStatus: 401, Code: "unauthorized", Message: "the request signature is missing or invalid", RequestID: "REQ1"}
	err := explain(e)
	want := "unauthorized: the request signature is missing or invalid (HTTP 401, request id REQ1)"
	if err.Error() != want {
		t.Errorf("explain(%v) = %q; want %q", e, err, want)
	}
	if !errors.Is(err, sdk.ErrUnauthorized) {
		t.Error("explained error no longer matches sdk.ErrUnauthorized")
	}
	if plain := errors.New("x"); explain(plain) != plain {
		t.Error("explain changed an error that is not an *sdk.Error")
	}
}

// TestCredentialsFromEnvironment cannot run in parallel: it sets the
// process environment.
func TestCredentialsFromEnvironment(t *testing.T) {
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	t.Setenv(envURL, env.URL)
	t.Setenv(envKeyID, k.KeyID)
	t.Setenv(envSecret, k.Secret)
	stdout, stderr, code := qrpay(t, "order", "create", "-amount", "300", "-no", "ENV-1")
	if code != 0 {
		t.Fatalf("order create with credentials from the environment = %d: %s", code, stderr)
	}
	if o := decode[sdk.Order](t, stdout); o.MerchantOrderNo != "ENV-1" || o.Amount != 300 {
		t.Errorf("created %+v", o)
	}
	// A flag beats the environment.
	_, stderr, code = qrpay(t, "order", "get", "-no", "ENV-1", "-secret", "sk_wrong")
	if code != 1 || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("-secret over QRPAY_SECRET = %d %s; want exit 1, unauthorized", code, stderr)
	}
	t.Setenv(envKeyID, "")
	if _, stderr, code = qrpay(t, "order", "get", "-no", "ENV-1"); code != 1 || !strings.Contains(stderr, "-key") {
		t.Errorf("no key at all = %d %s; want exit 1 saying how to give one", code, stderr)
	}
}
