-- A person's profile_create entry lives on their people row rather than as a
-- change_log row: a backfill then writes one row and its index entries a person, not
-- two rows (docs/benchmarks.md, issue 18). `people log` reads it back as the entry
-- (store/read.go). People created before this keep their change_log entry and NULLs here.
--   created_seq  the entry's seq, numbered with the change_log entries (on SQLite the
--                largest given is kept in meta as change_log.seq)
--   created_sync the sync that created the person
--   created_key  the row key of the row that created them (erased with the person)
--   created_to   the entry's `to`: {"id":…,"email":…} as given (erased likewise)
ALTER TABLE people ADD COLUMN created_seq BIGINT;
ALTER TABLE people ADD COLUMN created_sync TEXT;
ALTER TABLE people ADD COLUMN created_key TEXT;
ALTER TABLE people ADD COLUMN created_to TEXT;
