-- The whole schema as the embedded store's five migrations left it, in
-- PostgreSQL's types. Names live in the connection's current schema, so
-- one database can hold several installations (or test runs) apart.

-- Identities: each name pinned to the hash of its owner's secret.
CREATE TABLE users (
    name         TEXT PRIMARY KEY,
    secret_hash  BYTEA NOT NULL,
    created_ms   BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);

-- Conversations: a group, or a direct conversation between two people (no
-- admin). `head` is the newest seq in its log; a transaction that appends
-- locks the row (`SELECT ... FOR UPDATE`), which is what orders a
-- conversation's log when several servers write to it.
CREATE TABLE groups (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL DEFAULT 'group' CHECK (kind IN ('group', 'direct')),
    admin      TEXT NOT NULL,
    head       BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);

-- Who may read after `floor`, was delivered up to `cursor` and has read up
-- to `read`.
CREATE TABLE members (
    grp       TEXT NOT NULL REFERENCES groups(name),
    name      TEXT NOT NULL,
    cursor    BIGINT NOT NULL,
    floor     BIGINT NOT NULL DEFAULT 0,
    read      BIGINT NOT NULL DEFAULT 0,
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (grp, name)
);
CREATE INDEX members_by_name ON members (name);

CREATE TABLE requests (
    grp   TEXT NOT NULL REFERENCES groups(name),
    name  TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (grp, name)
);
CREATE INDEX requests_by_name ON requests (name);

-- The per-conversation log. `body` is the entry's MessagePack; `words` the
-- words of a text message (folded to lower case without accents, see
-- `postgres.rs`) for search, NULL for other entries; `id` counts entries of
-- every conversation in the order they were written, so newest first is
-- `id` descending.
CREATE TABLE log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    grp    TEXT NOT NULL REFERENCES groups(name),
    seq    BIGINT NOT NULL,
    at_ms  BIGINT NOT NULL,
    sender TEXT NOT NULL,
    body   BYTEA NOT NULL,
    words  TSVECTOR,
    PRIMARY KEY (grp, seq)
);
CREATE INDEX log_words ON log USING GIN (words);

-- Records of uploaded files; their contents live in the files directory.
CREATE TABLE files (
    id     TEXT PRIMARY KEY,
    grp    TEXT NOT NULL REFERENCES groups(name),
    name   TEXT NOT NULL,
    size   BIGINT NOT NULL,
    blake3 BYTEA NOT NULL,
    sender TEXT NOT NULL,
    at_ms  BIGINT NOT NULL,
    seq    BIGINT NOT NULL
);
CREATE INDEX files_by_age ON files (at_ms);
CREATE INDEX files_by_group ON files (grp);

-- Whose direct messages each person does not want to see.
CREATE TABLE ignores (
    name    TEXT NOT NULL,
    ignored TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (name, ignored)
);
