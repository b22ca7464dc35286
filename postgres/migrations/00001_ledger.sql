-- The double-entry ledger. Money is bigint minor units; every transfer's
-- postings sum to zero; an account's balance is the sum of its postings.

-- +goose Up
CREATE TABLE accounts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner          text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('wallet', 'merchant', 'fee', 'payout', 'clearing')),
    currency       char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    balance        bigint      NOT NULL DEFAULT 0,
    allow_negative boolean     NOT NULL DEFAULT false,
    closed_at      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- The last line of defence: a non-negative account can never be written below zero.
    CONSTRAINT accounts_no_overdraft CHECK (allow_negative OR balance >= 0),
    CONSTRAINT accounts_owner_kind_currency UNIQUE (owner, kind, currency)
);

CREATE TABLE transfers (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind <> ''),
    currency    char(3)     NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    idem_scope  text        NOT NULL,
    idem_key    text        NOT NULL,
    fingerprint bytea       NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The final guard of idempotency: one key moves money at most once.
    CONSTRAINT transfers_idempotency UNIQUE (idem_scope, idem_key)
);
CREATE INDEX transfers_created_at ON transfers (created_at);

CREATE TABLE postings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id   uuid        NOT NULL REFERENCES transfers (id),
    account_id    bigint      NOT NULL REFERENCES accounts (id),
    amount        bigint      NOT NULL CHECK (amount <> 0),
    balance_after bigint      NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX postings_account ON postings (account_id, id);
CREATE INDEX postings_transfer ON postings (transfer_id);

-- +goose Down
DROP TABLE postings;
DROP TABLE transfers;
DROP TABLE accounts;
