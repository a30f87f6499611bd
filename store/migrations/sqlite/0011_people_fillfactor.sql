-- PostgreSQL's people table leaves room on its pages for updates (fillfactor); SQLite
-- has no such setting. Kept so both stores count the same migrations.
SELECT 1;
