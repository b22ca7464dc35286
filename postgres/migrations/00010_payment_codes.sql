-- Customer-presented payment codes (docs/payment-codes.md).
--
-- payment_code_keys are the seeds a wallet's device derives its rotating
-- codes from: one per device and funding source, numbered by idx, which
-- every code carries so that the gateway finds the seed without a search.
-- The seed is stored sealed (AES-256-GCM under a key derived from the
-- server's pepper): the gateway needs the seed itself to check a code, so
-- a hash would not do, and a stolen database alone yields no seed.
--
-- payment_code_steps holds, per device, the last time step a code of that
-- device was charged at: a charge claims its step by raising it, so a used
-- code, and any code of an earlier step, is refused. payment_code_charges
-- is one row per charge (the order it created) and its unique key on
-- (customer, device, step) is the final guard that a code pays once.

-- +goose Up
CREATE TABLE payment_code_keys (
    idx         bigint      GENERATED ALWAYS AS IDENTITY (MAXVALUE 9999999) PRIMARY KEY,
    customer_id uuid        NOT NULL REFERENCES customers (id),
    device_id   text        NOT NULL,
    funding     text        NOT NULL CHECK (funding IN ('balance', 'card', 'balance_then_card')),
    card_id     uuid        NOT NULL REFERENCES cards (id),
    seed_sealed bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
-- One live key per device, funding source and card.
CREATE UNIQUE INDEX payment_code_keys_live ON payment_code_keys (customer_id, device_id, funding, card_id)
    WHERE revoked_at IS NULL;

CREATE TABLE payment_code_steps (
    customer_id uuid   NOT NULL REFERENCES customers (id),
    device_id   text   NOT NULL,
    last_step   bigint NOT NULL,
    PRIMARY KEY (customer_id, device_id)
);

CREATE TABLE payment_code_charges (
    order_id     uuid        PRIMARY KEY REFERENCES orders (id),
    merchant_id  uuid        NOT NULL REFERENCES merchants (id),
    customer_id  uuid        NOT NULL REFERENCES customers (id),
    device_id    text        NOT NULL,
    key_idx      bigint      NOT NULL REFERENCES payment_code_keys (idx),
    step         bigint      NOT NULL,
    code_hash    bytea       NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'paid', 'declined')),
    decline_code text        NOT NULL DEFAULT '',
    confirm_by   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT payment_code_charges_once UNIQUE (customer_id, device_id, step)
);
CREATE INDEX payment_code_charges_pending ON payment_code_charges (customer_id, confirm_by) WHERE status = 'pending';

-- +goose Down
DROP TABLE payment_code_charges;
DROP TABLE payment_code_steps;
DROP TABLE payment_code_keys;
