-- Who may be pending export, as a list a batch rather than an index entry a person:
-- the partial index people_export_pending cost a fifth of a backfill's writes (one
-- more b-tree entry for every new person; docs/benchmarks.md, issue 18). Every
-- transaction that turns a person's export_pending from FALSE (or a new person's) to
-- TRUE adds a row listing them; an export's claim reads the rows, claims who is still
-- pending and deletes the rows it read (store/export.go). Once the store is
-- swept (below), a pending person is always listed in a row not yet deleted, and
-- the rows list about as many people as are pending.
--   ids  a JSON array of internal_ids
-- AUTOINCREMENT: a seq is never given again once its row is deleted, as on
-- PostgreSQL, so a claim deletes only the rows it read.
CREATE TABLE people_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ids TEXT NOT NULL
);
DROP INDEX people_export_pending;
-- Who is pending now is listed by the next export's claim, which sweeps everyone
-- pending into the list while the store is due a sweep (store/export.go
-- sweepPending). A dbsync older than this, still running with the store open (a
-- `serve` while the new one starts), writes people pending without listing them, so
-- the sweeps go on until an export an hour or more after this migration. A store
-- with no one in it has nothing to list and no such writer.
INSERT INTO meta (key, value) SELECT 'people_pending.sweep', 'due' WHERE EXISTS (SELECT 1 FROM people);
