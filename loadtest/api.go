package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/qrpay/qrpay/sdk/walletapi"
)

// api sets up merchants and wallets through the operator and wallet APIs,
// which the merchant SDK does not cover.
type api struct {
	*walletapi.Client
	operator string
}

var seq atomic.Int64

type merchantKey struct{ id, keyID, secret string }

func (a *api) newMerchant(ctx context.Context, name string) (merchantKey, error) {
	m, err := a.CreateMerchant(ctx, a.operator, walletapi.MerchantParams{Name: name, City: "Shanghai", MCC: "5814",
		Country: "CN", Currency: "CNY", FeeBPS: 60})
	if err != nil {
		return merchantKey{}, err
	}
	k, err := a.IssueKey(ctx, a.operator, m.ID, "pos", "finance")
	if err != nil {
		return merchantKey{}, err
	}
	return merchantKey{id: m.ID, keyID: k.ID, secret: k.Secret}, nil
}

type wallet struct{ token, card string }

const loadPIN = "135790"

// newWallet registers a wallet, binds a card with the highest daily count
// allowed, sets the PIN and tops it up with funds.
func (a *api) newWallet(ctx context.Context, funds int64) (*wallet, error) {
	phone := fmt.Sprintf("+8619%09d", time.Now().UnixNano()%1e9+seq.Add(1))
	const password = "load test password"
	if err := a.Register(ctx, phone, password); err != nil {
		return nil, err
	}
	s, err := a.Login(ctx, phone, password)
	if err != nil {
		return nil, err
	}
	w := &wallet{token: s.Token}
	if w.card, err = a.BindCard(ctx, w.token, walletapi.CardParams{Number: "4111111111111111", ExpMonth: 12,
		ExpYear: 2099, HolderName: "Load Test"}); err != nil {
		return nil, err
	}
	if err := a.SetCardLimits(ctx, w.token, w.card, map[string]int64{"daily_count": 200}); err != nil {
		return nil, err
	}
	if err := a.SetPIN(ctx, w.token, loadPIN); err != nil {
		return nil, err
	}
	for funds > 0 {
		part := min(funds, 500000) // the default per-transaction limit
		if _, err := a.TopUp(ctx, w.token, fmt.Sprint("fund-", seq.Add(1)), w.card, part); err != nil {
			return nil, err
		}
		funds -= part
	}
	return w, nil
}

// pay pays a payload; amount is only for a static QR.
func (a *api) pay(ctx context.Context, w *wallet, payload string, amount int64, key string) error {
	_, err := a.Pay(ctx, w.token, key, walletapi.PayParams{QRPayload: payload, CardID: w.card, PIN: loadPIN, Amount: amount})
	return err
}
