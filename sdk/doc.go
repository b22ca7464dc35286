// Package sdk is the Go client of the qrpay merchant API: a point-of-sale
// terminal creates orders and shows their QR codes, closes and refunds them,
// and verifies the webhooks that say they were paid; a finance team lists and
// downloads settlement files. It uses only the standard library.
//
// A checkout on a terminal:
//
//	client := sdk.NewClient("https://pay.example.com", keyID, secret)
//
//	order, err := client.CreateOrder(ctx, &sdk.OrderParams{
//		MerchantOrderNo: "POS1-000123",
//		Amount:          1200, // 12.00 CNY, in fen
//		Description:     "2 coffees",
//		TerminalID:      "POS1",
//		IdempotencyKey:  "POS1-000123", // a restarted terminal resends safely
//	})
//	if err != nil {
//		return err
//	}
//	screen.ShowQR(order.QRPayload) // draw the string; no PNG round trip
//
//	// The webhook says when it is paid; polling is the fallback.
//	for order.Status == sdk.OrderCreated {
//		time.Sleep(2 * time.Second)
//		if order, err = client.GetOrder(ctx, order.ID); err != nil {
//			return err
//		}
//	}
//	if order.Status != sdk.OrderPaid {
//		return fmt.Errorf("order %s ended %s", order.MerchantOrderNo, order.Status)
//	}
//
// And its webhook receiver:
//
//	body, _ := io.ReadAll(r.Body)
//	ev, err := sdk.ConstructEvent(body, r.Header.Get(sdk.WebhookSignatureHeader), webhookSecret, 0)
//	if err != nil {
//		http.Error(w, "bad signature", http.StatusBadRequest)
//		return
//	}
//
// # Requests
//
// Every request is signed with the API key (docs/signing.md): a fresh
// timestamp and random nonce per attempt, over the exact path and query
// sent. Every POST carries an Idempotency-Key — the params' IdempotencyKey,
// or a random one — and every attempt of one call sends the same key and
// body, so the gateway does the work at most once.
//
// Failures that may pass are retried with exponential backoff and full
// jitter (2 retries by default, see WithMaxRetries): network errors, 5xx,
// 429 and 409 idempotency_in_progress, waiting as long as a Retry-After
// says (at most 30 s). Other refusals return at once. The context bounds
// everything: once it is done no attempt starts and no wait continues.
//
// # Errors
//
// The gateway's refusals are *Error values with a stable Code. Test them
// with errors.Is against the sentinels (ErrNotFound, ErrOrderAlreadyPaid, …),
// which match by code, or errors.As to read the RequestID for support.
// Webhook and settlement checks have their own sentinels (ErrNoValidSignature,
// ErrChecksumMismatch, …).
package sdk
