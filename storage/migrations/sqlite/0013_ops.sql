-- depends: 0010_nps
-- Webhook mode: every update is stored here before Telegram gets its 200, then handled by
-- whichever process claims it. update_id is unique, so a redelivery (or a delivery to a
-- second replica) is stored once. The payload is dropped once the update is handled.
CREATE TABLE webhook_inbox (
    update_id BIGINT PRIMARY KEY,
    payload TEXT,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    -- The process handling it and when it last said it still is (its lease).
    claimed_by TEXT,
    claimed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    finished_at TEXT
);
CREATE INDEX webhook_inbox_by_state ON webhook_inbox (state, update_id);

-- Conversation state (aiogram FSM) outside the process: a restart mid-conversation
-- continues where the customer was. One row per aiogram storage key.
CREATE TABLE fsm_states (
    storage_key TEXT PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    state TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
CREATE INDEX fsm_states_by_user ON fsm_states (user_id);
