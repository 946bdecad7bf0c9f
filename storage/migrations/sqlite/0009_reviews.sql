-- depends: 0004_loyalty
-- Customers' ratings (1-5 stars) with an optional comment and photo: at most one per
-- purchase, or one per 30 days for a customer without purchases to rate.
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    purchase_id INTEGER REFERENCES purchases(id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    text TEXT,
    -- Telegram file_id of the photo the customer attached.
    photo TEXT,
    -- 'command' (/review) or 'request' (asked after a purchase)
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX reviews_one_per_purchase ON reviews (purchase_id)
    WHERE purchase_id IS NOT NULL;
CREATE INDEX reviews_by_customer ON reviews (customer_id, created_at);
CREATE INDEX reviews_by_time ON reviews (created_at);
CREATE INDEX purchases_by_recorded ON purchases (recorded_at);
