package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// A checkout at a till: create the order, show its QR code, learn that it
// was paid, refund part of it. The examples run against an in-memory
// stand-in for the gateway (fake_gateway_test.go).
func Example() {
	gw := newFakeGateway("qk_7Q2M9X4K1C", "sk_demo")
	defer gw.Close()
	client := sdk.NewClient(gw.URL, "qk_7Q2M9X4K1C", "sk_demo")
	ctx := context.Background()

	order, err := client.CreateOrder(ctx, &sdk.OrderParams{
		MerchantOrderNo: "POS1-000123",
		Amount:          1200, // 12.00 CNY, in fen
		Description:     "2 coffees",
		TerminalID:      "POS1",
		IdempotencyKey:  "POS1-000123",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(order.MerchantOrderNo, order.Status, order.Amount, order.Currency, "expires", order.ExpiresAt.Format(time.Kitchen))

	gw.pay(order.ID) // the customer scans order.QRPayload and pays

	if order, err = client.GetOrder(ctx, order.ID); err != nil {
		log.Fatal(err)
	}
	fmt.Println(order.Status, "fee", order.Fee)

	refund, err := client.CreateRefund(ctx, order.ID, &sdk.RefundParams{RefundNo: "R-000123-1", Amount: 500, Reason: "one coffee spilt"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refunded", refund.Amount, refund.Status)
	// Output:
	// POS1-000123 created 1200 CNY expires 10:15AM
	// paid fee 7
	// refunded 500 succeeded
}

// A terminal that crashed after sending an order does not know whether the
// gateway created it. Sending it again with the same IdempotencyKey is safe:
// the gateway answers with the order it created the first time.
func ExampleClient_CreateOrder_retryAfterRestart() {
	gw := newFakeGateway("qk_demo", "sk_demo")
	defer gw.Close()
	client := sdk.NewClient(gw.URL, "qk_demo", "sk_demo")
	ctx := context.Background()

	params := &sdk.OrderParams{MerchantOrderNo: "POS1-000124", Amount: 800, IdempotencyKey: "POS1-000124"}
	first, _ := client.CreateOrder(ctx, params)
	// … the terminal restarts and sends the same order again …
	again, err := client.CreateOrder(ctx, params)
	fmt.Println(again.ID == first.ID, err)

	// Without the same key, the second order is a conflict.
	params.IdempotencyKey = ""
	_, err = client.CreateOrder(ctx, params)
	fmt.Println(errors.Is(err, sdk.ErrConflict))
	// Output:
	// true <nil>
	// true
}

// The customer walks away: close the order so that it can no longer be
// paid. If the close is refused the order is no longer open — look at it,
// because a payment that got there first wins.
func ExampleClient_CloseOrder() {
	gw := newFakeGateway("qk_demo", "sk_demo")
	defer gw.Close()
	client := sdk.NewClient(gw.URL, "qk_demo", "sk_demo")
	ctx := context.Background()

	order, _ := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "POS1-000125", Amount: 1500})
	gw.pay(order.ID) // the customer was quicker than the cashier

	_, err := client.CloseOrder(ctx, order.ID)
	if errors.Is(err, sdk.ErrConflict) {
		if order, err = client.GetOrder(ctx, order.ID); err == nil && order.Status == sdk.OrderPaid {
			fmt.Println("paid after all: hand over the goods")
		}
	} else if err == nil {
		fmt.Println("closed")
	}
	// Output:
	// paid after all: hand over the goods
}

// ListOrders is an iterator: it fetches pages as the loop needs them.
func ExampleClient_ListOrders() {
	gw := newFakeGateway("qk_demo", "sk_demo")
	defer gw.Close()
	client := sdk.NewClient(gw.URL, "qk_demo", "sk_demo")
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: fmt.Sprintf("POS1-%06d", i), Amount: int64(i * 100)})
	}

	var total int64
	for order, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{Limit: 2}) { // 3 pages of at most 2
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(order.MerchantOrderNo, order.Amount)
		total += order.Amount
	}
	fmt.Println("total", total)
	// Output:
	// POS1-000005 500
	// POS1-000004 400
	// POS1-000003 300
	// POS1-000002 200
	// POS1-000001 100
	// total 1500
}

