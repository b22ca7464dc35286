package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

const demoUsage = `Usage:
  qrpay demo [-url URL] [-operator-token TOKEN] [-time-zone Asia/Shanghai]

demo walks the whole story against a running gateway (make run), one numbered line per step:
onboard a merchant whose webhooks come to a listener the demo starts on 127.0.0.1, register
two wallets (answering the one-time codes of registration and card binding from the gateway's
code outbox: its OTP_DELIVERY must be outbox, as make run sets), create an order through the SDK, scan and pay it, receive and verify its
webhooks, refund part of it, transfer between the wallets, settle today for the demo
merchant, download and verify its file, check the first wallet's monthly statement, and
pay the other way round: the wallet shows its payment code and the POS charges it. It
exits 1 at the first step that fails and says why. Every run creates a new merchant and new
wallets, so it can run again and again. -time-zone must be the gateway's TIME_ZONE.

-url defaults to QRPAY_URL, else http://localhost:8080; -operator-token to OPERATOR_TOKEN,
else dev-operator-token (what make run sets).`

// runDemo is the walk-through of docs/demo.md.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoUsage, stderr)
	base := fs.String("url", "", "gateway base URL (default $"+envURL+" or "+defaultGatewayURL+")")
	token := fs.String("operator-token", "", "the gateway's operator token (default $OPERATOR_TOKEN or dev-operator-token)")
	zone := fs.String("time-zone", "Asia/Shanghai", "the gateway's TIME_ZONE: today's business day is settled")
	wait := fs.Duration("webhook-timeout", 10*time.Second, "how long to wait for each webhook")
	if err := fs.Parse(args); err != nil {
		return helpOrErr(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n\n%s", fs.Arg(0), demoUsage)
	}
	loc, err := time.LoadLocation(*zone)
	if err != nil {
		return fmt.Errorf("-time-zone: %w", err)
	}
	d := &demo{
		base:  strings.TrimRight(cmp.Or(*base, os.Getenv(envURL), defaultGatewayURL), "/"),
		token: cmp.Or(*token, os.Getenv("OPERATOR_TOKEN"), "dev-operator-token"),
		loc:   loc,
		wait:  *wait,
		tag:   randomSuffix(3),
	}
	d.api = walletapi.New(d.base, nil)
	// Registering and binding a card need one-time codes. A real app asks
	// the customer; the demo reads them from the gateway's outbox
	// (OTP_DELIVERY=outbox, which make run sets) and counts them.
	read := d.api.OperatorCodes(d.token)
	d.api.Codes = func(ctx context.Context, ch walletapi.Challenge) (string, error) {
		code, err := read(ctx, ch)
		if err == nil {
			d.codes = append(d.codes, ch.Purpose+" (sent to "+ch.SentTo+")")
		}
		return code, err
	}
	hooks, err := listenForWebhooks()
	if err != nil {
		return fmt.Errorf("starting the webhook listener: %w", err)
	}
	defer hooks.close()
	d.hooks = hooks

	fmt.Fprintf(stdout, "qrpay demo against %s (webhooks to %s)\n", d.base, hooks.url)
	steps := []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"onboard a merchant", d.onboard},
		{"register wallets", d.wallets},
		{"create, scan and pay an order", d.pay},
		{"receive order.paid", d.paidWebhook},
		{"refund part of it", d.refundPart},
		{"transfer between wallets", d.transfer},
		{"pay by card", d.payByCard},
		{"settle today", d.settle},
		{"monthly statement", d.statement},
		{"step-up and security notice", d.stepUp},
		{"pay by showing a payment code", d.codePay},
	}
	for i, s := range steps {
		line, err := s.run(ctx)
		if err != nil {
			fmt.Fprintf(stdout, "%d. %s: FAILED\n", i+1, s.name)
			return fmt.Errorf("step %d (%s) failed: %w", i+1, s.name, err)
		}
		fmt.Fprintf(stdout, "%d. %s\n", i+1, line)
	}
	fmt.Fprintf(stdout, "demo complete: all %d steps passed\n", len(steps))
	return nil
}

