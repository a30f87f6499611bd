-- Who may be pending export, as a list a batch rather than an index entry a person:
-- the partial index people_export_pending cost a fifth of a backfill's writes (one
-- more b-tree entry for every new person; docs/benchmarks.md, issue 18). Every
-- transaction that turns a person's export_pending from FALSE (or a new person's) to
-- TRUE adds a row listing them; an export's claim reads the rows, claims who is still
-- pending and deletes the rows it read (store/export.go). So a pending person is
-- always listed in a row not yet deleted, and the rows list about as many people as
-- are pending.
--   ids  a JSON array of internal_ids
-- AUTOINCREMENT: a seq is never given again once its row is deleted, as on
-- PostgreSQL, so a claim deletes only the rows it read.
CREATE TABLE people_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ids TEXT NOT NULL
);
-- The people pending now, 5000 to a row.
INSERT INTO people_pending (ids)
SELECT json_group_array(internal_id)
FROM (SELECT internal_id, (row_number() OVER (ORDER BY internal_id) - 1) / 5000 AS chunk FROM people WHERE export_pending ORDER BY internal_id) p
GROUP BY chunk ORDER BY chunk;
DROP INDEX people_export_pending;
-- A dbsync older than this, still running with the store open (a `serve` while the
-- new one starts), writes people pending without listing them: until an export an
-- hour or more after this migration, every export lists everyone pending again
-- (store/export.go sweepPending). A store with no one in it has no such writer.
INSERT INTO meta (key, value) SELECT 'people_pending.sweep', 'due' WHERE EXISTS (SELECT 1 FROM people);
