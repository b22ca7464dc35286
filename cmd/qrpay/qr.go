package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/merchant/emv"
)

const qrUsage = `Usage:
  qrpay qr decode PAYLOAD
  qrpay qr png [-size N] [-force] -o FILE PAYLOAD

A PAYLOAD of "-" is read from standard input, where a trailing line break is
ignored. Flags may come before or after PAYLOAD.

decode reads an EMVCo merchant-presented QR payload and prints it as JSON:
"objects" lists every data object with its tag, byte offset, length in
characters, value and, for a template, its sub-objects; "interpreted" names
the common fields. A payload whose structure is broken (an ID or length that
is not two digits, a value that runs past the end, a repeated ID, a CRC that
is missing or wrong) cannot be read: decode exits with status 1 and the
problem, located by tag and byte offset, e.g.

  qrpay qr: emv: tag 63 at offset 66: CRC 619A does not match computed 6197

A payload that reads but breaks the specification's field rules (a missing
merchant category code or name, as in many national and person-to-person
codes, an amount over 13 characters, an unknown point of initiation) is
still decoded: the JSON lists each problem under "warnings", a line
"warning: ..." for each follows on standard error, and the exit status is 0.
The wallet refuses such a payload when it is scanned to pay.

png writes PAYLOAD as a QR code PNG of N×N pixels (default 512, from 128 to
1024; error correction level M, with the quiet zone) to FILE, or to standard
output for -o -. Like decode, it warns about a payload that breaks the field
rules, and refuses one whose structure is broken unless -force is given.
`

// qrDefaultSize fits a receipt printer or a phone screen; both scale it.
const qrDefaultSize = 512

// qrMaxInput bounds what decode and png read from standard input: an EMVCo
// payload is at most 512 characters, and anything much longer is not one.
const qrMaxInput = 64 << 10

// runQR is `qrpay qr`: decode a scanned payload for a support engineer, or
// render one as a PNG, without a database or a running gateway.
func runQR(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return qrMain(args, os.Stdin, stdout, stderr)
}

// qrMain is runQR with standard input as a parameter, for tests.
func qrMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, qrUsage)
		return nil
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, qrUsage)
		return nil
	case "decode":
		return qrDecode(args[1:], stdin, stdout, stderr)
	case "png":
		return qrPNG(args[1:], stdin, stdout, stderr)
	}
	fmt.Fprint(stderr, qrUsage)
	return fmt.Errorf("unknown sub-command %q: want decode or png", args[0])
}

func qrDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := qrFlagSet("decode")
	payload, err := qrParse(fs, args, stdin)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, qrUsage)
		return nil
	}
	if err != nil {
		fmt.Fprint(stderr, qrUsage)
		return err
	}
	p, err := emv.Parse(payload)
	if err != nil {
		return err
	}
	problems := p.Problems()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // merchant names hold "&"; show them as written
	if err := enc.Encode(newQRView(p, problems)); err != nil {
		return err
	}
	qrWarn(stderr, problems)
	return nil
}

// qrWarn prints one line per conformance problem: the payload was read, so
// these are for the reader, not a failure.
func qrWarn(w io.Writer, problems []*emv.DecodeError) {
	for _, pr := range problems {
		fmt.Fprintf(w, "warning: %v\n", pr)
	}
}

func qrPNG(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := qrFlagSet("png")
	out := fs.String("o", "", "write the PNG to `FILE` (- for standard output)")
	size := fs.Int("size", qrDefaultSize, "image width and height in `pixels`")
	force := fs.Bool("force", false, "write the PNG even if the payload does not decode")
	payload, err := qrParse(fs, args, stdin)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, qrUsage)
		return nil
	}
	if err == nil && *out == "" {
		err = errors.New("png: -o FILE is required")
	}
	if err != nil {
		fmt.Fprint(stderr, qrUsage)
		return err
	}
	if p, err := emv.Parse(payload); err != nil {
		if !*force {
			return fmt.Errorf("%w (use -force to write the PNG anyway)", err)
		}
		fmt.Fprintf(stderr, "warning: %v; writing the PNG anyway (-force)\n", err)
	} else {
		qrWarn(stderr, p.Problems())
	}
	png, err := merchant.RenderPNG(payload, *size)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(png)
		return err
	}
	return os.WriteFile(*out, png, 0o644)
}

