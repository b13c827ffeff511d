-- Records of uploaded files; their contents live in the files directory.
CREATE TABLE files (
    id     TEXT PRIMARY KEY,
    grp    TEXT NOT NULL REFERENCES groups(name),
    name   TEXT NOT NULL,
    size   INTEGER NOT NULL,
    blake3 BLOB NOT NULL,
    sender TEXT NOT NULL,
    at_ms  INTEGER NOT NULL
);
CREATE INDEX files_by_age ON files (at_ms);
