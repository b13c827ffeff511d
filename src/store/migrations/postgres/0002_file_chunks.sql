-- Files' contents, so every node of a cluster can read every file: one row
-- per 256 KiB of a file (an empty file has one empty row), written in one
-- transaction once an upload is complete and checked, before the record in
-- `files` is committed. `at_ms` is when they were written: contents with no
-- record that are old enough were left by a node that failed in between.
CREATE TABLE file_chunks (
    id    TEXT NOT NULL,
    n     INTEGER NOT NULL,
    at_ms BIGINT NOT NULL,
    data  BYTEA NOT NULL,
    PRIMARY KEY (id, n)
);
-- Most files are compressed already: store them as they are.
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX file_chunks_by_age ON file_chunks (at_ms);
-- The cluster's TLS certificate and key (PEM) when the operator gives none:
-- the first node to start makes them, every node serves them.
CREATE TABLE server_identity (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    cert     TEXT NOT NULL,
    key      TEXT NOT NULL
);