// The gateway's refusals are *sdk.Error values: errors.Is tells what
// happened, errors.As gives the request id to quote to support.
func ExampleError() {
	gw := newFakeGateway("qk_demo", "sk_demo")
	defer gw.Close()
	client := sdk.NewClient(gw.URL, "qk_demo", "sk_demo")

	_, err := client.GetOrderByNumber(context.Background(), "POS9-999999")
	if errors.Is(err, sdk.ErrNotFound) {
		fmt.Println("no such order")
	}
	var e *sdk.Error
	if errors.As(err, &e) {
		fmt.Println(e.HTTPStatus, e.Code, e.RequestID)
	}
	fmt.Println(err)
	// Output:
	// no such order
	// 404 not_found REQ404
	// qrpay: 404 not_found: order not found (request REQ404)
}

// A webhook receiver: verify the signature over the raw body before
// trusting anything in it, then act on each order's events in sequence.
func ExampleConstructEvent() {
	const webhookSecret = "whsec_demo"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		event, err := sdk.ConstructEvent(body, r.Header.Get(sdk.WebhookSignatureHeader), webhookSecret, 0)
		if err != nil {
			fmt.Println("refused:", errors.Is(err, sdk.ErrNoValidSignature))
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		if event.Type == sdk.EventOrderPaid {
			fmt.Println("paid:", event.Data.Order.MerchantOrderNo, event.Data.Order.Amount, "sequence", event.Sequence)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	// What the gateway sends.
	body := []byte(`{"id":"evt_1","type":"order.paid","created_at":"2026-11-26T10:01:00Z","order_id":"ord_1","sequence":2,` +
		`"data":{"order":{"id":"ord_1","merchant_order_no":"POS1-000123","amount":1200,"status":"paid"},"refund":null}}`)
	deliver := func(body []byte, signature string) int {
		req := httptest.NewRequest(http.MethodPost, "/qrpay/webhook", bytes.NewReader(body))
		req.Header.Set(sdk.WebhookSignatureHeader, signature)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	signature := sdk.SignWebhook(webhookSecret, time.Now(), body)
	fmt.Println(deliver(body, signature))
	forged := bytes.Replace(body, []byte("1200"), []byte("120000"), 1)
	fmt.Println(deliver(forged, signature))
	// Output:
	// paid: POS1-000123 1200 sequence 2
	// 204
	// refused: true
	// 400
}

// The finance team downloads a day's settlement file. Write it to a
// temporary file and keep it only if the checksum held.
func ExampleClient_DownloadSettlement() {
	gw := newFakeGateway("qk_finance", "sk_demo")
	defer gw.Close()
	gw.settlements["2026-11-25"] = []byte("type,order_id,amount,fee\npayment,ord_1,1200,7\nsummary,1,1200,7\n")
	client := sdk.NewClient(gw.URL, "qk_finance", "sk_demo")

	tmp, err := os.CreateTemp("", "settlement-*.csv")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	n, sum, err := client.DownloadSettlement(context.Background(), "2026-11-25", tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, sdk.ErrChecksumMismatch) {
		log.Fatal("the file is not the one the gateway vouched for")
	}
	if err != nil {
		log.Fatal(err)
	}
	// os.Rename(tmp.Name(), "settlement-2026-11-25.csv") would keep it.
	fmt.Println(n, "bytes, sha256", sum[:12]+"…")
	// Output:
	// 63 bytes, sha256 bd6b55350ef2…
}

// Options for a terminal: a shorter timeout per attempt, more patience for
// retries, and a User-Agent naming the terminal's software.
func ExampleNewClient() {
	client := sdk.NewClient("https://pay.example.com", os.Getenv("QRPAY_KEY_ID"), os.Getenv("QRPAY_SECRET"),
		sdk.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
		sdk.WithMaxRetries(4),
		sdk.WithRetryDelay(200*time.Millisecond, 5*time.Second),
		sdk.WithUserAgent("ACME-POS/4.2 qrpay-go/"+sdk.Version),
	)
	_ = client
}

// The merchant's static QR code is printed once and stuck on the counter.
func ExampleClient_GetMerchant() {
	gw := newFakeGateway("qk_demo", "sk_demo")
	defer gw.Close()
	client := sdk.NewClient(gw.URL, "qk_demo", "sk_demo")

	m, err := client.GetMerchant(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name, m.Currency, strings.HasPrefix(m.StaticQRPayload, "000201010211"))
	// Output:
	// Blue Bottle Coffee CNY true
}
