package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

const orderUsage = `Usage:
  qrpay order create -amount MINOR [-no NUMBER] [-currency CNY] [-description TEXT] [-terminal ID] [-expires-in 15m]
  qrpay order get ID
  qrpay order get -no NUMBER
  qrpay order close ID

create makes an order and prints it with its QR payload; -amount is in minor units (1200 is
12.00 CNY). Without -no a merchant order number is generated. The order number is also the
Idempotency-Key, so running the same create again returns the first order instead of a
second one. The key needs the pos scope.

` + credentialsHelp

// runOrder is the POS integrator's command line: create, read and close
// orders through the SDK.
func runOrder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, orderUsage)
		return nil
	}
	verb, args := args[0], args[1:]
	fs := newFlagSet("order "+verb, orderUsage, stderr)
	creds := addCredentialFlags(fs)
	switch verb {
	case "create":
		var p sdk.OrderParams
		fs.Int64Var(&p.Amount, "amount", 0, "amount in minor units (required)")
		fs.StringVar(&p.MerchantOrderNo, "no", "", "merchant order number, unique per merchant (default: generated)")
		fs.StringVar(&p.Currency, "currency", "", "ISO 4217 currency (default: the merchant's)")
		fs.StringVar(&p.Description, "description", "", "what is sold")
		fs.StringVar(&p.TerminalID, "terminal", "", "terminal id")
		expiresIn := fs.Duration("expires-in", 0, "how long the QR can be paid, e.g. 15m (default: the gateway's, 15m)")
		if err := fs.Parse(args); err != nil {
			return helpOrErr(err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), orderUsage)
		}
		if p.Amount <= 0 {
			return errors.New("-amount is required: a positive number of minor units (1200 is 12.00)")
		}
		if *expiresIn < 0 || *expiresIn%time.Second != 0 {
			return fmt.Errorf("-expires-in %s: want a positive whole number of seconds, such as 90s or 15m", *expiresIn)
		}
		p.ExpiresIn = int(*expiresIn / time.Second)
		if p.MerchantOrderNo == "" {
			p.MerchantOrderNo = newOrderNo(time.Now())
		}
		p.IdempotencyKey = "order-" + p.MerchantOrderNo
		client, err := creds.client()
		if err != nil {
			return err
		}
		o, err := client.CreateOrder(ctx, &p)
		if err != nil {
			return explain(err)
		}
		return printJSON(stdout, o)
	case "get", "close":
		var no string
		if verb == "get" {
			fs.StringVar(&no, "no", "", "look the order up by merchant order number instead of id")
		}
		pos, err := parseArgs(fs, args)
		if err != nil {
			return helpOrErr(err)
		}
		if len(pos) > 1 || (no != "") == (len(pos) == 1) {
			if verb == "close" {
				return errors.New("usage: qrpay order close ID")
			}
			return errors.New("usage: qrpay order get ID, or qrpay order get -no NUMBER")
		}
		client, err := creds.client()
		if err != nil {
			return err
		}
		var o *sdk.Order
		switch {
		case no != "":
			o, err = client.GetOrderByNumber(ctx, no)
		case verb == "get":
			o, err = client.GetOrder(ctx, pos[0])
		default:
			o, err = client.CloseOrder(ctx, pos[0])
		}
		if err != nil {
			return explain(err)
		}
		return printJSON(stdout, o)
	}
	return fmt.Errorf("unknown order command %q\n\n%s", verb, orderUsage)
}

// newOrderNo makes a merchant order number for a create without -no:
// 25 characters, so that it still fits the QR code's reference field.
func newOrderNo(now time.Time) string {
	return "CLI-" + now.UTC().Format("20060102150405") + "-" + randomSuffix(3)
}
