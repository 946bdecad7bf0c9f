-- depends: 0004_loyalty
-- Broadcasts: a message, who gets it (a segment expression) and when; the per-recipient
-- queue is materialised when sending starts, so a restart resumes where it stopped.

CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    -- Telegram HTML, exactly as delivered (a photo's caption when there is a photo).
    text TEXT NOT NULL,
    -- A file path (uploaded once), a Telegram file_id or an http(s) URL.
    photo TEXT,
    -- The file_id Telegram gave the first upload: every later recipient reuses it.
    photo_file_id TEXT,
    -- JSON: [[{"text": ..., "url": ...}, ...], ...] URL buttons above Unsubscribe.
    buttons TEXT,
    segment TEXT NOT NULL DEFAULT 'all',
    state TEXT NOT NULL DEFAULT 'draft'
        CHECK (state IN ('draft', 'scheduled', 'sending', 'paused', 'done', 'cancelled')),
    -- 'cli' or 'telegram:<id>'
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- When to start (UTC); NULL for a draft.
    send_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    -- Recipients materialised at the start (including those known unreachable).
    total INTEGER,
    -- Messages that were in flight when the bot stopped and were sent again after restart.
    resent INTEGER NOT NULL DEFAULT 0,
    -- Where the live progress message lives (a broadcast composed in Telegram).
    progress_chat_id INTEGER,
    progress_message_id INTEGER
);
CREATE INDEX broadcasts_active ON broadcasts (state, send_at)
    WHERE state IN ('scheduled', 'sending');

CREATE TABLE broadcast_recipients (
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    -- A retry after a 5xx or network error waits until then (UTC).
    not_before TEXT,
    message_id INTEGER,
    error TEXT,
    at TEXT,
    -- (broadcast, customer) is the delivery's idempotency key.
    PRIMARY KEY (broadcast_id, customer_id)
) WITHOUT ROWID;
-- The queue: only the rows still to send, so reading the next chunk never walks sent ones.
CREATE INDEX broadcast_recipients_queue ON broadcast_recipients (broadcast_id, customer_id)
    WHERE state IN ('pending', 'sending');

-- Free-form labels an operator puts on customers, for segments such as tag=vip.
CREATE TABLE customer_tags (
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (customer_id, tag)
) WITHOUT ROWID;
CREATE INDEX customer_tags_by_tag ON customer_tags (tag);
