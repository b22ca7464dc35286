-- Wallet bills (wallet/bills.go). The history pages one account's
-- postings newest first by id; statements, date filters and the spending
-- analysis read one account's postings over a time range, and a statement's
-- opening and closing balances need "the latest posting before an instant".
-- Both indexes carry every postings column those reads use, so they are
-- index-only scans; transfers (kind, metadata) are joined by primary key.
-- A table keeps statements' daily totals (below).
--
-- Each replaces a narrower index with the same key, which every query that
-- used the narrower one still finds: a posting costs no more index entries
-- than before. On a large live table, build the new ones by hand first with
-- CREATE INDEX CONCURRENTLY under the same names; IF NOT EXISTS keeps them.

-- +goose Up
-- WHERE account_id = $1 [AND id < cursor] ORDER BY id DESC LIMIT n.
CREATE INDEX IF NOT EXISTS postings_account_history ON postings (account_id, id)
    INCLUDE (amount, balance_after, created_at, transfer_id);
-- WHERE account_id = $1 AND created_at >= $2 AND created_at < $3, and
-- ORDER BY created_at DESC, id DESC LIMIT 1 below an instant.
CREATE INDEX IF NOT EXISTS postings_account_time ON postings (account_id, created_at, id)
    INCLUDE (amount, balance_after, transfer_id);
-- (account_id, id), from 00001.
DROP INDEX IF EXISTS postings_account;
-- (account_id, created_at, id), from 00004 (settlement).
DROP INDEX IF EXISTS postings_account_created;

-- A JSON statement sums a month by movement type, and the type lives on the
-- transfer: joining a month of one busy wallet's postings to transfers costs
-- ten times scanning them. So the totals of a wallet's final days (ended more
-- than an hour ago: no posting can join them any more) are computed once, on
-- the first statement that needs them, and kept here; a row with type ''
-- marks a day as kept, movements or none. The rows are derived data: deleting
-- any of them only makes the next statement compute them again.
CREATE TABLE wallet_statement_days (
    account_id bigint  NOT NULL REFERENCES accounts (id),
    time_zone  text    NOT NULL,
    day        date    NOT NULL,
    type       text    NOT NULL,
    credit     boolean NOT NULL,
    movements  bigint  NOT NULL,
    amount     bigint  NOT NULL, -- signed sum of the postings
    PRIMARY KEY (account_id, time_zone, day, type, credit)
);

-- +goose Down
DROP TABLE wallet_statement_days;
CREATE INDEX IF NOT EXISTS postings_account_created ON postings (account_id, created_at, id);
CREATE INDEX IF NOT EXISTS postings_account ON postings (account_id, id);
DROP INDEX IF EXISTS postings_account_time;
DROP INDEX IF EXISTS postings_account_history;
