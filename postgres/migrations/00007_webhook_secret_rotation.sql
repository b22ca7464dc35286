-- A merchant's webhook secret can be rotated. Secrets are derived from the
-- server's key, the merchant id and webhook_secret_gen, so rotating moves
-- the generation on; nothing secret is stored. Until
-- webhook_secret_prev_until the previous generation (webhook_secret_gen - 1)
-- signs every delivery too, so receivers can move over without a gap.
-- webhook_secret_rotation_key is the Idempotency-Key of the latest rotation:
-- a retry of it answers with that rotation instead of making another.

-- +goose Up
ALTER TABLE merchants
    ADD COLUMN webhook_secret_prev_until   timestamptz,
    ADD COLUMN webhook_secret_rotation_key text;

-- +goose Down
ALTER TABLE merchants
    DROP COLUMN webhook_secret_rotation_key,
    DROP COLUMN webhook_secret_prev_until;
