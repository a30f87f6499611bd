-- One row that keeps events batches apart from the batches that move or erase events
-- (a merge, a delete; store/gate.go): events batches lock it FOR SHARE, those FOR
-- UPDATE. SQLite has one writer at a time and does not read it.
CREATE TABLE locks (name TEXT PRIMARY KEY);
INSERT INTO locks (name) VALUES ('events');
