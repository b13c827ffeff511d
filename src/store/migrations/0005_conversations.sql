-- Conversations: a group, or a direct conversation between two people
-- (no admin; both are members from its start, reading all of it).
ALTER TABLE groups ADD COLUMN kind TEXT NOT NULL DEFAULT 'group'
    CHECK (kind IN ('group', 'direct'));
-- How far each member has read, on any of their connections. Members from
-- before this migration have read what they were sent.
ALTER TABLE members ADD COLUMN read INTEGER NOT NULL DEFAULT 0;
UPDATE members SET read = cursor;
-- Whose direct messages each person does not want to see.
CREATE TABLE ignores (
    name    TEXT NOT NULL,
    ignored TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (name, ignored)
) WITHOUT ROWID;
-- Someone's conversations are their memberships and their requests.
CREATE INDEX requests_by_name ON requests (name);
-- The words of every text message, for search. `conv` holds one token per
-- row naming the conversation (the hex of its id), so a search is narrowed
-- to the searcher's conversations inside the index, and closing a
-- conversation finds its rows. Only the index is kept, not the text (that
-- is in the log); `grp` and `seq` lead back to the entry. Rows are added in
-- time order, so their rowids are too: newest first is rowid order.
-- The existing log is indexed right after this runs, in Rust, as its
-- bodies are MessagePack.
CREATE VIRTUAL TABLE search USING fts5(
    text, conv, grp UNINDEXED, seq UNINDEXED,
    content = '', contentless_delete = 1, contentless_unindexed = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
