-- depends: 0010_nps
-- Automated campaigns (birthday, reactivation, expiry reminders, welcome follow-up) are
-- delivered as broadcasts: the same queue, worker, rate limits, quiet hours and opt-outs.

-- NULL for an admin's broadcast; the campaign's name for one a campaign run queued.
ALTER TABLE broadcasts ADD COLUMN campaign TEXT;
-- JSON: what a campaign message says to this recipient (points, dates), rendered in their
-- language when it is sent. NULL for an admin's broadcast (one text for everyone).
ALTER TABLE broadcast_recipients ADD COLUMN payload TEXT;

-- At most one message per campaign, customer and period (a year for the birthday, an
-- inactivity spell for reactivation, a burn date for expiry reminders, 'once' for the
-- welcome follow-up): the primary key is the idempotency key, so a repeated or resumed run
-- queues nothing twice.
CREATE TABLE campaign_deliveries (
    campaign TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    period TEXT NOT NULL,
    broadcast_id BIGINT NOT NULL REFERENCES broadcasts(id),
    queued_at TEXT NOT NULL,
    PRIMARY KEY (campaign, customer_id, period)
);
CREATE INDEX campaign_deliveries_by_customer ON campaign_deliveries (customer_id);

-- Broadcast segments by analytics group bind a JSON array of customer ids and read it with
-- `SELECT value FROM json_each(?)`, SQLite's table-valued function. PostgreSQL's own
-- json_each takes a JSON object (its argument typed json); this overload for text reads an
-- array of ids the same way, so the segment SQL stays one text for both backends.
CREATE FUNCTION json_each(ids TEXT) RETURNS TABLE (value BIGINT)
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CAST(e AS BIGINT) FROM json_array_elements_text(CAST(ids AS json)) AS e
    $$;
