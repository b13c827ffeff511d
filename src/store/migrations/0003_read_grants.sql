-- What a member may read: log entries after `floor`, set when their current
-- membership began (0 for a group's creator; the history a newcomer is
-- given for an approved member). Members from before this migration start
-- at their delivery cursor: nothing they had not been sent is opened to them.
ALTER TABLE members ADD COLUMN floor INTEGER NOT NULL DEFAULT 0;
UPDATE members SET floor = cursor;

-- The log entry that announced each file, so a fetch can be held to the
-- same grant as the log. Files from before this migration take the newest
-- entry their sender wrote in the group at that moment.
ALTER TABLE files ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE files SET seq = coalesce(
    (SELECT max(seq) FROM log
     WHERE log.grp = files.grp AND log.at_ms = files.at_ms AND log.sender = files.sender),
    0);
