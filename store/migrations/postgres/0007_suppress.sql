-- Deletes and suppression (SPEC §10).
--
-- suppressions: a suppressed person's id and email, kept so that rows of any kind
-- carrying either are skipped (suppressed) and create no one, until people
-- unsuppress releases every row of that person.
--   kind         'id' or 'email'
--   value        the id as given (case-sensitive), or the email folded (identity.EmailKey)
--   internal_id  the suppressed person's retired cio_id
CREATE TABLE suppressions (
    kind        TEXT NOT NULL,
    value       TEXT COLLATE "C" NOT NULL,
    internal_id TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX suppressions_person ON suppressions (internal_id);

-- The run history counts deletes and suppressions (people and objects deleted, people
-- suppressed).
ALTER TABLE runs ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN suppressed BIGINT NOT NULL DEFAULT 0;