// demo is one run's state, handed from step to step.
type demo struct {
	base, token string
	loc         *time.Location
	wait        time.Duration
	api         *walletapi.Client
	hooks       *webhookListener
	tag         string   // makes this run's names unique
	codes       []string // the one-time codes answered, by purpose

	merchantID, merchantName string
	client                   *sdk.Client
	payer, payee             demoWallet
	order                    *sdk.Order
	refunded                 *sdk.Refund
	cardOrder                *sdk.Order // paid by card, not from the balance
}

type demoWallet struct {
	phone, walletID, token, cardID string
	pinSet                         bool
}

const (
	demoPassword = "correct horse battery"
	demoPIN      = "135790"
	demoTopUp    = 10000
	demoAmount   = 1200
	demoRefund   = 500
	demoTransfer = 2500
	demoByCard   = 3000 // more than the balance left: the card pays it
)

func (d *demo) onboard(ctx context.Context) (string, error) {
	d.merchantName = "Demo Coffee " + d.tag
	m, err := d.api.CreateMerchant(ctx, d.token, walletapi.MerchantParams{Name: d.merchantName, City: "Shanghai",
		MCC: "5814", Country: "CN", Currency: "CNY", FeeBPS: 60, WebhookURL: d.hooks.url})
	if err != nil {
		return "", fmt.Errorf("onboarding through the admin API (is -operator-token the gateway's OPERATOR_TOKEN?): %w", explain(err))
	}
	d.merchantID = m.ID
	d.hooks.setSecret(m.WebhookSecret)
	k, err := d.api.IssueKey(ctx, d.token, m.ID, "pos", "finance")
	if err != nil {
		return "", fmt.Errorf("issuing an API key: %w", explain(err))
	}
	d.client = sdk.NewClient(d.base, k.ID, k.Secret, sdk.WithUserAgent("qrpay-demo/"+sdk.Version))
	return fmt.Sprintf("merchant %q onboarded: id %s, code %s, fee %d bps; API key %s (%s); webhooks to %s",
		d.merchantName, m.ID, m.Code, m.FeeBPS, k.ID, strings.Join(k.Scopes, "+"), d.hooks.url), nil
}

func (d *demo) wallets(ctx context.Context) (string, error) {
	var err error
	if d.payer, err = d.newWallet(ctx); err != nil {
		return "", err
	}
	if d.payee, err = d.newWallet(ctx); err != nil {
		return "", err
	}
	var mv movement
	err = d.call(ctx, "POST", "/v1/wallet/topups", d.payer.token, "demo-topup-"+d.tag,
		map[string]any{"card_id": d.payer.cardID, "amount": demoTopUp}, &mv)
	if err != nil {
		return "", fmt.Errorf("topping up %s: %w", d.payer.phone, err)
	}
	if mv.BalanceAfter != demoTopUp {
		return "", fmt.Errorf("top-up left the balance at %d; want %d", mv.BalanceAfter, demoTopUp)
	}
	return fmt.Sprintf("wallets %s and %s registered, a test card bound to each, with %d one-time codes read from the operator's outbox (%s); %s topped up %s from %s: balance %s",
		d.payer.phone, d.payee.phone, len(d.codes), strings.Join(d.codes, ", "), d.payer.phone, money(demoTopUp), mv.Card, money(mv.BalanceAfter)), nil
}

// newWallet registers a wallet with a random phone number, logs in and
// binds a test card.
func (d *demo) newWallet(ctx context.Context) (demoWallet, error) {
	w := demoWallet{phone: randomPhone()}
	device := "demo-" + w.phone[1:]
	if err := d.api.Register(ctx, w.phone, demoPassword, device); err != nil {
		return w, fmt.Errorf("registering %s: %w", w.phone, explain(err))
	}
	s, err := d.api.Login(ctx, w.phone, demoPassword, device)
	if err != nil {
		return w, fmt.Errorf("logging in %s: %w", w.phone, explain(err))
	}
	w.token, w.walletID = s.Token, s.WalletID
	w.cardID, err = d.api.BindCard(ctx, w.token, walletapi.CardParams{Number: "4111 1111 1111 1111",
		ExpMonth: 12, ExpYear: time.Now().Year() + 3, HolderName: "Demo Customer"})
	if err != nil {
		return w, fmt.Errorf("binding a card to %s: %w", w.phone, explain(err))
	}
	return w, nil
}

