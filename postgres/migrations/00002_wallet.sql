-- Wallet customers, their sessions and bound cards.

-- +goose Up
CREATE TABLE customers (
    id                 uuid        PRIMARY KEY,
    phone              text        NOT NULL,
    password_hash      text        NOT NULL,
    pin_hash           text,
    account_id         bigint      NOT NULL REFERENCES accounts (id),
    currency           char(3)     NOT NULL,
    status             text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    login_failures     int         NOT NULL DEFAULT 0,
    login_locked_until timestamptz,
    pin_failures       int         NOT NULL DEFAULT 0,
    pin_locked_until   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz
);
-- A closed wallet keeps its history; its phone number may register again.
CREATE UNIQUE INDEX customers_phone_active ON customers (phone) WHERE status = 'active';

CREATE TABLE sessions (
    id          uuid        PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,
    customer_id uuid        NOT NULL REFERENCES customers (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_customer ON sessions (customer_id);

-- A card is kept as a keyed hash of its number (token), never the number.
CREATE TABLE cards (
    id                 uuid        PRIMARY KEY,
    customer_id        uuid        NOT NULL REFERENCES customers (id),
    token              text        NOT NULL,
    brand              text        NOT NULL,
    last4              char(4)     NOT NULL,
    exp_month          int         NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year           int         NOT NULL,
    holder_name        text        NOT NULL,
    issuer_ref         text        NOT NULL,
    status             text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen')),
    limit_per_txn      bigint      NOT NULL CHECK (limit_per_txn > 0),
    limit_daily_amount bigint      NOT NULL CHECK (limit_daily_amount > 0),
    limit_daily_count  bigint      NOT NULL CHECK (limit_daily_count > 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    unbound_at         timestamptz
);
CREATE UNIQUE INDEX cards_customer_token ON cards (customer_id, token) WHERE unbound_at IS NULL;
CREATE INDEX cards_customer ON cards (customer_id, created_at);

-- Card usage per day is rebuilt from the ledger when Redis lost it.
CREATE INDEX transfers_card_day ON transfers ((metadata->>'card_id'), created_at)
    WHERE metadata ? 'card_id';

-- +goose Down
DROP INDEX transfers_card_day;
DROP TABLE cards;
DROP TABLE sessions;
DROP TABLE customers;
