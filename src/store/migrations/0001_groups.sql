-- Identities, groups, membership, join requests and the per-group log.
CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE groups (
    name       TEXT PRIMARY KEY,
    admin      TEXT NOT NULL,
    head       INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE members (
    grp       TEXT NOT NULL REFERENCES groups(name),
    name      TEXT NOT NULL,
    cursor    INTEGER NOT NULL,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (grp, name)
) WITHOUT ROWID;
CREATE TABLE requests (
    grp   TEXT NOT NULL REFERENCES groups(name),
    name  TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (grp, name)
) WITHOUT ROWID;
CREATE TABLE log (
    grp    TEXT NOT NULL REFERENCES groups(name),
    seq    INTEGER NOT NULL,
    at_ms  INTEGER NOT NULL,
    sender TEXT NOT NULL,
    body   BLOB NOT NULL,
    PRIMARY KEY (grp, seq)
) WITHOUT ROWID;
