-- depends: 0013_ops
-- The card at the top of a ticket's topic is edited in place as the ticket changes (taken,
-- answered, closed, reopened): the message to edit. NULL for cards posted before this.
ALTER TABLE tickets ADD COLUMN card_message_id BIGINT;
