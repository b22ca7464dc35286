-- Where a payment's money came from, and where a refund's went back to: the
-- wallet's balance, a bound card charged through its issuer, or the balance
-- first and the card for the rest. It is a typed column of the transfer
-- (like its links, 00006), written with it by the ledger batch; bills,
-- settlement and refunds read it. A payment or refund without it was made
-- before cards could fund payments, from and to the balance. A refund row
-- keeps the part of it that went back to the card.

-- +goose Up
ALTER TABLE transfers
    ADD COLUMN funding text CHECK (funding IN ('balance', 'card', 'balance_then_card'));

ALTER TABLE refunds
    ADD COLUMN funding     text,
    ADD COLUMN card_amount bigint NOT NULL DEFAULT 0 CHECK (card_amount >= 0);

-- A wallet's bills show its card-funded payments and refunds, which post
-- nothing (or, split, only the balance's part) on the wallet's account: they
-- find them by wallet.
CREATE INDEX transfers_wallet_card_funded ON transfers (wallet_id) WHERE funding IN ('card', 'balance_then_card');

-- A settlement file names its layout; version 2 adds each row's funding.
-- A day settled before keeps the layout it was written with, so that
-- regenerating it from the ledger (verify) gives the same bytes.
ALTER TABLE settlements
    ADD COLUMN format_version text NOT NULL DEFAULT 'qrpay-settlement/1';

-- +goose Down
ALTER TABLE settlements DROP COLUMN format_version;
DROP INDEX transfers_wallet_card_funded;
ALTER TABLE refunds DROP COLUMN card_amount, DROP COLUMN funding;
ALTER TABLE transfers DROP COLUMN funding;