func (d *demo) pay(ctx context.Context) (string, error) {
	o, err := d.client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "DEMO-" + d.tag, Amount: demoAmount,
		Description: "2 coffees", TerminalID: "DEMO1", IdempotencyKey: "demo-order-" + d.tag})
	if err != nil {
		return "", fmt.Errorf("creating the order through the SDK: %w", explain(err))
	}
	d.order = o
	var scan struct {
		OrderID      string `json:"order_id"`
		MerchantName string `json:"merchant_name"`
		Amount       *int64 `json:"amount"`
		Currency     string `json:"currency"`
		PINRequired  bool   `json:"pin_required"`
	}
	if err := d.call(ctx, "POST", "/v1/wallet/scan", d.payer.token, "", map[string]any{"qr_payload": o.QRPayload}, &scan); err != nil {
		return "", fmt.Errorf("scanning the order's QR: %w", err)
	}
	if scan.OrderID != o.ID || scan.Amount == nil || *scan.Amount != demoAmount || scan.MerchantName != d.merchantName {
		return "", fmt.Errorf("the scan read order %s, %s, amount %v; want order %s, %s, %d", scan.OrderID, scan.MerchantName, scan.Amount, o.ID, d.merchantName, demoAmount)
	}
	pay := map[string]any{"qr_payload": o.QRPayload, "card_id": d.payer.cardID}
	if scan.PINRequired { // the gateway's PIN_THRESHOLD is below the demo's amount
		if err := d.setPIN(ctx, &d.payer); err != nil {
			return "", err
		}
		pay["pin"] = demoPIN
	}
	var mv movement
	if err := d.call(ctx, "POST", "/v1/wallet/payments", d.payer.token, "demo-pay-"+d.tag, pay, &mv); err != nil {
		return "", fmt.Errorf("paying: %w", err)
	}
	if mv.Amount != -demoAmount || mv.BalanceAfter != demoTopUp-demoAmount {
		return "", fmt.Errorf("the payment moved %d leaving %d; want -%d leaving %d", mv.Amount, mv.BalanceAfter, demoAmount, demoTopUp-demoAmount)
	}
	paid, err := d.client.GetOrder(ctx, o.ID)
	if err != nil {
		return "", fmt.Errorf("reading the order back: %w", explain(err))
	}
	if paid.Status != sdk.OrderPaid {
		return "", fmt.Errorf("the order is %s after paying; want paid", paid.Status)
	}
	d.order = paid
	return fmt.Sprintf("order %s for %s created (id %s, QR %s…); scanned: %s asks %s; paid with %s: wallet balance %s, order %s, fee %s",
		o.MerchantOrderNo, money(o.Amount), o.ID, o.QRPayload[:min(len(o.QRPayload), 16)], scan.MerchantName, money(*scan.Amount),
		mv.Card, money(mv.BalanceAfter), paid.Status, money(paid.Fee)), nil
}

func (d *demo) paidWebhook(ctx context.Context) (string, error) {
	ev, err := d.hooks.waitFor(ctx, sdk.EventOrderPaid, d.order.ID, d.wait)
	if err != nil {
		return "", err
	}
	if ev.Data.Order == nil || ev.Data.Order.Status != sdk.OrderPaid || ev.Data.Order.Amount != demoAmount {
		return "", fmt.Errorf("order.paid carries order %+v; want it paid for %d", ev.Data.Order, demoAmount)
	}
	return fmt.Sprintf("webhook order.paid for %s received and verified with ConstructEvent (event %s, sequence %d, amount %s)",
		d.order.MerchantOrderNo, ev.ID, ev.Sequence, money(ev.Data.Order.Amount)), nil
}

