-- How far each conversation's text messages are in the search index. A
-- commit leaves its messages to be indexed a moment later, in a batch (see
-- `Unindexed` in sqlite.rs); the server, opening the store, indexes the
-- entries after this mark that a crash kept out. Everything so far was
-- indexed in its commit.
ALTER TABLE groups ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
UPDATE groups SET indexed = head;