// qrFlagSet returns a flag set that reports errors instead of printing
// them, so that main prints them once, prefixed like every other error.
func qrFlagSet(verb string) *flag.FlagSet {
	fs := flag.NewFlagSet("qrpay qr "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// qrParse parses flags placed anywhere among the arguments (the flag
// package stops at the first positional one) and returns the payload: the
// single positional argument, or standard input when it is "-". After "--"
// every argument is positional.
func qrParse(fs *flag.FlagSet, args []string, stdin io.Reader) (string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) != 1 {
		return "", fmt.Errorf("%s: want one PAYLOAD (- for standard input), got %d arguments", fs.Name(), len(positional))
	}
	if positional[0] != "-" {
		return positional[0], nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, qrMaxInput+1))
	if err != nil {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	if len(b) > qrMaxInput {
		return "", fmt.Errorf("standard input holds more than %d bytes; a payload has at most 512 characters", qrMaxInput)
	}
	// Only trailing line breaks go, so that error offsets still count from
	// the first byte read.
	return strings.TrimRight(string(b), "\r\n"), nil
}

// qrView is the JSON that `qrpay qr decode` prints. emv.Payload has no
// JSON tags, and the raw objects need offsets a support engineer can match
// against an error message.
type qrView struct {
	Objects     []qrObject    `json:"objects"`
	Interpreted qrInterpreted `json:"interpreted"`
	Warnings    []qrProblem   `json:"warnings,omitempty"`
}

type qrObject struct {
	Tag    string     `json:"tag"`
	Offset int        `json:"offset"` // in bytes, as in emv.DecodeError
	Length int        `json:"length"` // in characters, as written
	Value  string     `json:"value"`
	Fields []qrObject `json:"fields,omitempty"`
}

type qrInterpreted struct {
	FormatIndicator string        `json:"format_indicator"`
	Initiation      string        `json:"point_of_initiation,omitempty"`
	Dynamic         bool          `json:"dynamic"`
	Accounts        []qrAccount   `json:"merchant_accounts,omitempty"`
	MCC             string        `json:"merchant_category_code,omitempty"`
	Currency        string        `json:"currency,omitempty"`
	Amount          string        `json:"amount,omitempty"`
	TipIndicator    string        `json:"tip_indicator,omitempty"`
	TipFixed        string        `json:"tip_fixed,omitempty"`
	TipPercent      string        `json:"tip_percent,omitempty"`
	Country         string        `json:"country,omitempty"`
	Name            string        `json:"merchant_name,omitempty"`
	City            string        `json:"merchant_city,omitempty"`
	PostalCode      string        `json:"postal_code,omitempty"`
	Additional      *qrAdditional `json:"additional_data,omitempty"`
	Language        *qrLanguage   `json:"language,omitempty"`
	Unreserved      []qrAccount   `json:"unreserved,omitempty"`
	CRC             string        `json:"crc"`
}

type qrAccount struct {
	Tag   string `json:"tag"`
	GUID  string `json:"guid,omitempty"`
	Value string `json:"value"`
}

type qrField struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

type qrAdditional struct {
	BillNumber          string    `json:"bill_number,omitempty"`
	MobileNumber        string    `json:"mobile_number,omitempty"`
	StoreLabel          string    `json:"store_label,omitempty"`
	LoyaltyNumber       string    `json:"loyalty_number,omitempty"`
	ReferenceLabel      string    `json:"reference_label,omitempty"`
	CustomerLabel       string    `json:"customer_label,omitempty"`
	TerminalLabel       string    `json:"terminal_label,omitempty"`
	Purpose             string    `json:"purpose,omitempty"`
	ConsumerDataRequest string    `json:"consumer_data_request,omitempty"`
	MerchantTaxID       string    `json:"merchant_tax_id,omitempty"`
	MerchantChannel     string    `json:"merchant_channel,omitempty"`
	Other               []qrField `json:"other,omitempty"`
}

type qrLanguage struct {
	Preference string    `json:"preference"`
	Name       string    `json:"merchant_name"`
	City       string    `json:"merchant_city,omitempty"`
	Other      []qrField `json:"other,omitempty"`
}

// qrProblem is a field rule the payload breaks, located like a
// structural error.
type qrProblem struct {
	Message string `json:"message"`
	Tag     string `json:"tag,omitempty"`
	Offset  *int   `json:"offset,omitempty"` // absent for a missing object
}

func newQRView(p *emv.Payload, problems []*emv.DecodeError) qrView {
	v := qrView{
		Objects: qrObjects(p.Fields, 0),
		Interpreted: qrInterpreted{
			FormatIndicator: p.FormatIndicator, Initiation: p.Initiation, Dynamic: p.Dynamic(),
			Accounts: qrAccounts(p.Accounts), MCC: p.MCC, Currency: p.Currency, Amount: p.Amount,
			TipIndicator: p.TipIndicator, TipFixed: p.TipFixed, TipPercent: p.TipPercent,
			Country: p.Country, Name: p.Name, City: p.City, PostalCode: p.PostalCode,
			Unreserved: qrAccounts(p.Unreserved), CRC: p.CRC,
		},
	}
	if a := p.Additional; a != nil {
		v.Interpreted.Additional = &qrAdditional{
			BillNumber: a.BillNumber, MobileNumber: a.MobileNumber, StoreLabel: a.StoreLabel,
			LoyaltyNumber: a.LoyaltyNumber, ReferenceLabel: a.ReferenceLabel, CustomerLabel: a.CustomerLabel,
			TerminalLabel: a.TerminalLabel, Purpose: a.Purpose, ConsumerDataRequest: a.ConsumerDataRequest,
			MerchantTaxID: a.MerchantTaxID, MerchantChannel: a.MerchantChannel, Other: qrFields(a.Other),
		}
	}
	if l := p.Language; l != nil {
		v.Interpreted.Language = &qrLanguage{Preference: l.Preference, Name: l.Name, City: l.City, Other: qrFields(l.Other)}
	}
	for _, pr := range problems {
		w := qrProblem{Message: pr.Error(), Tag: pr.Tag}
		if pr.Offset >= 0 {
			w.Offset = &pr.Offset
		}
		v.Warnings = append(v.Warnings, w)
	}
	return v
}

// qrObjects lists fields as they sit in the payload; base is the byte
// offset of the first one. Offsets are recomputed from the raw values,
// which Decode keeps for templates too.
func qrObjects(fields []emv.Field, base int) []qrObject {
	objs := make([]qrObject, 0, len(fields))
	for _, f := range fields {
		objs = append(objs, qrObject{
			Tag: f.Tag, Offset: base, Length: utf8.RuneCountInString(f.Value), Value: f.Value,
			Fields: qrObjects(f.Fields, base+4),
		})
		base += 4 + len(f.Value)
	}
	if len(objs) == 0 {
		return nil
	}
	return objs
}

func qrAccounts(accounts []emv.Account) []qrAccount {
	var out []qrAccount
	for _, a := range accounts {
		out = append(out, qrAccount{Tag: a.Tag, GUID: a.GUID, Value: a.Value})
	}
	return out
}

func qrFields(fields []emv.Field) []qrField {
	var out []qrField
	for _, f := range fields {
		out = append(out, qrField{Tag: f.Tag, Value: f.Value})
	}
	return out
}
