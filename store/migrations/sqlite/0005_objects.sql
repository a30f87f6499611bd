-- Objects and relationships (SPEC §8). object_type and object_id are case-sensitive:
-- TEXT compares BINARY in SQLite, so Acme and acme are two keys.
--   export_pending, exported_log_seq: the warehouse export's cursor, as for people
--   (store/export.go): every write sets export_pending; exported_log_seq is the
--   object_log.seq up to which the object's changes were exported (NULL: never).
CREATE TABLE objects (
    object_type      TEXT NOT NULL,
    object_id        TEXT NOT NULL,
    attributes       TEXT NOT NULL DEFAULT '{}', -- JSON object, keys sorted
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    export_pending   BOOLEAN NOT NULL DEFAULT TRUE,
    exported_log_seq BIGINT,
    PRIMARY KEY (object_type, object_id)
);
CREATE INDEX objects_export_pending ON objects (object_type, object_id) WHERE export_pending;

-- The objects' change log: a table of its own, so the people's change_log, its keys
-- and every query on it (people log, the export) stay as they are.
CREATE TABLE object_log (
    seq         INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    sync        TEXT NOT NULL,
    row_key     TEXT,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    attribute   TEXT,
    from_value  TEXT,                     -- JSON
    to_value    TEXT,                     -- JSON
    reason      TEXT
);
CREATE INDEX object_log_object ON object_log (object_type, object_id, seq);

-- One relationship per person and object; removed keeps a tombstone, so an export
-- can carry the removal (deleted: true).
CREATE TABLE relationships (
    internal_id    TEXT NOT NULL,
    object_type    TEXT NOT NULL,
    object_id      TEXT NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    removed        BOOLEAN NOT NULL DEFAULT FALSE,
    export_pending BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (internal_id, object_type, object_id)
);
CREATE INDEX relationships_export_pending ON relationships (internal_id, object_type, object_id) WHERE export_pending;

-- Who each export claimed, as export_people.
CREATE TABLE export_objects (
    export_seq  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    PRIMARY KEY (export_seq, object_type, object_id)
);
CREATE TABLE export_relationships (
    export_seq  BIGINT NOT NULL,
    internal_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    PRIMARY KEY (export_seq, internal_id, object_type, object_id)
);
