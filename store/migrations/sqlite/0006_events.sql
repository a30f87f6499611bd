-- Events (SPEC §9): append-only, each (sync, event_id) stored once. sync and event_id
-- are case-sensitive: TEXT compares BINARY in SQLite.
--   internal_id  the person it happened to; a merge moves it to the survivor (§8)
--   data         a JSON object, canonical JSON text
--   export_seq   the export that carried the event (SPEC §6); NULL: pending for the
--                next one. A claim sets it (store/export_events.go), a merge that moves
--                the event clears it. No insertion sequence: one taken at insert is
--                not in commit order on PostgreSQL, while a claim sees only committed rows.
CREATE TABLE events (
    sync        TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    internal_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    export_seq  BIGINT,
    PRIMARY KEY (sync, event_id)
);
-- A person's events newest first (people events), and the events a merge moves or a
-- delete erases. The whole key is in it, so a person's events stream in index order.
CREATE INDEX events_person ON events (internal_id, timestamp, sync, event_id);
-- The export: the pending events (export_seq IS NULL) and those export N claimed.
CREATE INDEX events_export ON events (export_seq);
