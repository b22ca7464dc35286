package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant/emv"
)

// The PIX static code from Banco Central do Brasil's manual (emv's
// ExampleDecode): valid, with templates 26 and 62.
const qrPIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"

// A PromptPay person-to-person code: sound framing and CRC, but without the
// merchant category, name and city the specification makes mandatory.
const qrPromptPay = "00020101021129370016A000000677010111011300668012345675802TH530376463046197"

// qrDecoded is the part of decode's JSON the tests read.
type qrDecoded struct {
	Objects     []qrObject `json:"objects"`
	Interpreted struct {
		Name     string `json:"merchant_name"`
		City     string `json:"merchant_city"`
		Currency string `json:"currency"`
		Dynamic  bool   `json:"dynamic"`
		Amount   string `json:"amount"`
		Accounts []struct {
			Tag  string `json:"tag"`
			GUID string `json:"guid"`
		} `json:"merchant_accounts"`
		Additional struct {
			ReferenceLabel string `json:"reference_label"`
		} `json:"additional_data"`
		CRC string `json:"crc"`
	} `json:"interpreted"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
	Warnings []struct {
		Message string `json:"message"`
		Tag     string `json:"tag"`
		Offset  *int   `json:"offset"`
	} `json:"warnings"`
}

// qrOverlongAmount has a 14-character amount, one over tag 54's maximum,
// and a correct CRC.
func qrOverlongAmount(t *testing.T) string {
	t.Helper()
	s, err := emv.Encode([]emv.Field{
		{Tag: "00", Value: "01"},
		{Tag: "01", Value: "12"},
		{Tag: "26", Fields: []emv.Field{{Tag: "00", Value: "COM.QRPAY"}, {Tag: "01", Value: "M7K2Q9"}}},
		{Tag: "52", Value: "5812"},
		{Tag: "53", Value: "156"},
		{Tag: "54", Value: "12345678901.00"},
		{Tag: "58", Value: "CN"},
		{Tag: "59", Value: "QRPAY TEST CAFE"},
		{Tag: "60", Value: "BEIJING"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQRDecode(t *testing.T) {
	t.Parallel()
	badCRC := qrPIX[:len(qrPIX)-1] + "E"
	overlong := qrOverlongAmount(t)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantErr  error // a sentinel of emv, or nil
		errAt    string
		json     bool     // whether stdout holds the decoded payload
		warnings []string // the lines decode prints on stderr after it
	}{
		{name: "valid", args: []string{"decode", qrPIX}, json: true},
		{name: "valid from stdin", args: []string{"decode", "-"}, stdin: qrPIX + "\r\n", json: true},
		{name: "valid after --", args: []string{"decode", "--", qrPIX}, json: true},
		{
			name: "bad CRC", args: []string{"decode", badCRC}, wantErr: emv.ErrCRC,
			errAt: fmt.Sprintf("tag 63 at offset %d: CRC 1D3E does not match computed 1D3D", len(qrPIX)-8),
		},
		{
			name: "truncated", args: []string{"decode", qrPIX[:len(qrPIX)-2]}, wantErr: emv.ErrTruncated,
			errAt: fmt.Sprintf("tag 63 at offset %d:", len(qrPIX)-8),
		},
		{
			name: "cut inside a header", args: []string{"decode", qrPIX[:len(qrPIX)-6]}, wantErr: emv.ErrTruncated,
			errAt: fmt.Sprintf("offset %d:", len(qrPIX)-8),
		},
		{
			name: "amount over 13 characters", args: []string{"decode", overlong}, json: true,
			warnings: []string{fmt.Sprintf("warning: emv: tag 54 at offset %d: length 14 exceeds 13", strings.Index(overlong, "5414"))},
		},
		{
			name: "missing mandatory objects", args: []string{"decode", qrPromptPay}, json: true,
			warnings: []string{
				"warning: emv: tag 52: missing merchant category code",
				"warning: emv: tag 59: missing merchant name",
				"warning: emv: tag 60: missing merchant city",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := qrMain(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("qrpay qr %s = %v; want success", strings.Join(tt.args, " "), err)
			}
			if tt.wantErr != nil {
				var de *emv.DecodeError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &de) {
					t.Fatalf("qrpay qr %s = %v; want a DecodeError wrapping %v", tt.args[0], err, tt.wantErr)
				}
				// The user sees emv's message as it is: what broke, where.
				if want := "emv: " + tt.errAt; err.Error() != de.Error() || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q; want emv's own message, starting %q", err, want)
				}
			}
			if !tt.json {
				if stdout.Len() != 0 {
					t.Errorf("stdout %q; want nothing for a payload that does not decode", stdout.String())
				}
				return
			}
			var got qrDecoded
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
			}
			payload := tt.args[len(tt.args)-1]
			if payload == "-" {
				payload = strings.TrimSpace(tt.stdin)
			}
			checkQRObjects(t, payload, got.Objects)
			if got.Error != nil {
				t.Errorf("JSON error member %+v; a payload that frames has none", got.Error)
			}
			if warnings := strings.Join(tt.warnings, "\n"); strings.TrimSuffix(stderr.String(), "\n") != warnings {
				t.Errorf("stderr %q; want %q", stderr.String(), warnings)
			}
			var listed []string
			for _, w := range got.Warnings {
				listed = append(listed, "warning: "+w.Message)
			}
			if strings.Join(listed, "\n") != strings.Join(tt.warnings, "\n") {
				t.Errorf("JSON warnings %q; want %q", listed, tt.warnings)
			}
		})
	}
}

// checkQRObjects checks that every object, nested ones too, sits in the
// payload where its offset says, written as ID, length and value.
func checkQRObjects(t *testing.T, payload string, objs []qrObject) {
	t.Helper()
	for _, o := range objs {
		want := fmt.Sprintf("%s%02d%s", o.Tag, o.Length, o.Value)
		if o.Offset < 0 || !strings.HasPrefix(payload[o.Offset:], want) {
			t.Errorf("object %s at offset %d: payload there is not %q", o.Tag, o.Offset, want)
		}
		checkQRObjects(t, payload, o.Fields)
	}
}

func TestQRDecodeJSON(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := runQR(context.Background(), []string{"decode", qrPIX}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var got qrDecoded
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var tags []string
	values := map[string]string{}
	for _, o := range got.Objects {
		tags = append(tags, o.Tag)
		values[o.Tag] = o.Value
	}
	if want := "00 26 52 53 58 59 60 62 63"; strings.Join(tags, " ") != want {
		t.Errorf("objects %v; want %s", tags, want)
	}
	if values["59"] != "Fulano de Tal" || values["60"] != "BRASILIA" || values["63"] != "1D3D" {
		t.Errorf("objects 59, 60, 63 = %q, %q, %q; want Fulano de Tal, BRASILIA, 1D3D", values["59"], values["60"], values["63"])
	}
	pix := got.Objects[1]
	if len(pix.Fields) != 2 || pix.Fields[0].Tag != "00" || pix.Fields[0].Value != "br.gov.bcb.pix" || pix.Fields[0].Offset != 10 {
		t.Errorf("template 26 fields %+v; want 00 br.gov.bcb.pix at offset 10, then 01", pix.Fields)
	}
	in := got.Interpreted
	if in.Name != "Fulano de Tal" || in.City != "BRASILIA" || in.Currency != "986" || in.Dynamic ||
		in.Additional.ReferenceLabel != "***" || in.CRC != "1D3D" {
		t.Errorf("interpreted %+v", in)
	}
	if len(in.Accounts) != 1 || in.Accounts[0].Tag != "26" || in.Accounts[0].GUID != "br.gov.bcb.pix" {
		t.Errorf("merchant accounts %+v; want 26 br.gov.bcb.pix", in.Accounts)
	}

	// A code that frames but breaks the specification's rules decodes, and
	// the JSON locates each problem.
	stdout.Reset()
	if err := runQR(context.Background(), []string{"decode", qrPromptPay}, &stdout, &stderr); err != nil {
		t.Fatalf("decode of a code missing objects = %v; want success with warnings", err)
	}
	got = qrDecoded{}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || len(got.Warnings) != 3 {
		t.Fatalf("decode of a code missing objects printed %s (%v); want JSON with three warnings", stdout.String(), err)
	}
	if w := got.Warnings[0]; w.Message != "emv: tag 52: missing merchant category code" || w.Tag != "52" || w.Offset != nil || got.Interpreted.Currency != "764" {
		t.Errorf("first warning %+v, currency %q; want the missing tag 52 without offset, currency 764", w, got.Interpreted.Currency)
	}
	stdout.Reset()
	if err := runQR(context.Background(), []string{"decode", qrOverlongAmount(t)}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	got = qrDecoded{}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || len(got.Warnings) != 1 {
		t.Fatalf("decode of an overlong amount printed %s (%v); want JSON with one warning", stdout.String(), err)
	}
	if w := got.Warnings[0]; w.Tag != "54" || w.Offset == nil || *w.Offset != strings.Index(qrOverlongAmount(t), "5414") {
		t.Errorf("warning %+v; want tag 54 at the amount's offset", w)
	}
}

func TestQRUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"help"}, false},
		{[]string{"decode", "-h"}, false},
		{[]string{"png", "-h"}, false},
		{[]string{"encode"}, true},
		{[]string{"decode"}, true},
		{[]string{"decode", qrPIX, qrPIX}, true},
		{[]string{"decode", "-x", qrPIX}, true},
		{[]string{"png", qrPIX}, true}, // no -o
		{[]string{"png", "-o", "x.png"}, true},
		{[]string{"png", "-size", "big", "-o", "x.png", qrPIX}, true},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := qrMain(tt.args, strings.NewReader(""), &stdout, &stderr)
		if (err != nil) != tt.wantErr {
			t.Errorf("qrpay qr %s = %v; want error %v", strings.Join(tt.args, " "), err, tt.wantErr)
		}
		if usage := stdout.String() + stderr.String(); !strings.Contains(usage, "qrpay qr decode PAYLOAD") {
			t.Errorf("qrpay qr %s printed no usage:\n%s", strings.Join(tt.args, " "), usage)
		}
	}
}

func TestQRPNG(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badCRC := qrPIX[:len(qrPIX)-1] + "E"
	tests := []struct {
		name    string
		args    []string // "OUT" stands for the output file
		stdin   string
		want    string // what zbarimg reads back, "" for no file
		wantErr func(error) bool
	}{
		{name: "flags after the payload", args: []string{"png", qrPIX, "-o", "OUT"}, want: qrPIX},
		{name: "flags before the payload", args: []string{"png", "-size", "256", "-o", "OUT", qrPIX}, want: qrPIX},
		{name: "flags around the payload", args: []string{"png", "-o", "OUT", qrPIX, "-size", "1024"}, want: qrPIX},
		{name: "payload from stdin", args: []string{"png", "-o", "OUT", "-"}, stdin: qrPIX + "\n", want: qrPIX},
		{
			name: "bad CRC refused", args: []string{"png", badCRC, "-o", "OUT"},
			wantErr: func(err error) bool { return errors.Is(err, emv.ErrCRC) },
		},
		{name: "rule violation written", args: []string{"png", qrPromptPay, "-o", "OUT"}, want: qrPromptPay},
		{name: "bad CRC forced", args: []string{"png", "-force", badCRC, "-o", "OUT"}, want: badCRC},
		{
			name: "size too small", args: []string{"png", qrPIX, "-o", "OUT", "-size", "100"},
			wantErr: func(err error) bool { return errs.Is(err, errs.Invalid) },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(dir, fmt.Sprintf("%d.png", i))
			args := append([]string(nil), tt.args...)
			for j := range args {
				if args[j] == "OUT" {
					args[j] = out
				}
			}
			var stdout, stderr bytes.Buffer
			err := qrMain(args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("qrpay qr %s = %v; want a different error", strings.Join(tt.args, " "), err)
				}
				if _, statErr := os.Stat(out); !errors.Is(statErr, os.ErrNotExist) {
					t.Errorf("a refused png left a file behind (%v)", statErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("qrpay qr %s = %v", strings.Join(tt.args, " "), err)
			}
			if got := qrZbarimg(t, out); got != tt.want {
				t.Errorf("zbarimg read %q; want %q", got, tt.want)
			}
		})
	}
}

func TestQRPNGToStdout(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := qrMain([]string{"png", "-o", "-", qrPIX}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stdout.Bytes(), []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("png -o - wrote %d bytes that are not a PNG", stdout.Len())
	}
}

// qrZbarimg reads the QR code in the PNG file with zbar, the reader in
// Debian's zbar-tools. The payloads here are ASCII, so zbar's character-set
// guessing (see merchant's qrpng_test.go) cannot garble them. Without
// zbarimg the test fails rather than skips, so CI cannot pass unchecked.
func qrZbarimg(t *testing.T, file string) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("the PNG round trip needs zbarimg: run `make test-deps` (or apt-get install zbar-tools): %v", err)
	}
	args := []string{"--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", file}
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSuffix(string(out), "\n")
}
