-- depends: 0013_ops
-- Idempotency keys belong to one request: each key the API (or an agent's /points) accepts
-- is stored with a digest of every field of its request, so the same key sent with another
-- order, customer or amount is refused (409) instead of answering the first result.
CREATE TABLE request_fingerprints (
    -- purchase (key: order_id), refund (refund_id, or order and amount), adjust (its key)
    kind TEXT NOT NULL,
    request_key TEXT NOT NULL,
    -- JSON {field: digest}: which field differs can be named without keeping the values.
    fields TEXT NOT NULL,
    -- JSON of the first answer when no other table keeps it (adjustments' balances).
    result TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, request_key)
);

-- What each API token may do (space-separated). Tokens from before scopes keep the three
-- a till needs; adjusting points by hand has to be granted explicitly.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'purchases refunds customers:read';
