-- The warehouse export (SPEC §6).
--   export_pending   the person changed since an export claimed them: every write of a
--                    person sets it (existing people start pending)
--   exported_log_seq the change_log.seq up to which the person's changes were exported
--                    (NULL: never exported, so all their attributes count as changed)
ALTER TABLE people ADD COLUMN export_pending BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE people ADD COLUMN exported_log_seq BIGINT;
-- The pending people, for the claim: small, as only changed people are in it.
CREATE INDEX people_export_pending ON people (internal_id) WHERE export_pending;
-- Who each export claimed, for its read and its cursor update. A table of its own
-- rather than a column and index on people: every batch writes people, an export
-- writes this, and a finished export's rows are deleted.
CREATE TABLE export_people (
    export_seq  BIGINT NOT NULL,
    internal_id TEXT NOT NULL,
    PRIMARY KEY (export_seq, internal_id)
);

CREATE TABLE exports (
    seq             BIGINT PRIMARY KEY,   -- 1, 2, ...: names its files and manifest
    full_export     BOOLEAN NOT NULL,
    format          TEXT NOT NULL,        -- e.g. parquet, or csv,ndjson
    state           TEXT NOT NULL,        -- running (or crashed: finished or redone by the next export) | done
    manifest        TEXT NOT NULL,        -- absolute path of its manifest
    started_ms      BIGINT NOT NULL,
    finished_ms     BIGINT,
    after_log_seq   BIGINT NOT NULL,      -- the previous export's through_log_seq
    through_log_seq BIGINT,               -- the largest change_log.seq its snapshot saw
    people          BIGINT NOT NULL DEFAULT 0,
    attributes      BIGINT NOT NULL DEFAULT 0
);
