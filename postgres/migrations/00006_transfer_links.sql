-- A transfer's links to what it moved money for are typed columns written
-- with it: the wallet that made it, the card whose limits it used, the
-- merchant and the order, and the merchant's category code at the time.
-- Readers select by these (the card-limit rebuild, bills, settlement);
-- metadata is for display only. Existing rows are filled from the metadata
-- keys they were written with.

-- +goose Up
ALTER TABLE transfers
    ADD COLUMN wallet_id   uuid,
    ADD COLUMN card_id     uuid,
    ADD COLUMN merchant_id uuid,
    ADD COLUMN order_id    uuid,
    ADD COLUMN mcc         text;

UPDATE transfers SET
    card_id     = (metadata->>'card_id')::uuid,
    merchant_id = (metadata->>'merchant_id')::uuid,
    order_id    = (metadata->>'order_id')::uuid,
    wallet_id   = coalesce(metadata->>'wallet_id', metadata->>'from_wallet')::uuid,
    mcc         = metadata->>'mcc'
WHERE metadata ?| ARRAY['card_id', 'merchant_id', 'order_id', 'wallet_id', 'from_wallet', 'mcc'];

-- A top-up's wallet is the customer whose account it credited.
UPDATE transfers t SET wallet_id = c.id
FROM postings p JOIN customers c ON c.account_id = p.account_id
WHERE p.transfer_id = t.id AND t.kind = 'topup' AND t.wallet_id IS NULL;

-- A refund's merchant, category and wallet are its payment's, where the
-- refund's own metadata lacked them.
UPDATE transfers r SET
    merchant_id = coalesce(r.merchant_id, p.merchant_id),
    mcc         = coalesce(r.mcc, p.mcc),
    wallet_id   = coalesce(r.wallet_id, o.wallet_id)
FROM orders o JOIN transfers p ON p.id = o.payment_id
WHERE r.kind = 'refund' AND r.order_id = o.id
  AND (r.merchant_id IS NULL OR r.mcc IS NULL OR r.wallet_id IS NULL);

-- Card usage per day is rebuilt from the ledger when Redis lost it.
DROP INDEX IF EXISTS transfers_card_day;
CREATE INDEX transfers_card ON transfers (card_id, created_at) WHERE card_id IS NOT NULL;
CREATE INDEX transfers_order ON transfers (order_id) WHERE order_id IS NOT NULL;

-- +goose Down
DROP INDEX transfers_order;
DROP INDEX transfers_card;
CREATE INDEX transfers_card_day ON transfers ((metadata->>'card_id'), created_at) WHERE metadata ? 'card_id';
ALTER TABLE transfers
    DROP COLUMN mcc,
    DROP COLUMN order_id,
    DROP COLUMN merchant_id,
    DROP COLUMN card_id,
    DROP COLUMN wallet_id;
