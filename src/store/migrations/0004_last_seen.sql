-- When each name was last connected (Unix ms), for finding unused names
-- and idle groups; names from before this column count from their creation.
ALTER TABLE users ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0;
UPDATE users SET last_seen_ms = created_ms;
CREATE INDEX members_by_name ON members (name);
