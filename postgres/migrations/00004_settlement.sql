-- Nightly settlement: one row per merchant and business day, and its file.

-- +goose Up
CREATE INDEX IF NOT EXISTS postings_account_created ON postings (account_id, created_at, id);
CREATE INDEX orders_payment ON orders (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX refunds_transfer ON refunds (transfer_id);

CREATE TABLE settlements (
    merchant_id     uuid        NOT NULL REFERENCES merchants (id),
    business_date   date        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'settled')),
    currency        char(3)     NOT NULL,
    time_zone       text        NOT NULL,
    -- The period the settlement covers: normally the business day; it
    -- starts where the merchant's previous settlement ended, and ends early
    -- when the day was closed early.
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    payments_count  bigint      NOT NULL,
    payments_amount bigint      NOT NULL,
    refunds_count   bigint      NOT NULL,
    refunds_amount  bigint      NOT NULL,
    fees            bigint      NOT NULL,
    net             bigint      NOT NULL,
    transfer_id     uuid,
    file_name       text        NOT NULL,
    file_size       bigint      NOT NULL,
    sha256          text        NOT NULL,
    generated_at    timestamptz NOT NULL,
    settled_at      timestamptz,
    PRIMARY KEY (merchant_id, business_date)
);

-- Settlement files kept in PostgreSQL, in chunks, so that a large file is
-- written and read as a stream.
CREATE TABLE settlement_file_chunks (
    merchant_id   uuid   NOT NULL,
    business_date date   NOT NULL,
    seq           int    NOT NULL,
    data          bytea  NOT NULL,
    PRIMARY KEY (merchant_id, business_date, seq)
);

-- +goose Down
DROP TABLE settlement_file_chunks;
DROP TABLE settlements;
DROP INDEX refunds_transfer;
DROP INDEX orders_payment;
DROP INDEX postings_account_created;
