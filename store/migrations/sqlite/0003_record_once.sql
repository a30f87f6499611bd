-- Rows re-read by lookback (or by every run of a sync without a watermark) are recorded
-- once (SPEC §3): one rejected entry per sync, key and reason, with when the row was
-- first (at) and last (last_seen) seen; one failed_attribute_change per person, sync,
-- row key, attribute, refused value and reason. Entries recorded twice before are
-- merged into the first.
ALTER TABLE rejected ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;
UPDATE rejected SET row_key = '' WHERE row_key IS NULL;
CREATE INDEX rejected_merge ON rejected (sync, row_key, reason, seq);
UPDATE rejected SET last_seen = (SELECT MAX(r.at) FROM rejected r
    WHERE r.sync = rejected.sync AND r.row_key = rejected.row_key AND r.reason = rejected.reason);
DELETE FROM rejected WHERE EXISTS (SELECT 1 FROM rejected r
    WHERE r.sync = rejected.sync AND r.row_key = rejected.row_key AND r.reason = rejected.reason AND r.seq < rejected.seq);
DROP INDEX rejected_merge;
CREATE UNIQUE INDEX rejected_once ON rejected (sync, row_key, reason);

DELETE FROM change_log WHERE kind = 'failed_attribute_change' AND EXISTS (SELECT 1 FROM change_log c
    WHERE c.internal_id = change_log.internal_id AND c.seq < change_log.seq AND c.kind = 'failed_attribute_change'
    AND c.sync = change_log.sync AND c.row_key = change_log.row_key AND c.attribute = change_log.attribute
    AND c.to_value = change_log.to_value AND c.reason = change_log.reason);
-- Only refused changes are in it, so the usual log entries pay nothing for it.
CREATE UNIQUE INDEX change_log_refused_once ON change_log (internal_id, sync, row_key, attribute, to_value, reason)
    WHERE kind = 'failed_attribute_change';
