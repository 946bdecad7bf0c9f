-- depends: 0002_faq
-- Who may do what (beyond ADMIN_IDS, which always holds admins), and the trail of every
-- privileged action.

CREATE TABLE roles (
    telegram_id INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'cashier')),
    granted_by INTEGER,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (telegram_id, role)
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    -- Telegram id of who did it; NULL for the operator CLI or the system itself.
    actor INTEGER,
    -- telegram | cli | api | system
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    before TEXT,
    after TEXT
);

CREATE INDEX audit_by_time ON audit (at);
CREATE INDEX audit_by_actor ON audit (actor, at);
