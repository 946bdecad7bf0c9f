-- depends: 0004_loyalty
-- Human support: one forum topic per customer in the agents' supergroup, and tickets.

-- The customer's topic in the support chat; reused by every later ticket, replaced when
-- somebody deletes it (the old thread id then stops resolving to the customer).
CREATE TABLE support_topics (
    customer_id INTEGER PRIMARY KEY REFERENCES customers(id),
    chat_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX support_topics_by_thread ON support_topics (chat_id, thread_id);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    -- open | closed
    status TEXT NOT NULL DEFAULT 'open',
    -- command, menu, faq, message (written after a close), ...
    source TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    -- The agent (Telegram user id and name as shown) who took it or answered first.
    assignee_id INTEGER,
    assignee_name TEXT,
    first_response_at TEXT,
    closed_at TEXT,
    closed_by INTEGER,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    rating_comment TEXT,
    rated_at TEXT,
    -- When the agents (and admins) were reminded that it waits for a first reply: once.
    reminded_at TEXT
);
-- One open ticket per customer: a second open is a conflict, not a second row.
CREATE UNIQUE INDEX tickets_one_open ON tickets (customer_id) WHERE status = 'open';
CREATE INDEX tickets_by_customer ON tickets (customer_id, id);

-- Which message in the topic is the copy of which in the private chat (both directions),
-- so an edit on one side is mirrored on the other.
CREATE TABLE support_relays (
    source_chat_id INTEGER NOT NULL,
    source_message_id INTEGER NOT NULL,
    target_chat_id INTEGER NOT NULL,
    target_message_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    PRIMARY KEY (source_chat_id, source_message_id)
);
