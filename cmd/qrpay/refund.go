package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

const refundUsage = `Usage:
  qrpay refund create -order ID -amount MINOR [-no REFUND_NO] [-reason TEXT]

create refunds part or all of a paid order to the customer's wallet; -amount is in minor
units. Without -no a refund number is generated. The gateway returns the first refund when a
refund number is used again on the same order, so repeating a create with -no never refunds
twice. The key needs the pos scope.

` + credentialsHelp

// runRefund refunds orders through the SDK.
func runRefund(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, refundUsage)
		return nil
	}
	if args[0] != "create" {
		return fmt.Errorf("unknown refund command %q\n\n%s", args[0], refundUsage)
	}
	fs := newFlagSet("refund create", refundUsage, stderr)
	creds := addCredentialFlags(fs)
	orderID := fs.String("order", "", "the order's id (required)")
	var p sdk.RefundParams
	fs.Int64Var(&p.Amount, "amount", 0, "amount to refund in minor units (required)")
	fs.StringVar(&p.RefundNo, "no", "", "refund number, unique per order (default: generated)")
	fs.StringVar(&p.Reason, "reason", "", "why, for the customer's bill")
	if err := fs.Parse(args[1:]); err != nil {
		return helpOrErr(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), refundUsage)
	}
	if *orderID == "" {
		return errors.New("-order is required")
	}
	if p.Amount <= 0 {
		return errors.New("-amount is required: a positive number of minor units")
	}
	if p.RefundNo == "" {
		p.RefundNo = "R-" + time.Now().UTC().Format("20060102150405") + "-" + randomSuffix(3)
	}
	// The key names the order too: refund numbers are unique per order,
	// idempotency keys per merchant.
	p.IdempotencyKey = "refund-" + *orderID + "-" + p.RefundNo
	client, err := creds.client()
	if err != nil {
		return err
	}
	r, err := client.CreateRefund(ctx, *orderID, &p)
	if err != nil {
		return explain(err)
	}
	return printJSON(stdout, r)
}