func (d *demo) refundPart(ctx context.Context) (string, error) {
	r, err := d.client.CreateRefund(ctx, d.order.ID, &sdk.RefundParams{RefundNo: "DEMO-R1", Amount: demoRefund, Reason: "one coffee spilt"})
	if err != nil {
		return "", fmt.Errorf("refunding through the SDK: %w", explain(err))
	}
	d.refunded = r
	ev, err := d.hooks.waitFor(ctx, sdk.EventOrderRefunded, d.order.ID, d.wait)
	if err != nil {
		return "", err
	}
	if ev.Data.Refund == nil || ev.Data.Refund.ID != r.ID {
		return "", fmt.Errorf("order.refunded carries refund %+v; want %s", ev.Data.Refund, r.ID)
	}
	return fmt.Sprintf("refunded %s of %s (refund %s, fee returned %s); webhook order.refunded verified (sequence %d, order %s, refunded %s)",
		money(r.Amount), d.order.MerchantOrderNo, r.ID, money(r.FeeRefunded), ev.Sequence, ev.Data.Order.Status, money(ev.Data.Order.RefundedAmount)), nil
}

func (d *demo) setPIN(ctx context.Context, w *demoWallet) error {
	if w.pinSet {
		return nil
	}
	if err := d.call(ctx, "PUT", "/v1/wallet/pin", w.token, "", map[string]any{"pin": demoPIN}, nil); err != nil {
		return fmt.Errorf("setting the PIN of %s: %w", w.phone, err)
	}
	w.pinSet = true
	return nil
}

func (d *demo) transfer(ctx context.Context) (string, error) {
	if err := d.setPIN(ctx, &d.payer); err != nil {
		return "", err
	}
	var mv movement
	err := d.call(ctx, "POST", "/v1/wallet/transfers", d.payer.token, "demo-transfer-"+d.tag,
		map[string]any{"to_phone": d.payee.phone, "amount": demoTransfer, "note": "demo", "pin": demoPIN}, &mv)
	if err != nil {
		return "", fmt.Errorf("transferring: %w", err)
	}
	want := int64(demoTopUp - demoAmount + demoRefund - demoTransfer)
	if mv.BalanceAfter != want {
		return "", fmt.Errorf("the sender's balance is %d after the transfer; want %d", mv.BalanceAfter, want)
	}
	var payee struct {
		Balance int64 `json:"balance"`
	}
	if err := d.call(ctx, "GET", "/v1/wallet", d.payee.token, "", nil, &payee); err != nil {
		return "", fmt.Errorf("reading the recipient's wallet: %w", err)
	}
	if payee.Balance != demoTransfer {
		return "", fmt.Errorf("the recipient's balance is %d; want %d", payee.Balance, demoTransfer)
	}
	return fmt.Sprintf("PIN set; %s sent %s to %s (%s): balances %s and %s",
		d.payer.phone, money(demoTransfer), d.payee.phone, mv.Counterparty, money(mv.BalanceAfter), money(payee.Balance)), nil
}

