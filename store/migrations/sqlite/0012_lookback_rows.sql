-- What a sync with a lookback (SPEC §3) remembers of the rows it applied or refused,
-- so that a re-read row that did not change writes nothing (engine/lookback.go): one
-- entry per sync and row key, the latest read of that key.
--   digest   SHA-256 of the row as mapped, with its (column, key) (record.Sum)
--   at       the row's watermark column in Unix microseconds (a zone-less one read as
--            UTC): entries before where the next run's lookback starts are forgotten
--   reason   NULL: the row was applied; else the reason it was rejected or skipped,
--            recorded again (last_seen moves) when it is re-read
-- Row keys are case-sensitive: TEXT compares BINARY in SQLite.
CREATE TABLE lookback_rows (
    sync    TEXT NOT NULL,
    row_key TEXT NOT NULL,
    digest  BLOB NOT NULL,
    at      BIGINT NOT NULL,
    skipped BOOLEAN NOT NULL DEFAULT FALSE,
    reason  TEXT,
    detail  TEXT,
    PRIMARY KEY (sync, row_key)
);
-- Forgetting the entries the lookback has passed.
CREATE INDEX lookback_rows_at ON lookback_rows (sync, at);
