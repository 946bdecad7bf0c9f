-- The customer record, every interaction, and the inbox that makes update handling idempotent.
-- Timestamps are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' so they sort and SQLite's date functions read them.

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    -- NULL once the customer has been forgotten: the row stays for anonymous aggregates.
    telegram_id INTEGER UNIQUE,
    first_name TEXT,
    last_name TEXT,
    username TEXT,
    telegram_language TEXT,
    language TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    consent_promotions INTEGER NOT NULL DEFAULT 1,
    consent_surveys INTEGER NOT NULL DEFAULT 1,
    start_payload TEXT,
    reachable INTEGER NOT NULL DEFAULT 1,
    unreachable_since TEXT
);

CREATE TABLE interactions (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    kind TEXT NOT NULL,
    text TEXT,
    update_id INTEGER,
    message_id INTEGER,
    -- Outbound rows are written before the call ('pending') so a crash after Telegram
    -- delivered cannot lose them; the answer turns them into 'sent' or 'failed'.
    status TEXT NOT NULL DEFAULT 'received',
    error TEXT,
    meta TEXT,
    -- Chosen by the sender before the call, so the outcome can be recorded without
    -- waiting for the row id (outbound rows are written in batches).
    outbound_key TEXT
);

CREATE INDEX interactions_by_customer ON interactions (customer_id, id);
CREATE UNIQUE INDEX interactions_by_outbound_key ON interactions (outbound_key)
    WHERE outbound_key IS NOT NULL;

CREATE TABLE processed_updates (
    update_id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'done', 'orphaned')),
    -- Which flush claimed it: tells a fresh claim from an earlier one in a batched INSERT.
    claim TEXT,
    finished_at TEXT
);

CREATE INDEX processed_updates_by_state ON processed_updates (state, received_at);
