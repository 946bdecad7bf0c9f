-- depends: 0009_reviews
-- "How likely are you to recommend us?" 0-10, then why: one answer per customer per survey.
CREATE TABLE nps_surveys (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_by INTEGER,
    recipients INTEGER NOT NULL
);
CREATE TABLE nps_responses (
    survey_id INTEGER NOT NULL REFERENCES nps_surveys(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
    reason TEXT,
    answered_at TEXT NOT NULL,
    PRIMARY KEY (survey_id, customer_id)
);
CREATE INDEX nps_by_time ON nps_responses (answered_at);
