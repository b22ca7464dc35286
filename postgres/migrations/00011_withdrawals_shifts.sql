-- Withdrawals, and what a POS reads at the end of a shift.
--
-- A wallet's money on its way to a card is held in a transit
-- account (one per currency, never negative) from the moment it leaves the
-- wallet until the issuer has credited the card (then it moves on to the
-- issuer's clearing account) or refused (then it goes back to the wallet).

-- +goose Up
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
    CHECK (kind IN ('wallet', 'merchant', 'fee', 'payout', 'clearing', 'transit'));

-- A wallet with a withdrawal still in transit cannot be closed.
CREATE INDEX transfers_wallet_withdrawals ON transfers (wallet_id, created_at) WHERE kind LIKE 'withdrawal%';

-- A terminal's orders by creation time: listing by terminal and period, and
-- whether a terminal has any. (A shift's summary reads the merchant's
-- postings by time, through postings_account_time, as settlement does.)
CREATE INDEX orders_merchant_terminal ON orders (merchant_id, terminal_id, created_at);

-- +goose Down
DROP INDEX orders_merchant_terminal;
DROP INDEX transfers_wallet_withdrawals;
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
    CHECK (kind IN ('wallet', 'merchant', 'fee', 'payout', 'clearing'));
