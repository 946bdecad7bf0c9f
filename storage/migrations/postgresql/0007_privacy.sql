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
-- (SQLite's RAISE(IGNORE) is a BEFORE trigger returning NULL here: the row is skipped.)
CREATE FUNCTION skip_if_customer_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER interactions_not_for_forgotten BEFORE INSERT ON interactions
FOR EACH ROW EXECUTE FUNCTION skip_if_customer_forgotten();

-- A question is kept for the FAQ's statistics, but neither its text nor its asker.
CREATE FUNCTION erase_faq_query_if_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS NOT NULL
        AND (SELECT forgotten_at FROM customers WHERE id = NEW.customer_id) IS NOT NULL THEN
        NEW.customer_id := NULL;
        NEW.text := '[erased]';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER faq_queries_not_for_forgotten BEFORE INSERT ON faq_queries
FOR EACH ROW EXECUTE FUNCTION erase_faq_query_if_forgotten();

CREATE TRIGGER outbox_not_for_forgotten BEFORE INSERT ON outbox
FOR EACH ROW EXECUTE FUNCTION skip_if_customer_forgotten();
