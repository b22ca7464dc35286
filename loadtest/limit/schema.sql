-- The PostgreSQL limit a payment gateway is measured against: one payment
-- per commit, made by one round trip to a function that writes what a
-- payment writes in qrpay's ledger (a transfer under a unique idempotency
-- key, two postings with their balances, two balance updates, the wallet's
-- checked not to go negative), with the same indexes. Run by limit.sh.
DROP TABLE IF EXISTS postings, transfers, accounts CASCADE;

CREATE TABLE accounts (
    id      bigint PRIMARY KEY,
    balance bigint NOT NULL,
    allow_negative boolean NOT NULL,
    CONSTRAINT no_overdraft CHECK (allow_negative OR balance >= 0)
);
CREATE TABLE transfers (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind       text NOT NULL,
    amount     bigint NOT NULL,
    idem_scope text NOT NULL,
    idem_key   text NOT NULL,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (idem_scope, idem_key)
);
CREATE INDEX ON transfers (created_at);
CREATE TABLE postings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id   uuid NOT NULL REFERENCES transfers (id),
    account_id    bigint NOT NULL REFERENCES accounts (id),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX ON postings (account_id, id) INCLUDE (amount, balance_after, created_at, transfer_id);
CREATE INDEX ON postings (account_id, created_at, id) INCLUDE (amount, balance_after, transfer_id);
CREATE INDEX ON postings (transfer_id);

-- Wallets 1..10000 with plenty of money; merchants 100001..101000.
INSERT INTO accounts SELECT g, 1000000000000, false FROM generate_series(1, 10000) g;
INSERT INTO accounts SELECT 100000 + g, 0, true FROM generate_series(1, 1000) g;

CREATE OR REPLACE FUNCTION pay(wallet bigint, merchant bigint, amount bigint) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    t  uuid;
    at timestamptz := clock_timestamp();
    wb bigint;
    mb bigint;
BEGIN
    INSERT INTO transfers (kind, amount, idem_scope, idem_key, created_at)
        VALUES ('payment', amount, 'wallet:' || wallet, gen_random_uuid()::text, at) RETURNING id INTO t;
    UPDATE accounts SET balance = balance - amount WHERE id = wallet RETURNING balance INTO wb;
    UPDATE accounts SET balance = balance + amount WHERE id = merchant RETURNING balance INTO mb;
    INSERT INTO postings (transfer_id, account_id, amount, balance_after, created_at)
        VALUES (t, wallet, -amount, wb, at), (t, merchant, amount, mb, at);
    RETURN t;
END $$;
