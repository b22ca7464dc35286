package payment

import (
	"context"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

// Receipt is the receipt of one of the wallet's payments, by the id its
// history shows (the payment's ledger transfer). Any other id, including
// another wallet's payment, is not found.
func (s *Service) Receipt(ctx context.Context, p wallet.Principal, paymentID string) (merchant.Receipt, error) {
	mv, err := s.wallet.Movement(ctx, p, paymentID)
	if err != nil {
		return merchant.Receipt{}, err
	}
	orderID, perr := uuid.Parse(mv.OrderID)
	if mv.Type != wallet.TypePayment || perr != nil {
		return merchant.Receipt{}, errs.E(errs.NotFound, "payment not found")
	}
	return s.merchant.PaymentReceipt(ctx, orderID, uuid.MustParse(mv.ID))
}
