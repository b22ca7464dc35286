-- Two indexes no query reads, each an entry written with every payment:
-- orders are found by id, reference or merchant, never by their payment
-- (a receipt asked for by payment id names its order too), and transfers
-- by id, idempotency key, card or time, never by their order (settlement
-- and shift reports join an order to the transfers they already hold).

-- +goose Up
DROP INDEX IF EXISTS orders_payment;
DROP INDEX IF EXISTS transfers_order;

-- +goose Down
CREATE INDEX IF NOT EXISTS orders_payment ON orders (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS transfers_order ON transfers (order_id) WHERE order_id IS NOT NULL;
