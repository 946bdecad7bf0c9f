-- depends: 0013_ops
-- Referrals that cannot be farmed (issue 17): a converted referral whose qualifying purchase
-- is refunded below REFERRAL_MIN_PURCHASE is reversed, both rewards taken back, and stays
-- closed; and a customer who was forgotten gets no second welcome or referral bonus.

-- Ledger reasons added: referral_reversed
ALTER TABLE referrals ADD COLUMN reversed_at TEXT;

-- Random values made once per installation, on first need (never leave the database).
CREATE TABLE installation_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- HMAC-SHA256 of each erased Telegram id, keyed by installation_secrets 'erased-ids': who
-- was forgotten can be recognised on return, but not read off this table (Telegram ids are
-- few enough to hash them all; without the key, that finds nothing).
CREATE TABLE erased_telegram_ids (
    id_hash TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
);