func (d *demo) settle(ctx context.Context) (string, error) {
	day := time.Now().In(d.loc).Format(time.DateOnly)
	var run struct {
		Data []struct {
			MerchantID string `json:"merchant_id"`
			Result     string `json:"result"`
			Error      string `json:"error"`
		} `json:"data"`
	}
	// Only the demo's merchant: closing today early for every merchant on a
	// shared gateway is not the demo's to do.
	err := d.call(ctx, "POST", "/v1/admin/settlements/run", d.token, "",
		map[string]any{"date": day, "merchant_id": d.merchantID, "close_early": true}, &run)
	if err != nil {
		return "", fmt.Errorf("settling %s (%s) through the admin API (is -time-zone the gateway's TIME_ZONE?): %w", day, d.loc, err)
	}
	if len(run.Data) != 1 || (run.Data[0].Result != "settled" && run.Data[0].Result != "already_settled") {
		return "", fmt.Errorf("settling %s answered %+v; want the merchant settled", day, run.Data)
	}
	st, err := d.client.GetSettlement(ctx, day)
	if err != nil {
		return "", fmt.Errorf("reading the settlement through the SDK: %w", explain(err))
	}
	if st.TimeZone != d.loc.String() {
		return "", fmt.Errorf("the gateway settles in %s, not %s: run the demo with -time-zone %s", st.TimeZone, d.loc, st.TimeZone)
	}
	fee := d.order.Fee - d.refunded.FeeRefunded + d.cardOrder.Fee
	paid := int64(demoAmount + demoByCard)
	if st.PaymentsAmount != paid || st.RefundsAmount != demoRefund || st.Fees != fee || st.Net != paid-demoRefund-fee {
		return "", fmt.Errorf("settlement %s: payments %d, refunds %d, fees %d, net %d; want %d, %d, %d, %d",
			day, st.PaymentsAmount, st.RefundsAmount, st.Fees, st.Net, paid, demoRefund, fee, paid-demoRefund-fee)
	}
	var file bytes.Buffer
	n, sum, err := d.client.DownloadSettlement(ctx, day, &file)
	if err != nil {
		return "", fmt.Errorf("downloading the file through the SDK: %w", explain(err))
	}
	if sum != st.SHA256 || n != st.FileSize {
		return "", fmt.Errorf("downloaded %d bytes with SHA-256 %s; the settlement says %d bytes, %s", n, sum, st.FileSize, st.SHA256)
	}
	if !bytes.Contains(file.Bytes(), []byte(d.order.ID)) {
		return "", fmt.Errorf("the settlement file does not list order %s", d.order.ID)
	}
	check, err := d.client.VerifySettlement(ctx, day)
	if err != nil {
		return "", fmt.Errorf("GET /v1/settlements/%s/verify: %w", day, explain(err))
	}
	if !check.OK {
		return "", fmt.Errorf("the gateway's reconciliation of %s drifts: %s", day, strings.Join(check.Drifts, "; "))
	}
	return fmt.Sprintf("settled %s (%s) early: %d payment %s, %d refund %s, fees %s, net %s; file %s, %d bytes, SHA-256 %s… matches and lists %s; verify: ok",
		day, st.TimeZone, st.PaymentsCount, money(st.PaymentsAmount), st.RefundsCount, money(st.RefundsAmount), money(st.Fees), money(st.Net),
		st.FileName, n, sum[:12], d.order.MerchantOrderNo), nil
}

func (d *demo) statement(ctx context.Context) (string, error) {
	const route = "/v1/wallet/statements/{month}"
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := d.call(ctx, "GET", "/openapi.json", "", "", nil, &doc); err != nil {
		return "", fmt.Errorf("reading /openapi.json: %w", err)
	}
	if _, ok := doc.Paths[route]["get"]; !ok {
		return "", fmt.Errorf("this gateway does not serve GET %s (it is not in its /openapi.json): monthly statements are not deployed here yet", route)
	}
	month := time.Now().In(d.loc).Format("2006-01")
	var st struct {
		Month          string `json:"month"`
		TimeZone       string `json:"time_zone"`
		OpeningBalance int64  `json:"opening_balance"`
		ClosingBalance int64  `json:"closing_balance"`
		MoneyIn        struct {
			Amount int64 `json:"amount"`
		} `json:"money_in"`
		MoneyOut struct {
			Amount int64 `json:"amount"`
		} `json:"money_out"`
		Movements int64 `json:"movements"`
	}
	if err := d.call(ctx, "GET", "/v1/wallet/statements/"+month, d.payer.token, "", nil, &st); err != nil {
		return "", fmt.Errorf("reading the %s statement: %w", month, err)
	}
	if st.OpeningBalance+st.MoneyIn.Amount-st.MoneyOut.Amount != st.ClosingBalance {
		return "", fmt.Errorf("statement %s: opening %d + in %d − out %d ≠ closing %d",
			month, st.OpeningBalance, st.MoneyIn.Amount, st.MoneyOut.Amount, st.ClosingBalance)
	}
	var w struct {
		Balance int64 `json:"balance"`
	}
	if err := d.call(ctx, "GET", "/v1/wallet", d.payer.token, "", nil, &w); err != nil {
		return "", fmt.Errorf("reading the wallet: %w", err)
	}
	if st.ClosingBalance != w.Balance {
		return "", fmt.Errorf("statement %s closes at %d, but the wallet holds %d", month, st.ClosingBalance, w.Balance)
	}
	return fmt.Sprintf("statement %s of %s (%s): opening %s + in %s − out %s = closing %s, %d movements, agrees with the balance",
		month, d.payer.phone, st.TimeZone, money(st.OpeningBalance), money(st.MoneyIn.Amount), money(st.MoneyOut.Amount),
		money(st.ClosingBalance), st.Movements), nil
}

