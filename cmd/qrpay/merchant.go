package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qrpay/qrpay/merchant"
)

const merchantUsage = `Usage:
  qrpay merchant create -name NAME -city CITY -mcc MCC [-country CN] [-currency CNY] [-fee-bps 60] [-webhook-url URL]
  qrpay merchant list
  qrpay merchant get ID
  qrpay merchant suspend ID
  qrpay merchant resume ID
  qrpay merchant keys issue  -merchant ID [-scopes pos,finance]
  qrpay merchant keys list   -merchant ID
  qrpay merchant keys rotate -merchant ID -key KEY_ID [-grace 24h]
  qrpay merchant keys revoke -merchant ID -key KEY_ID

Operates on DATABASE_URL directly (as the admin API does) and prints JSON.
A key's secret is printed once, when it is issued or rotated.`

// runMerchant is the operator's command line: onboarding and API keys.
func runMerchant(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" {
		fmt.Fprintln(stdout, merchantUsage)
		return nil
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if len(cfg.MerchantSecretKey) < 16 {
		return errors.New("MERCHANT_SECRET_KEY must be set (the same value the gateway uses)")
	}
	pool, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc := merchant.New(cfg.merchantConfig(), cfg.db(pool), nil)
	out := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	withSecret := func(m merchant.Merchant) any {
		return struct {
			merchant.Merchant
			WebhookSecret string `json:"webhook_secret"`
		}{m, svc.WebhookSecret(m)}
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("merchant create", flag.ContinueOnError)
		var in merchant.MerchantInput
		fs.StringVar(&in.Name, "name", "", "name shown to customers (at most 25 characters)")
		fs.StringVar(&in.City, "city", "", "city (at most 15 characters)")
		fs.StringVar(&in.MCC, "mcc", "", "merchant category code, 4 digits")
		fs.StringVar(&in.Country, "country", "CN", "ISO 3166 alpha-2 country")
		fs.StringVar(&in.Currency, "currency", cfg.WalletCurrency, "ISO 4217 currency")
		fs.IntVar(&in.FeeBPS, "fee-bps", 60, "fee in basis points")
		fs.StringVar(&in.WebhookURL, "webhook-url", "", "where events are POSTed")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		m, err := svc.Create(ctx, in)
		if err != nil {
			return err
		}
		return out(withSecret(m))
	case "list":
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		return out(list)
	case "get", "suspend", "resume":
		if len(args) != 2 {
			return fmt.Errorf("usage: qrpay merchant %s ID", args[0])
		}
		var m merchant.Merchant
		var err error
		switch args[0] {
		case "get":
			m, err = svc.Get(ctx, args[1])
		default:
			m, err = svc.SetStatus(ctx, args[1], args[0] == "suspend")
		}
		if err != nil {
			return err
		}
		return out(withSecret(m))
	case "keys":
		return runKeys(ctx, svc, args[1:], out)
	}
	return fmt.Errorf("unknown merchant command %q\n\n%s", args[0], merchantUsage)
}

func runKeys(ctx context.Context, svc *merchant.Service, args []string, out func(any) error) error {
	if len(args) == 0 {
		return errors.New(merchantUsage)
	}
	fs := flag.NewFlagSet("merchant keys "+args[0], flag.ContinueOnError)
	merchantID := fs.String("merchant", "", "merchant id")
	keyID := fs.String("key", "", "key id")
	scopes := fs.String("scopes", "pos", "comma-separated scopes: pos, finance")
	grace := fs.Duration("grace", 0, "how long the rotated key keeps working (default API_KEY_ROTATION_GRACE)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *merchantID == "" {
		return errors.New("-merchant is required")
	}
	switch args[0] {
	case "issue":
		k, err := svc.IssueKey(ctx, *merchantID, strings.Split(*scopes, ","))
		if err != nil {
			return err
		}
		return out(k)
	case "list":
		keys, err := svc.Keys(ctx, *merchantID)
		if err != nil {
			return err
		}
		return out(keys)
	case "rotate":
		k, err := svc.RotateKey(ctx, *merchantID, *keyID, *grace)
		if err != nil {
			return err
		}
		return out(k)
	case "revoke":
		if err := svc.RevokeKey(ctx, *merchantID, *keyID); err != nil {
			return err
		}
		return out(map[string]any{"id": *keyID, "revoked_at": time.Now().UTC()})
	}
	return fmt.Errorf("unknown keys command %q\n\n%s", args[0], merchantUsage)
}
