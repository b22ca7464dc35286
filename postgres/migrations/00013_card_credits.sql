-- The issuer's answer to each push of money to a card that a refund of a
-- card-funded payment owes (its card part, posted to the issuer's clearing
-- account): credited, or declined. A refund with a card part and no row
-- here is still to be pushed: the request that made it was refused for the
-- moment, lost the answer or died, and the resolver asks the issuer again
-- under the refund's reference (docs/cards.md).

-- +goose Up
CREATE TABLE card_credits (
    transfer_id uuid PRIMARY KEY REFERENCES transfers (id),
    outcome     text        NOT NULL CHECK (outcome IN ('credited', 'declined')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The resolver's scan: recent refunds that gave money back to a card.
CREATE INDEX transfers_card_refunds ON transfers (created_at) WHERE kind = 'refund' AND card_id IS NOT NULL;

-- +goose Down
DROP INDEX transfers_card_refunds;
DROP TABLE card_credits;
