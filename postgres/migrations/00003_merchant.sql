-- Merchants, their API keys, orders, refunds and the webhook outbox.

-- +goose Up
CREATE TABLE merchants (
    id                 uuid        PRIMARY KEY,
    code               text        NOT NULL UNIQUE,
    name               text        NOT NULL,
    city               text        NOT NULL,
    mcc                char(4)     NOT NULL,
    country            char(2)     NOT NULL,
    currency           char(3)     NOT NULL,
    fee_bps            int         NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    webhook_url        text        NOT NULL DEFAULT '',
    webhook_secret_gen int         NOT NULL DEFAULT 1,
    status             text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    account_id         bigint      NOT NULL REFERENCES accounts (id),
    payout_account_id  bigint      NOT NULL REFERENCES accounts (id),
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- An API key's secret is derived from the server's key and the key id, so
-- no secret is stored.
CREATE TABLE api_keys (
    id          text        PRIMARY KEY,
    merchant_id uuid        NOT NULL REFERENCES merchants (id),
    scopes      text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

CREATE TABLE orders (
    id                uuid        PRIMARY KEY,
    merchant_id       uuid        NOT NULL REFERENCES merchants (id),
    merchant_order_no text        NOT NULL,
    ref               text        NOT NULL UNIQUE,
    amount            bigint      NOT NULL CHECK (amount > 0),
    currency          char(3)     NOT NULL,
    description       text        NOT NULL DEFAULT '',
    terminal_id       text        NOT NULL DEFAULT '',
    static            boolean     NOT NULL DEFAULT false,
    status            text        NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'paid', 'partially_refunded', 'refunded', 'closed', 'expired')),
    fee               bigint      NOT NULL DEFAULT 0,
    refunded_amount   bigint      NOT NULL DEFAULT 0,
    fee_refunded      bigint      NOT NULL DEFAULT 0,
    wallet_id         uuid,
    wallet_account_id bigint,
    card_masked       text        NOT NULL DEFAULT '',
    payment_id        uuid,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    paid_at           timestamptz,
    closed_at         timestamptz,
    events            int         NOT NULL DEFAULT 0,
    CONSTRAINT orders_merchant_order_no UNIQUE (merchant_id, merchant_order_no),
    CONSTRAINT orders_refunds_within_payment CHECK (refunded_amount BETWEEN 0 AND amount)
);
CREATE INDEX orders_merchant_id ON orders (merchant_id, id DESC);
CREATE INDEX orders_expiring ON orders (expires_at) WHERE status = 'created';

CREATE TABLE refunds (
    id           uuid        PRIMARY KEY,
    order_id     uuid        NOT NULL REFERENCES orders (id),
    merchant_id  uuid        NOT NULL REFERENCES merchants (id),
    refund_no    text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    fee_refunded bigint      NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    transfer_id  uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_order_refund_no UNIQUE (order_id, refund_no)
);

-- Events are written in the transaction that changed the order and
-- delivered from here, so a merchant is told of every change exactly once
-- per attempt, however slow its endpoint.
CREATE TABLE webhook_events (
    id              uuid        PRIMARY KEY,
    merchant_id     uuid        NOT NULL REFERENCES merchants (id),
    order_id        uuid        NOT NULL REFERENCES orders (id),
    type            text        NOT NULL,
    sequence        int         NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    CONSTRAINT webhook_events_order_sequence UNIQUE (order_id, sequence)
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_events_merchant ON webhook_events (merchant_id, id DESC);

CREATE TABLE webhook_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL REFERENCES webhook_events (id),
    attempt     int         NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status_code int,
    error       text        NOT NULL DEFAULT '',
    duration_ms int         NOT NULL
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_events;
DROP TABLE refunds;
DROP TABLE orders;
DROP TABLE api_keys;
DROP TABLE merchants;
