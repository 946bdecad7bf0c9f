-- depends: 0001_initial
-- FAQ content, cached phrasing embeddings, and every question customers asked.

CREATE TABLE faq_entries (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    -- The entry as imported (the file format of bot/services/faq/content.py), as JSON.
    document TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Embeddings are the slow part of an import; keyed by model and text so a re-import or a
-- restart embeds only phrasings it has never seen.
CREATE TABLE faq_vectors (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
);

CREATE TABLE faq_queries (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id) ON DELETE SET NULL,
    at TEXT NOT NULL,
    language TEXT,
    text TEXT NOT NULL,
    entry_id TEXT,
    score REAL,
    confident INTEGER NOT NULL,
    -- answered | suggested | declined
    outcome TEXT NOT NULL,
    -- helpful | unhelpful, when the customer pressed a button
    feedback TEXT
);

CREATE INDEX faq_queries_by_outcome ON faq_queries (confident, at);
CREATE INDEX faq_queries_by_entry ON faq_queries (entry_id);
