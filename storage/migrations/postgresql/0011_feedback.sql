-- depends: 0010_nps
-- NPS to a segment and on a schedule: who was asked when (a customer is asked at most once
-- per NPS_SURVEY_EVERY_DAYS by the scheduled survey), and what each survey was sent to.
ALTER TABLE nps_surveys ADD COLUMN segment TEXT NOT NULL DEFAULT 'all';
-- 'admin' (/nps send) or 'schedule' (the daily job)
ALTER TABLE nps_surveys ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';
CREATE TABLE nps_invitations (
    survey_id BIGINT NOT NULL REFERENCES nps_surveys(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    invited_at TEXT NOT NULL,
    PRIMARY KEY (survey_id, customer_id)
);
CREATE INDEX nps_invitations_by_customer ON nps_invitations (customer_id, invited_at);
INSERT INTO nps_invitations (survey_id, customer_id, invited_at)
    SELECT CAST(CAST(payload AS json) ->> 'survey_id' AS BIGINT), customer_id, created_at
    FROM outbox WHERE kind = 'nps_request'
    ON CONFLICT DO NOTHING;
-- Ticket figures for a period (opened, closed, first response, resolution).
CREATE INDEX tickets_by_opened ON tickets (opened_at);
CREATE INDEX tickets_by_closed ON tickets (closed_at) WHERE closed_at IS NOT NULL;
