// Command qrpay is the qrpay gateway and its command-line tools.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run the gateway (migrates first unless MIGRATE_ON_START=false)", runServe},
		"migrate":     {"create the database if missing and apply migrations", runMigrate},
		"merchant":    {"onboard merchants and manage their API keys (prints JSON)", runMerchant},
		"qr":          {"decode an EMVCo QR payload as JSON, or render it as a PNG", runQR},
		"settle":      {"settle a business day, catch up missed days, or verify a day against the ledger", runSettle},
		"order":       {"create, read and close orders through the merchant API (SDK; -key/-secret)", runOrder},
		"refund":      {"refund a paid order through the merchant API (SDK; -key/-secret)", runRefund},
		"settlement":  {"list settled days and download verified settlement files (SDK; finance key)", runSettlement},
		"demo":        {"walk the whole story against a running gateway: merchant, wallets, pay, refund, settle", runDemo},
		"healthcheck": {"exit 0 when the gateway on PORT answers /readyz with 200 (the container's health probe)", runHealthcheck},
		"version":     {"print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "qrpay: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "qrpay %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "qrpay — merchant QR payment gateway\n\nUsage: qrpay <command> [arguments]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from the environment; see README.md.")
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintf(stdout, "qrpay %s\n", version)
	return err
}

// runHealthcheck asks the gateway on this host's PORT whether it is ready.
// The image has no shell or curl, so its HEALTHCHECK runs this.
func runHealthcheck(ctx context.Context, _ []string, _, _ io.Writer) error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:"+port+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %d", resp.StatusCode)
	}
	return nil
}
