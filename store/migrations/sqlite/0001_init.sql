-- The identity store: people, their change log, rejected rows, watermarks, run history
-- and the one-run-at-a-time leases. Times are Unix seconds unless the column says _ms.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE people (
    internal_id TEXT PRIMARY KEY,         -- cio_id, generated, never reused
    external_id TEXT,                     -- id, as given (case-sensitive)
    email       TEXT,                     -- as first given
    id_key      TEXT UNIQUE,              -- external_id, when id identifies
    email_key   TEXT UNIQUE,              -- lower-cased email, when email identifies
    attributes  TEXT NOT NULL DEFAULT '{}', -- JSON object, keys sorted
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    merged_into TEXT,                     -- set when this cio_id was retired by a merge
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    suppressed  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX people_merged_into ON people (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE change_log (
    seq         INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    sync        TEXT NOT NULL,
    row_key     TEXT,
    internal_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    attribute   TEXT,
    from_value  TEXT,                     -- JSON
    to_value    TEXT,                     -- JSON
    reason      TEXT
);
CREATE INDEX change_log_person ON change_log (internal_id, seq);

CREATE TABLE rejected (
    seq     INTEGER PRIMARY KEY,
    at      BIGINT NOT NULL,
    sync    TEXT NOT NULL,
    row_key TEXT,
    skipped BOOLEAN NOT NULL,
    reason  TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX rejected_sync ON rejected (sync, seq);

CREATE TABLE watermarks (
    sync           TEXT PRIMARY KEY,
    cursor_json    TEXT,                  -- JSON: the typed (column, key) of the last row read
    last_sync_time BIGINT NOT NULL DEFAULT 0, -- start of the last successful run
    updated_at     BIGINT NOT NULL
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    sync          TEXT NOT NULL,
    started_ms    BIGINT NOT NULL,
    ended_ms      BIGINT,
    status        TEXT NOT NULL,
    rows_read     BIGINT NOT NULL DEFAULT 0,
    created       BIGINT NOT NULL DEFAULT 0,
    updated       BIGINT NOT NULL DEFAULT 0,
    unchanged     BIGINT NOT NULL DEFAULT 0,
    rejected      BIGINT NOT NULL DEFAULT 0,
    skipped       BIGINT NOT NULL DEFAULT 0,
    failed_changes BIGINT NOT NULL DEFAULT 0,
    null_cursor_rows BIGINT NOT NULL DEFAULT 0,
    cursor_before TEXT,
    cursor_after  TEXT,
    error         TEXT
);
CREATE INDEX runs_sync ON runs (sync, id);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