// payByCard pays a second order with the bound card instead of the
// balance: the issuer is charged, the wallet's balance does not move.
func (d *demo) payByCard(ctx context.Context) (string, error) {
	o, err := d.client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "DEMO-CARD-" + d.tag, Amount: demoByCard,
		Description: "a bag of beans", TerminalID: "DEMO1", IdempotencyKey: "demo-card-order-" + d.tag})
	if err != nil {
		return "", fmt.Errorf("creating the order through the SDK: %w", explain(err))
	}
	if err := d.setPIN(ctx, &d.payer); err != nil {
		return "", err
	}
	var mv movement
	if err := d.call(ctx, "POST", "/v1/wallet/payments", d.payer.token, "demo-card-pay-"+d.tag,
		map[string]any{"order_id": o.ID, "card_id": d.payer.cardID, "pin": demoPIN, "funding": "card"}, &mv); err != nil {
		return "", fmt.Errorf("paying by card: %w", err)
	}
	balance := int64(demoTopUp - demoAmount + demoRefund - demoTransfer)
	if mv.Funding != "card" || mv.CardAmount != -demoByCard || mv.BalanceAfter != balance {
		return "", fmt.Errorf("the card payment was funded by %q, %d from the card, leaving %d; want card, -%d, %d untouched",
			mv.Funding, mv.CardAmount, mv.BalanceAfter, demoByCard, balance)
	}
	if d.cardOrder, err = d.client.GetOrder(ctx, o.ID); err != nil {
		return "", fmt.Errorf("reading the order back: %w", explain(err))
	}
	if d.cardOrder.Status != sdk.OrderPaid {
		return "", fmt.Errorf("the order is %s after paying by card; want paid", d.cardOrder.Status)
	}
	return fmt.Sprintf("order %s for %s paid with %s through its issuer (funding card): wallet balance still %s",
		o.MerchantOrderNo, money(demoByCard), mv.Card, money(mv.BalanceAfter)), nil
}

// movement is what the wallet API answers for money that moved.
type movement struct {
	ID           string `json:"id"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balance_after"`
	Card         string `json:"card"`
	Counterparty string `json:"counterparty"`
	Funding      string `json:"funding"`
	CardAmount   int64  `json:"card_amount"`
}

// call sends one JSON request to the admin or wallet API (the merchant API
// goes through the SDK). bearer is the operator token or a wallet session;
// a refusal comes back as an *sdk.Error, the gateway's one error model.
func (d *demo) call(ctx context.Context, method, path, bearer, idempotencyKey string, body, out any) error {
	if err := d.api.Do(ctx, method, path, bearer, idempotencyKey, body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, explain(err))
	}
	return nil
}

// webhookListener is the demo merchant's webhook endpoint: it accepts only
// deliveries that sdk.ConstructEvent verifies.
type webhookListener struct {
	url     string
	srv     *http.Server
	arrived chan struct{} // a delivery came; capacity 1

	mu      sync.Mutex
	secret  string
	events  []*sdk.Event
	refused []string
}

