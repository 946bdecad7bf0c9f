-- depends: 0004_loyalty
-- Customer data rights: an optional phone number, when consents last changed, and when a
-- customer was forgotten (their row stays, anonymous, so the books still add up).

-- The customer's own number, shared with Telegram's contact button ('+' and digits).
ALTER TABLE customers ADD COLUMN phone TEXT;
-- When the customer last changed a consent (promotions, surveys) themselves.
ALTER TABLE customers ADD COLUMN consents_changed_at TEXT;
-- Set by /forget: every personal field is NULL from then on, telegram_id included.
ALTER TABLE customers ADD COLUMN forgotten_at TEXT;

-- Nothing is recorded against a forgotten customer, whatever still holds their old row in
-- memory (another process's cache, an update in flight while they were forgotten).
CREATE TRIGGER interactions_not_for_forgotten BEFORE INSERT ON interactions
WHEN (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END;

-- A question is kept for the FAQ's statistics, but neither its text nor its asker.
CREATE TRIGGER faq_queries_not_for_forgotten AFTER INSERT ON faq_queries
WHEN NEW.customer_id IS NOT NULL
    AND (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL
BEGIN
    UPDATE faq_queries SET customer_id = NULL, text = '[erased]' WHERE id = NEW.id;
END;

CREATE TRIGGER outbox_not_for_forgotten BEFORE INSERT ON outbox
WHEN (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END;
