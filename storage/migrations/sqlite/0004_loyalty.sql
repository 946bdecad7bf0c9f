-- depends: 0003_roles_audit
-- The loyalty engine: an append-only points ledger with FIFO lots, purchases and refunds,
-- referrals, redemption codes, API tokens, the notice outbox and once-a-day job runs.

ALTER TABLE customers ADD COLUMN card_code TEXT;
ALTER TABLE customers ADD COLUMN referral_code TEXT;
-- The tier last announced to the customer: a change is what triggers "you reached Gold".
ALTER TABLE customers ADD COLUMN tier TEXT;
-- 'MM-DD' (the year is not needed for a birthday bonus and is less personal data).
ALTER TABLE customers ADD COLUMN birthday TEXT;
CREATE UNIQUE INDEX customers_by_card ON customers (card_code) WHERE card_code IS NOT NULL;
CREATE UNIQUE INDEX customers_by_referral_code ON customers (referral_code)
    WHERE referral_code IS NOT NULL;

-- Every movement of points. Rows are never updated nor deleted: the balance is their sum.
CREATE TABLE points_entries (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    at TEXT NOT NULL,
    delta INTEGER NOT NULL CHECK (delta <> 0),
    -- purchase, refund, welcome, review, birthday, referral, adjust, redeem, redeem_return, expire
    reason TEXT NOT NULL,
    -- What caused it: 'order:A-1', 'redemption:12345678', 'audit:7', ...
    source TEXT,
    -- Makes every credit and debit safe to retry: the same key never lands twice.
    idempotency_key TEXT UNIQUE,
    -- A credit that opens a lot (is_lot = 1) burns at expires_at (NULL: never).
    is_lot INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT,
    note TEXT
);
CREATE INDEX points_by_customer ON points_entries (customer_id, id);
CREATE INDEX points_lots_by_expiry ON points_entries (expires_at) WHERE is_lot = 1;

-- Which lots a debit consumed (points > 0) or a restoration gave back (points < 0): a lot's
-- remainder is its delta minus its usage; debits take the lots that burn first (FIFO).
CREATE TABLE lot_usage (
    entry_id INTEGER NOT NULL REFERENCES points_entries(id),
    lot_id INTEGER NOT NULL REFERENCES points_entries(id),
    points INTEGER NOT NULL CHECK (points <> 0)
);
CREATE INDEX lot_usage_by_lot ON lot_usage (lot_id);
CREATE INDEX lot_usage_by_entry ON lot_usage (entry_id);

CREATE TABLE purchases (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    purchased_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    points INTEGER NOT NULL,
    -- The balance right after this purchase: what a replay of the order answers again.
    balance_after INTEGER NOT NULL,
    tier TEXT,
    -- 'api:<token name>' or 'cashier:<telegram id>'
    recorded_by TEXT NOT NULL
);
CREATE INDEX purchases_by_customer ON purchases (customer_id, purchased_at);

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY,
    refund_key TEXT NOT NULL UNIQUE,
    purchase_id INTEGER NOT NULL REFERENCES purchases(id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    points_reversed INTEGER NOT NULL,
    -- Points the refund should have taken back but the customer had already spent.
    points_uncollected INTEGER NOT NULL DEFAULT 0,
    balance_after INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX refunds_by_purchase ON refunds (purchase_id);

CREATE TABLE referrals (
    referee_id INTEGER PRIMARY KEY REFERENCES customers(id),
    referrer_id INTEGER NOT NULL REFERENCES customers(id),
    attributed_at TEXT NOT NULL,
    converted_at TEXT,
    order_id TEXT,
    referrer_points INTEGER NOT NULL DEFAULT 0,
    referee_points INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id, converted_at);

CREATE TABLE redemptions (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    -- A catalogue reward's id, or NULL for "use N points" against a sale.
    reward_id TEXT,
    points INTEGER NOT NULL CHECK (points > 0),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'issued'
        CHECK (state IN ('issued', 'confirmed', 'expired', 'cancelled')),
    closed_at TEXT,
    confirmed_by INTEGER,
    sale_amount_minor INTEGER
);
CREATE INDEX redemptions_open ON redemptions (expires_at) WHERE state = 'issued';

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- SHA-256 of the token: tokens are long random strings, so a fast hash is enough.
    token_hash TEXT NOT NULL UNIQUE,
    -- The first characters, shown by `api-token list` to tell tokens apart.
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Messages to customers decided inside a transaction (points earned, tier up, ...) and sent
-- after it commits by the outbox worker: a crash between the two loses nothing.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- The same notice is never queued twice (e.g. one expiry reminder per lot date).
    dedupe_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    not_before TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT,
    error TEXT
);
CREATE INDEX outbox_due ON outbox (not_before, id) WHERE state = 'pending';

-- A daily job claims (job, day) before it runs: it never runs twice for the same day, even
-- across restarts or several processes.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    run_key TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    result TEXT,
    PRIMARY KEY (job, run_key)
);
