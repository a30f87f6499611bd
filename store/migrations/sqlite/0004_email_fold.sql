-- Where email does not identify ([id] workspaces) emails are not unique and have no
-- email_key, yet `people get EMAIL` matches them case-insensitively, folded in Go
-- (SPEC §1; SQLite's LOWER folds only ASCII). email_fold holds that folding for those
-- people only: the partial index stays empty in [id, email] and [email] stores, so
-- their backfills do not pay for it. Existing people are filled in Go (store.foldEmails).
ALTER TABLE people ADD COLUMN email_fold TEXT;
CREATE INDEX people_email_fold ON people (email_fold) WHERE email_fold IS NOT NULL;