func listenForWebhooks() (*webhookListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &webhookListener{url: "http://" + ln.Addr().String() + "/webhook", arrived: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", h.receive)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go h.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at close
	return h, nil
}

func (h *webhookListener) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	h.mu.Lock()
	var ev *sdk.Event
	if err == nil {
		ev, err = sdk.ConstructEvent(body, r.Header.Get(sdk.WebhookSignatureHeader), h.secret, 0)
	}
	if err != nil {
		h.refused = append(h.refused, err.Error())
	} else {
		h.events = append(h.events, ev)
	}
	h.mu.Unlock()
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	if err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *webhookListener) setSecret(s string) {
	h.mu.Lock()
	h.secret = s
	h.mu.Unlock()
}

// waitFor returns the first verified event of type typ for the order,
// waiting at most timeout for it to arrive.
func (h *webhookListener) waitFor(ctx context.Context, typ sdk.EventType, orderID string, timeout time.Duration) (*sdk.Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		for _, e := range h.events {
			if e.Type == typ && e.OrderID == orderID {
				h.mu.Unlock()
				return e, nil
			}
		}
		refused := append([]string(nil), h.refused...)
		h.mu.Unlock()
		select {
		case <-h.arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			if len(refused) > 0 {
				return nil, fmt.Errorf("no verified %s webhook within %s; deliveries refused: %s", typ, timeout, strings.Join(refused, "; "))
			}
			return nil, fmt.Errorf("no %s webhook arrived at %s within %s", typ, h.url, timeout)
		}
	}
}

func (h *webhookListener) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
}

// randomPhone is a mainland mobile number nobody is likely to have
// registered, so that the demo runs again on the same gateway.
func randomPhone() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	return fmt.Sprintf("+8613%09d", n.Int64())
}

// money shows minor units of the demo's currency (CNY, two decimals).
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d CNY", sign, minor/100, minor%100)
}

// demoLargeTopUp is a large amount for a card bound minutes ago: what the
// new card rule (RISK_NEW_CARD_AMOUNT, 1000.00 by default) asks a step-up
// for.
const demoLargeTopUp = 100000

// stepUp tops up a large amount from the payer's new card: the risk checks
// ask for a step-up, the app sends the PIN, the top-up goes through, and
// the wallet's security notices and feed say why.
func (d *demo) stepUp(ctx context.Context) (string, error) {
	key := "demo-large-topup-" + d.tag
	body := map[string]any{"card_id": d.payer.cardID, "amount": demoLargeTopUp}
	var mv movement
	err := d.api.Do(ctx, "POST", "/v1/wallet/topups", d.payer.token, key, body, &mv)
	var e *sdk.Error
	switch {
	case err == nil:
		return fmt.Sprintf("topped up %s from a new card without a step-up: the gateway runs with RISK_RULES off", money(demoLargeTopUp)), nil
	case !errors.As(err, &e) || e.Code != "step_up_required":
		return "", fmt.Errorf("a large top-up from a new card: %w", explain(err))
	}
	asked := e.Message
	body["pin"] = demoPIN
	if err := d.call(ctx, "POST", "/v1/wallet/topups", d.payer.token, key, body, &mv); err != nil {
		return "", fmt.Errorf("the top-up with the PIN: %w", err)
	}
	var notices struct {
		Data []struct {
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		} `json:"data"`
	}
	if err := d.call(ctx, "GET", "/v1/wallet/security-notices", d.payer.token, "", nil, &notices); err != nil {
		return "", err
	}
	if len(notices.Data) == 0 || notices.Data[0].Outcome != "step_up" {
		return "", fmt.Errorf("the security notices hold %+v; want the step-up first", notices.Data)
	}
	var feed struct {
		Data []struct {
			Type  string `json:"type"`
			Title string `json:"title"`
		} `json:"data"`
	}
	if err := d.call(ctx, "GET", "/v1/wallet/notifications?limit=3", d.payer.token, "", nil, &feed); err != nil {
		return "", err
	}
	var titles []string
	for _, n := range feed.Data {
		titles = append(titles, n.Title)
	}
	return fmt.Sprintf("a %s top-up from a new card was asked to step up (%s); with the PIN it went through (balance %s); security notice: %q; feed: %s",
		money(demoLargeTopUp), asked, money(mv.BalanceAfter), notices.Data[0].Reason, strings.Join(titles, " | ")), nil
}
