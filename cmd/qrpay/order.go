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
  qrpay order list [-terminal ID] [-status STATUS] [-from TIME] [-to TIME] [-limit N] [-after ID]
  qrpay order receipt ID
  qrpay order shift -terminal ID [-from TIME] [-to TIME]
  qrpay order charge -amount MINOR -code DIGITS [-no NUMBER] [-description TEXT] [-terminal ID] [-wait 2m]

create makes an order and prints it with its QR payload; -amount is in minor units (1200 is
12.00 CNY). Without -no a merchant order number is generated. The order number is also the
Idempotency-Key, so running the same create again returns the first order instead of a
second one. list prints one page of orders, newest first, with the totals by status of every
order the filter selects; pass its next_cursor as -after for the next page. receipt prints a
paid order's receipt. shift prints what a terminal took from -from to -to (default: the last
24 hours): payments, refunds, fees and net, by way of paying. TIME is RFC 3339, such as
2026-03-01T08:00:00+08:00. The key needs the pos scope.

charge charges the payment code a customer shows (the 18 digits under its barcode): it prints
the charge, paid at once or, above the wallet's PIN threshold, waiting for the customer to
confirm on the phone; then it waits up to -wait (0: not at all) for the order to be paid,
closed or expired, and prints the order. A declined charge exits 1 with the gateway's code.

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
	case "charge":
		var p sdk.ChargeParams
		fs.Int64Var(&p.Amount, "amount", 0, "amount in minor units (required)")
		fs.StringVar(&p.Code, "code", "", "the customer's payment code, 18 digits (required)")
		fs.StringVar(&p.MerchantOrderNo, "no", "", "merchant order number, unique per merchant (default: generated)")
		fs.StringVar(&p.Description, "description", "", "what is sold")
		fs.StringVar(&p.TerminalID, "terminal", "", "terminal id")
		wait := fs.Duration("wait", 2*time.Minute, "how long to wait for a charge the customer confirms")
		if err := fs.Parse(args); err != nil {
			return helpOrErr(err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), orderUsage)
		}
		if p.Amount <= 0 || p.Code == "" {
			return errors.New("-amount (a positive number of minor units) and -code are required")
		}
		if p.MerchantOrderNo == "" {
			p.MerchantOrderNo = newOrderNo(time.Now())
		}
		p.IdempotencyKey = "charge-" + p.MerchantOrderNo
		client, err := creds.client()
		if err != nil {
			return err
		}
		ch, err := client.Charge(ctx, &p)
		if err != nil {
			return explain(err)
		}
		if err := printJSON(stdout, ch); err != nil || ch.Status == sdk.ChargePaid || *wait <= 0 {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, *wait)
		defer cancel()
		o, err := client.WaitForPayment(wctx, &sdk.WaitParams{OrderID: ch.Order.ID})
		if o != nil {
			if perr := printJSON(stdout, o); perr != nil {
				return perr
			}
		}
		if err != nil {
			return explain(err)
		}
		return nil
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
	case "list", "shift":
		var p sdk.ListOrdersParams
		var status, from, to string
		fs.StringVar(&p.TerminalID, "terminal", "", "only this terminal's orders")
		fs.StringVar(&from, "from", "", "RFC 3339 time: created (list) or committed (shift) at or after it")
		fs.StringVar(&to, "to", "", "RFC 3339 time: before it")
		if verb == "list" {
			fs.StringVar(&status, "status", "", "only orders in this status")
			fs.IntVar(&p.Limit, "limit", 0, "orders per page, 1 to 100 (default 20)")
			fs.StringVar(&p.StartingAfter, "after", "", "the next_cursor of the previous page")
		}
		if err := fs.Parse(args); err != nil {
			return helpOrErr(err)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), orderUsage)
		}
		var err error
		if p.From, err = parseTimeFlag("from", from); err != nil {
			return err
		}
		if p.To, err = parseTimeFlag("to", to); err != nil {
			return err
		}
		p.Status = sdk.OrderStatus(status)
		if verb == "shift" && p.TerminalID == "" {
			return errors.New("-terminal is required: the terminal whose shift to sum")
		}
		client, err := creds.client()
		if err != nil {
			return err
		}
		if verb == "shift" {
			sum, err := client.ShiftSummary(ctx, p.TerminalID, p.From, p.To)
			if err != nil {
				return explain(err)
			}
			return printJSON(stdout, sum)
		}
		page, err := client.ListOrdersPage(ctx, &p)
		if err != nil {
			return explain(err)
		}
		return printJSON(stdout, page)
	case "receipt":
		pos, err := parseArgs(fs, args)
		if err != nil {
			return helpOrErr(err)
		}
		if len(pos) != 1 {
			return errors.New("usage: qrpay order receipt ID")
		}
		client, err := creds.client()
		if err != nil {
			return err
		}
		r, err := client.Receipt(ctx, pos[0])
		if err != nil {
			return explain(err)
		}
		return printJSON(stdout, r)
	}
	return fmt.Errorf("unknown order command %q\n\n%s", verb, orderUsage)
}

// parseTimeFlag reads an optional RFC 3339 time flag.
func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("-%s %q: want an RFC 3339 time, such as 2026-03-01T08:00:00+08:00", name, v)
	}
	return t, nil
}

// newOrderNo makes a merchant order number for a create without -no:
// 25 characters, so that it still fits the QR code's reference field.
func newOrderNo(now time.Time) string {
	return "CLI-" + now.UTC().Format("20060102150405") + "-" + randomSuffix(3)
}
