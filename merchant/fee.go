package merchant

import "math/bits"

// Fee is the gateway's fee on a payment: amount × bps / 10000, rounded half
// up to the minor unit (0.5 fen and above rounds up). It is computed in
// 128 bits, so no amount can overflow it.
func Fee(amount int64, bps int) int64 {
	return mulDivRound(amount, int64(bps), 10000)
}

// RefundFee is the fee returned with a refund. The fee refunded so far is
// always round-half-up(fee × refunded / amount), and each refund returns the
// difference; so partial refunds never return more than the fee in all, and
// refunding everything returns exactly the whole fee.
func RefundFee(amount, fee, refundedBefore, refund int64) int64 {
	return mulDivRound(fee, refundedBefore+refund, amount) - mulDivRound(fee, refundedBefore, amount)
}

// mulDivRound returns round-half-up(a × b / c) for non-negative a, b and
// positive c, in 128-bit arithmetic.
func mulDivRound(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	lo, carry := bits.Add64(lo, uint64(c)/2, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}
