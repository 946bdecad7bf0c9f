-- depends: 0011_feedback
-- A 5-star review with text is published to REVIEWS_CHANNEL_ID once an admin approves it:
-- claimed by setting published_at (at most once), the channel post's id kept.
ALTER TABLE reviews ADD COLUMN published_at TEXT;
ALTER TABLE reviews ADD COLUMN published_message_id BIGINT;
