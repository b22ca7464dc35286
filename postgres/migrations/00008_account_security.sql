-- Account security: a wallet can be frozen (by its owner, who unfreezes it
-- with the PIN and a one-time code, or by the operator, who alone unfreezes
-- it then); it has transfer limits of its own (NULL: the configured
-- default); and it remembers the devices it has signed in from, each with
-- the public key it may approve payments with.

-- +goose Up
ALTER TABLE customers
    ADD COLUMN frozen_at                   timestamptz,
    ADD COLUMN frozen_by                   text CHECK (frozen_by IN ('owner', 'operator')),
    ADD COLUMN transfer_limit_per_txn      bigint CHECK (transfer_limit_per_txn > 0),
    ADD COLUMN transfer_limit_daily_amount bigint CHECK (transfer_limit_daily_amount > 0);

-- A device the wallet has seen: signing in from it needs no code. Revoking
-- it forgets that and its key at once; seeing it again (after a code)
-- brings it back without a key.
CREATE TABLE devices (
    customer_id       uuid        NOT NULL REFERENCES customers (id),
    device_id         text        NOT NULL,
    public_key        bytea,
    key_registered_at timestamptz,
    name              text        NOT NULL DEFAULT '',
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    revoked_at        timestamptz,
    PRIMARY KEY (customer_id, device_id)
);

-- Transfer limits are rebuilt from the ledger by the sending wallet.
CREATE INDEX transfers_wallet_day ON transfers (wallet_id, created_at) WHERE kind = 'transfer';

-- +goose Down
DROP INDEX transfers_wallet_day;
DROP TABLE devices;
ALTER TABLE customers
    DROP COLUMN transfer_limit_daily_amount,
    DROP COLUMN transfer_limit_per_txn,
    DROP COLUMN frozen_by,
    DROP COLUMN frozen_at;
