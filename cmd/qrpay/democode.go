package main

import (
	"context"
	"fmt"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// demoCodeCharge is above the default PIN_THRESHOLD (200.00), so that the
// customer confirms it on the phone.
const demoCodeCharge = 25000

// codePay is the customer-presented direction: the wallet shows its
// payment code, the POS scans and charges it through the SDK. A small
// amount is paid at once; one above the PIN threshold waits until the
// customer confirms with the PIN, while the POS waits for the payment.
func (d *demo) codePay(ctx context.Context) (string, error) {
	if err := d.setPIN(ctx, &d.payer); err != nil {
		return "", err
	}
	show := func() (string, int, error) {
		var c struct {
			Code       string `json:"code"`
			BarcodePNG string `json:"barcode_png"`
		}
		err := d.call(ctx, "POST", "/v1/wallet/payment-codes", d.payer.token, "",
			map[string]any{"device_id": "demo-" + d.payer.phone[1:], "funding": "balance", "card_id": d.payer.cardID}, &c)
		return c.Code, len(c.BarcodePNG), err
	}
	code, barcode, err := show()
	if err != nil {
		return "", fmt.Errorf("asking for the wallet's payment code: %w", err)
	}
	small, err := d.client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "DEMO-CODE1-" + d.tag, Amount: demoAmount,
		Description: "a croissant", TerminalID: "DEMO1", Code: code})
	if err != nil {
		return "", fmt.Errorf("charging the code through the SDK: %w", explain(err))
	}
	if small.Status != sdk.ChargePaid {
		return "", fmt.Errorf("a %s charge is %s; want paid (is PIN_THRESHOLD below it?)", money(demoAmount), small.Status)
	}
	// The code pays once: the POS that scans it again is refused.
	if _, err := d.client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "DEMO-CODE2-" + d.tag, Amount: demoAmount, Code: code}); err == nil {
		return "", fmt.Errorf("the same code paid twice")
	}
	// The next code comes with the next 30-second step.
	var next string
	for next == "" || next == code {
		if next != "" {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		if next, _, err = show(); err != nil {
			return "", fmt.Errorf("asking for the next payment code: %w", err)
		}
	}
	large, err := d.client.Charge(ctx, &sdk.ChargeParams{MerchantOrderNo: "DEMO-CODE3-" + d.tag, Amount: demoCodeCharge,
		Description: "headphones", TerminalID: "DEMO1", Code: next})
	if err != nil {
		return "", fmt.Errorf("charging the next code: %w", explain(err))
	}
	if large.Status != sdk.ChargeRequiresConfirmation {
		return "", fmt.Errorf("a %s charge is %s; want requires_confirmation (is PIN_THRESHOLD above it?)", money(demoCodeCharge), large.Status)
	}
	var pending struct {
		Data []struct {
			OrderID  string `json:"order_id"`
			Merchant string `json:"merchant"`
		} `json:"data"`
	}
	if err := d.call(ctx, "GET", "/v1/wallet/payment-codes/charges", d.payer.token, "", nil, &pending); err != nil {
		return "", fmt.Errorf("listing the charges that wait for the PIN: %w", err)
	}
	if len(pending.Data) != 1 || pending.Data[0].OrderID != large.Order.ID {
		return "", fmt.Errorf("the wallet's pending charges are %+v; want order %s", pending.Data, large.Order.ID)
	}
	confirmed := make(chan error, 1)
	go func() {
		confirmed <- d.call(ctx, "POST", "/v1/wallet/payment-codes/charges/"+large.Order.ID+"/confirm", d.payer.token,
			"demo-confirm-"+d.tag, map[string]any{"pin": demoPIN}, nil)
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	paid, err := d.client.WaitForPayment(wctx, &sdk.WaitParams{OrderID: large.Order.ID, FirstInterval: 200 * time.Millisecond})
	if cerr := <-confirmed; cerr != nil {
		return "", fmt.Errorf("confirming with the PIN: %w", cerr)
	}
	if err != nil {
		return "", fmt.Errorf("waiting for the confirmed charge: %w", explain(err))
	}
	if _, err := d.hooks.waitFor(ctx, sdk.EventOrderPaid, paid.ID, d.wait); err != nil {
		return "", err
	}
	return fmt.Sprintf("the wallet showed code %s (and a %d-byte Code 128 barcode); the POS charged %s: paid at once; charged again: refused; "+
		"%s on the next code waited for the customer (%s), who confirmed with the PIN while the POS waited: order %s, webhook order.paid verified",
		code, barcode, money(demoAmount), money(demoCodeCharge), pending.Data[0].Merchant, paid.Status), nil
}
