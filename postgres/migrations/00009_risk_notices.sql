-- A wallet's notification feed, risk alerts, the operator's announcements
-- and the maintenance switch.
--
-- wallet_notifications is the feed of what happened to a wallet's money and
-- access. Money entries (transfer_id set) are written by the ledger batch
-- that commits their transfer, so a feed never shows a movement that did not
-- commit; other entries (a new login, a limit change, a card freeze, an
-- alert) by the wallet. Every entry is written while its wallet's account
-- row is locked, so within one account ids grow in commit order and a
-- reader that has seen id N will never later find a smaller one committed:
-- ids are the feed's resumable cursor (Last-Event-ID).

-- +goose Up
CREATE TABLE wallet_notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES accounts (id),
    kind        text        NOT NULL,
    transfer_id uuid        REFERENCES transfers (id),
    amount      bigint,
    data        jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);
CREATE INDEX wallet_notifications_account ON wallet_notifications (account_id, id);
CREATE UNIQUE INDEX wallet_notifications_transfer ON wallet_notifications (transfer_id, account_id) WHERE transfer_id IS NOT NULL;

-- risk_alerts are what the risk rules found, and the outbox of their
-- delivery to the operator's webhook.
CREATE TABLE risk_alerts (
    id              uuid        PRIMARY KEY,
    wallet_id       uuid        NOT NULL REFERENCES customers (id),
    card_id         uuid,
    kind            text        NOT NULL,
    rule            text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('alert', 'step_up', 'decline')),
    reason          text        NOT NULL,
    amount          bigint      NOT NULL,
    currency        char(3)     NOT NULL,
    transfer_id     uuid,
    created_at      timestamptz NOT NULL,
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    failed_at       timestamptz
);
CREATE INDEX risk_alerts_created ON risk_alerts (created_at DESC, id DESC);
CREATE INDEX risk_alerts_wallet ON risk_alerts (wallet_id, created_at DESC);
CREATE INDEX risk_alerts_due ON risk_alerts (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE announcements (
    id         uuid        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('security_tip', 'maintenance', 'notice')),
    title      text        NOT NULL,
    body       text        NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz,
    created_at timestamptz NOT NULL,
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);
CREATE INDEX announcements_window ON announcements (starts_at, ends_at);

-- One row: whether money-moving requests are refused for maintenance.
CREATE TABLE maintenance (
    id              int         PRIMARY KEY CHECK (id = 1),
    active          boolean     NOT NULL,
    message         text        NOT NULL DEFAULT '',
    expected_end    timestamptz,
    announcement_id uuid        REFERENCES announcements (id),
    updated_at      timestamptz NOT NULL
);
INSERT INTO maintenance (id, active, updated_at) VALUES (1, false, now());

-- +goose Down
DROP TABLE maintenance;
DROP TABLE announcements;
DROP TABLE risk_alerts;
DROP TABLE wallet_notifications;
