package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/settlement"
)

const settleUsage = `Usage:
  qrpay settle -date YYYY-MM-DD [-merchant ID] [-close-early]
  qrpay settle catch-up
  qrpay settle verify -date YYYY-MM-DD [-merchant ID]

settle posts each merchant's net for the business day (in TIME_ZONE) and writes its file;
running it again for a settled day changes nothing. catch-up settles every ended day not yet
settled. verify recomputes the day from the ledger and compares it with what was settled:
it exits 1 on any drift.`

// runSettle settles or reconciles business days against DATABASE_URL.
func runSettle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h") {
		fmt.Fprintln(stdout, settleUsage)
		return nil
	}
	verb := "run"
	if len(args) > 0 && (args[0] == "verify" || args[0] == "catch-up") {
		verb, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("settle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", "", "business day, YYYY-MM-DD")
	merchantID := fs.String("merchant", "", "only this merchant")
	closeEarly := fs.Bool("close-early", false, "settle today before it ends; the rest of the day goes to tomorrow's settlement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if verb != "catch-up" && *date == "" {
		return fmt.Errorf("-date is required\n\n%s", settleUsage)
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	led := ledger.New(pool, ledger.Options{})
	defer led.Close()
	svc := settlement.New(cfg.settlementConfig(), cfg.db(pool), led, cfg.settlementFiles(pool))
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch verb {
	case "verify":
		checks, err := svc.Verify(ctx, *date, *merchantID)
		if err != nil {
			return err
		}
		drifts := 0
		for _, c := range checks {
			status := "ok"
			if !c.OK {
				status, drifts = "DRIFT", drifts+1
			}
			fmt.Fprintf(stdout, "%-6s merchant %s %s: %d payments %d, %d refunds %d, fees %d, net %d, sha256 %s\n",
				status, c.MerchantID, c.Date, c.Ledger.PaymentsCount, c.Ledger.PaymentsAmount, c.Ledger.RefundsCount,
				c.Ledger.RefundsAmount, c.Ledger.Fees, c.Ledger.Net, c.SHA256)
			for _, d := range c.Drifts {
				fmt.Fprintf(stdout, "       - %s\n", d)
			}
		}
		if drifts > 0 {
			return fmt.Errorf("%d of %d settlements drift from the ledger", drifts, len(checks))
		}
		fmt.Fprintf(stdout, "%d settlements agree with the ledger\n", len(checks))
		return nil
	case "catch-up":
		out, err := svc.CatchUp(ctx)
		if encErr := enc.Encode(out); encErr != nil {
			return encErr
		}
		return err
	}
	out, err := svc.Run(ctx, *date, *merchantID, *closeEarly)
	if encErr := enc.Encode(out); encErr != nil {
		return encErr
	}
	return err
}
