//! The embedded store: one SQLite file in WAL mode, so `pyconchat serve`
//! needs nothing else installed.
//!
//! One connection writes and one reads; WAL lets catch-up reads run while a
//! batch commits. Each [`Store::apply`] is one transaction with
//! `synchronous = FULL`, so an acknowledged message survives power loss and
//! the cost of the flush is shared by the whole batch.
//!
//! Checkpoints (copying the WAL back into the database file, with its own
//! fsync) run on a background thread, so a commit, which the hub and every
//! sender are waiting for, pays only for appending to the WAL. The writer
//! still checkpoints by itself if the WAL grows past
//! [`WRITER_CHECKPOINT_PAGES`], which bounds the WAL under sustained load.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Mutex, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    Change, ClosedGroup, FileRecord, GroupRecord, IdleGroup, MemberRecord, NameClaim, Store,
    StoreError, UnusedName, now_ms,
};
use crate::{
    protocol::{Body, FileInfo, JoinRequest, LogEntry, Seq},
    sync::lock,
};

/// Marks the file as ours (`PRAGMA application_id`): "PCCT".
const APPLICATION_ID: i64 = 0x5043_4354;

/// Schema migrations, numbered files run in order; `PRAGMA user_version`
/// counts how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_groups.sql"),
    include_str!("migrations/0002_files.sql"),
    include_str!("migrations/0003_read_grants.sql"),
    include_str!("migrations/0004_last_seen.sql"),
];

/// How often the background thread checkpoints the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL size (in pages) at which the writer checkpoints in the commit path:
/// a safety net for when background checkpoints cannot keep up.
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    /// Stops the checkpoint thread when dropped.
    checkpointer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// The locked [`SqliteStore::LOCK_FILE`] of an exclusive store; closing
    /// it (on drop, or when the process dies) unlocks it.
    exclusive: Option<std::fs::File>,
}

struct Writer {
    conn: Connection,
    /// Newest sequence number per group, so appends need no query.
    heads: HashMap<String, Seq>,
}

impl SqliteStore {
    /// The database file inside a data directory.
    pub const FILE_NAME: &'static str = "pyconchat.db";
    /// The directory of uploaded files, beside the database.
    pub const FILES_DIR: &'static str = "files";

    /// The lock file beside the database; see [`SqliteStore::open_exclusive`].
    pub const LOCK_FILE: &'static str = "pyconchat.lock";

    /// Opens (creating if needed) the database in `data_dir`, checks that it
    /// is ours and migrates it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(Self::FILE_NAME);
        let damaged = |error: StoreError| match error {
            StoreError::Sqlite(source)
                if matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
                ) =>
            {
                StoreError::Damaged {
                    path: path.clone(),
                    source,
                }
            }
            other => other,
        };
        let mut conn = Connection::open(&path)?;
        configure(&conn).map_err(damaged)?;
        migrate(&mut conn, &path).map_err(damaged)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let reader = Connection::open(&path)?;
        configure(&reader).map_err(damaged)?;
        let checkpoints = Connection::open(&path)?;
        configure(&checkpoints)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("pcc-checkpoint".into())
            .spawn(move || checkpoint_until_stopped(&checkpoints, &stopped))
            .map_err(StoreError::Thread)?;
        Ok(Self {
            path,
            writer: Mutex::new(Writer {
                conn,
                heads: HashMap::new(),
            }),
            reader: Mutex::new(reader),
            checkpointer: Some((stop, thread)),
            exclusive: None,
        })
    }

    /// Opens the database as [`SqliteStore::open`] does, as its one
    /// exclusive user until dropped: the server, or an operator command that
    /// must not run beside it. Refuses with [`StoreError::InUse`] while
    /// another exclusive user has it. Plain [`SqliteStore::open`] is not
    /// held off, for commands that are safe while the server runs.
    pub fn open_exclusive(data_dir: &Path) -> Result<Self, StoreError> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(Self::LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Lock {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: data_dir.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Lock { path, source });
            }
        }
        let mut store = Self::open(data_dir)?;
        store.exclusive = Some(file);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unpins a name from its secret, for a user who lost their identity
    /// file; the next hello under the name pins it afresh. True if it was pinned.
    pub fn release_name(&self, name: &str) -> Result<bool, StoreError> {
        let writer = lock(&self.writer);
        Ok(writer
            .conn
            .execute("DELETE FROM users WHERE name = ?1", [name])?
            > 0)
    }

    /// Names that are in no group, have no pending request, and were last
    /// connected before `before_ms`, oldest first: candidates for
    /// [`SqliteStore::release_unused_names`].
    pub fn unused_names(&self, before_ms: i64) -> Result<Vec<UnusedName>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(&format!(
            "SELECT name, last_seen_ms FROM users WHERE {UNUSED} ORDER BY last_seen_ms, name"
        ))?;
        Ok(stmt
            .query_map([before_ms], |r| {
                Ok(UnusedName {
                    name: r.get(0)?,
                    last_seen_ms: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    /// Unpins every name [`SqliteStore::unused_names`] lists, checking each
    /// again as it goes, so a name that joined a group meanwhile is kept.
    /// Returns the names released.
    pub fn release_unused_names(&self, before_ms: i64) -> Result<Vec<String>, StoreError> {
        let writer = lock(&self.writer);
        let mut stmt = writer
            .conn
            .prepare(&format!("DELETE FROM users WHERE {UNUSED} RETURNING name"))?;
        let mut names: Vec<String> = stmt
            .query_map([before_ms], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        names.sort();
        Ok(names)
    }

    /// Groups with nothing in their log and no member connected since
    /// `before_ms`, least recently active first.
    pub fn idle_groups(&self, before_ms: i64) -> Result<Vec<IdleGroup>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(
            "SELECT name, admin, members, active_ms FROM (
                SELECT g.name, g.admin,
                    (SELECT count(*) FROM members m WHERE m.grp = g.name) AS members,
                    max(g.created_ms,
                        coalesce((SELECT l.at_ms FROM log l WHERE l.grp = g.name
                                  ORDER BY l.seq DESC LIMIT 1), 0),
                        coalesce((SELECT max(u.last_seen_ms) FROM members m
                                  JOIN users u ON u.name = m.name WHERE m.grp = g.name), 0)
                    ) AS active_ms
                FROM groups g)
            WHERE active_ms < ?1 ORDER BY active_ms, name",
        )?;
        Ok(stmt
            .query_map([before_ms], |r| {
                Ok(IdleGroup {
                    name: r.get(0)?,
                    admin: r.get(1)?,
                    members: r.get(2)?,
                    active_ms: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    /// Removes a group with its members, requests, log and file records, in
    /// one transaction; `None` if there is no such group. The caller deletes
    /// the files' contents afterwards (as after [`Store::delete_files`]).
    ///
    /// A running server keeps groups in memory, so this is for a store no
    /// server is using: open it with [`SqliteStore::open_exclusive`].
    pub fn close_group(&self, group: &str) -> Result<Option<ClosedGroup>, StoreError> {
        let mut writer = lock(&self.writer);
        let Writer { conn, heads } = &mut *writer;
        let tx = conn.transaction()?;
        let files = tx
            .prepare(&format!(
                "DELETE FROM files WHERE grp = ?1 RETURNING {FILE_COLUMNS}"
            ))?
            .query_map([group], file_record)?
            .collect::<Result<Vec<_>, _>>()?;
        let entries = tx.execute("DELETE FROM log WHERE grp = ?1", [group])?;
        tx.execute("DELETE FROM requests WHERE grp = ?1", [group])?;
        let members = tx.execute("DELETE FROM members WHERE grp = ?1", [group])?;
        if tx.execute("DELETE FROM groups WHERE name = ?1", [group])? == 0 {
            return Ok(None);
        }
        tx.commit()?;
        heads.remove(group);
        Ok(Some(ClosedGroup {
            members,
            entries,
            files,
        }))
    }

    /// Caps the database file at about `bytes` (0: no cap). Writes past the
    /// cap fail as they would on a full disk: with an error and no change.
    pub fn set_max_bytes(&self, bytes: u64) -> Result<(), StoreError> {
        let writer = lock(&self.writer);
        let page_size: u64 = writer
            .conn
            .pragma_query_value(None, "page_size", |r| r.get(0))?;
        let pages = if bytes == 0 {
            u64::from(u32::MAX)
        } else {
            (bytes / page_size).max(1)
        };
        writer.conn.pragma_update(None, "max_page_count", pages)?;
        Ok(())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// Checkpoints the WAL without blocking the writer (`PASSIVE`) until the
/// store is dropped. A failure is logged and retried next time: the data
/// is safe in the WAL either way.
fn checkpoint_until_stopped(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "background checkpoint failed");
        }
    }
}

fn create_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
        path: data_dir.to_owned(),
        source,
    })
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let app_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_tables: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_schema", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID && (app_id != 0 || has_tables) {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
            found: app_id,
        });
    }
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            known,
        });
    }
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

impl Store for SqliteStore {
    fn claim_name(&self, name: &str, secret_hash: &[u8; 32]) -> Result<NameClaim, StoreError> {
        let mut writer = lock(&self.writer);
        let tx = writer.conn.transaction()?;
        let pinned: Option<Vec<u8>> = tx
            .query_row(
                "SELECT secret_hash FROM users WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        let claim = match pinned {
            Some(hash) if hash == secret_hash => NameClaim::Verified,
            Some(_) => NameClaim::Taken,
            None => {
                tx.execute(
                    "INSERT INTO users (name, secret_hash, created_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)",
                    params![name, &secret_hash[..], now_ms()],
                )?;
                NameClaim::Claimed
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    fn verify_name(
        &self,
        name: &str,
        secret_hash: &[u8; 32],
    ) -> Result<Option<NameClaim>, StoreError> {
        let conn = lock(&self.reader);
        let pinned: Option<Vec<u8>> = conn
            .prepare_cached("SELECT secret_hash FROM users WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        Ok(pinned.map(|hash| {
            if hash == secret_hash {
                NameClaim::Verified
            } else {
                NameClaim::Taken
            }
        }))
    }

    fn mark_seen(&self, names: &[String], at_ms: i64) -> Result<(), StoreError> {
        let mut writer = lock(&self.writer);
        let tx = writer.conn.transaction()?;
        for name in names {
            tx.prepare_cached(
                "UPDATE users SET last_seen_ms = max(last_seen_ms, ?2) WHERE name = ?1",
            )?
            .execute(params![name, at_ms])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn load_group(&self, group: &str) -> Result<Option<GroupRecord>, StoreError> {
        let conn = lock(&self.reader);
        let Some((admin, head)) = conn
            .query_row(
                "SELECT admin, head FROM groups WHERE name = ?1",
                [group],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Seq>(1)?)),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let members = conn
            .prepare_cached(
                "SELECT name, cursor, floor FROM members WHERE grp = ?1 ORDER BY joined_ms, name",
            )?
            .query_map([group], |r| {
                Ok(MemberRecord {
                    name: r.get(0)?,
                    cursor: r.get(1)?,
                    floor: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let requests = conn
            .prepare_cached("SELECT name, at_ms FROM requests WHERE grp = ?1 ORDER BY at_ms, name")?
            .query_map([group], |r| {
                Ok(JoinRequest {
                    name: r.get(0)?,
                    at_ms: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(GroupRecord {
            admin,
            members,
            requests,
            head,
        }))
    }

    fn read_log(&self, group: &str, after: Seq, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at_ms, sender, body FROM log WHERE grp = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![group, after, limit as i64], |r| {
            Ok((
                r.get::<_, Seq>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (seq, at_ms, from, body) = row?;
            let body: Body =
                rmp_serde::from_slice(&body).map_err(|source| StoreError::CorruptEntry {
                    group: group.to_owned(),
                    seq,
                    source,
                })?;
            entries.push(LogEntry {
                seq,
                at_ms,
                from,
                body,
            });
        }
        Ok(entries)
    }

    fn apply(&self, at_ms: i64, changes: &[Change]) -> Result<Vec<Option<LogEntry>>, StoreError> {
        let mut writer = lock(&self.writer);
        let Writer { conn, heads } = &mut *writer;
        let mut new_heads = HashMap::new();
        let tx = conn.transaction()?;
        let entries = changes
            .iter()
            .map(|change| apply_one(&tx, heads, &mut new_heads, at_ms, change))
            .collect::<Result<Vec<_>, _>>()?;
        for (group, head) in &new_heads {
            tx.prepare_cached("UPDATE groups SET head = ?2 WHERE name = ?1")?
                .execute(params![group, head])?;
        }
        tx.commit()?;
        heads.extend(new_heads);
        Ok(entries)
    }

    fn files_dir(&self) -> PathBuf {
        self.path.with_file_name(Self::FILES_DIR)
    }

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"))?;
        Ok(stmt.query_row([id], file_record).optional()?)
    }

    fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM files ORDER BY at_ms, id"
        ))?;
        Ok(stmt.query_map([], file_record)?.collect::<Result<_, _>>()?)
    }

    fn delete_files(&self, ids: &[String]) -> Result<Vec<FileRecord>, StoreError> {
        let mut writer = lock(&self.writer);
        let tx = writer.conn.transaction()?;
        let mut deleted = Vec::new();
        for id in ids {
            let mut stmt = tx.prepare_cached(&format!(
                "DELETE FROM files WHERE id = ?1 RETURNING {FILE_COLUMNS}"
            ))?;
            deleted.extend(stmt.query_row([id], file_record).optional()?);
        }
        tx.commit()?;
        Ok(deleted)
    }
}

/// Which users rows are unused: in no group, with no pending request, and
/// not connected since `?1`.
const UNUSED: &str = "last_seen_ms < ?1
    AND NOT EXISTS (SELECT 1 FROM members m WHERE m.name = users.name)
    AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.name = users.name)";

const FILE_COLUMNS: &str = "id, grp, name, size, blake3, sender, at_ms, seq";

fn file_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        info: FileInfo {
            id: row.get(0)?,
            name: row.get(2)?,
            size: row.get(3)?,
            blake3: row.get(4)?,
        },
        group: row.get(1)?,
        from: row.get(5)?,
        at_ms: row.get(6)?,
        seq: row.get(7)?,
    })
}

/// Runs one change inside the batch's transaction. `new_heads` holds the
/// heads this batch moved; they reach the cache only after the commit.
fn apply_one(
    tx: &Transaction<'_>,
    heads: &HashMap<String, Seq>,
    new_heads: &mut HashMap<String, Seq>,
    at_ms: i64,
    change: &Change,
) -> Result<Option<LogEntry>, StoreError> {
    match change {
        Change::CreateGroup { group, admin } => {
            tx.execute(
                "INSERT INTO groups (name, admin, head, created_ms) VALUES (?1, ?2, 0, ?3)",
                params![group, admin, at_ms],
            )?;
            tx.execute(
                "INSERT INTO members (grp, name, cursor, joined_ms) VALUES (?1, ?2, 0, ?3)",
                params![group, admin, at_ms],
            )?;
        }
        Change::AddRequest { group, name } => {
            tx.execute(
                "INSERT OR IGNORE INTO requests (grp, name, at_ms) VALUES (?1, ?2, ?3)",
                params![group, name, at_ms],
            )?;
        }
        Change::RejectRequest { group, name } => {
            tx.execute(
                "DELETE FROM requests WHERE grp = ?1 AND name = ?2",
                params![group, name],
            )?;
        }
        Change::Approve {
            group, name, floor, ..
        } => {
            tx.execute(
                "DELETE FROM requests WHERE grp = ?1 AND name = ?2",
                params![group, name],
            )?;
            tx.execute(
                "INSERT INTO members (grp, name, cursor, floor, joined_ms) VALUES (?1, ?2, ?3, ?3, ?4)",
                params![group, name, floor, at_ms],
            )?;
        }
        Change::Kick { group, name, .. } => {
            tx.execute(
                "DELETE FROM members WHERE grp = ?1 AND name = ?2",
                params![group, name],
            )?;
        }
        Change::ChangeAdmin { group, to, .. } => {
            tx.execute(
                "UPDATE groups SET admin = ?2 WHERE name = ?1",
                params![group, to],
            )?;
        }
        // A file's record is written below, with the seq of its announcement.
        Change::Post { .. } | Change::PostFile { .. } => {}
        Change::SaveCursor { group, name, seq } => {
            tx.prepare_cached(
                "UPDATE members SET cursor = max(cursor, ?3) WHERE grp = ?1 AND name = ?2",
            )?
            .execute(params![group, name, seq])?;
        }
    }
    let Some((from, body)) = change.log_body() else {
        return Ok(None);
    };
    let group = change.group();
    let head = match new_heads.get(group).or_else(|| heads.get(group)) {
        Some(head) => *head,
        None => tx.query_row("SELECT head FROM groups WHERE name = ?1", [group], |r| {
            r.get(0)
        })?,
    };
    let seq = head + 1;
    new_heads.insert(group.to_owned(), seq);
    tx.prepare_cached(
        "INSERT INTO log (grp, seq, at_ms, sender, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        group,
        seq,
        at_ms,
        from,
        rmp_serde::to_vec_named(&body).expect("Body always serializes")
    ])?;
    if let Change::PostFile { file, .. } = change {
        tx.execute(
            "INSERT INTO files (id, grp, name, size, blake3, sender, at_ms, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![file.id, group, file.name, file.size, file.blake3, from, at_ms, seq],
        )?;
    }
    Ok(Some(LogEntry {
        seq,
        at_ms,
        from: from.to_owned(),
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(group: &str, from: &str, text: &str) -> Change {
        Change::Post {
            group: group.into(),
            from: from.into(),
            text: text.into(),
        }
    }

    #[test]
    fn numbers_entries_per_group_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let create = |g: &str| Change::CreateGroup {
            group: g.into(),
            admin: "ann".into(),
        };
        let out = store
            .apply(
                1,
                &[
                    create("a"),
                    create("b"),
                    post("a", "ann", "1"),
                    post("b", "ann", "x"),
                ],
            )
            .unwrap();
        let seqs: Vec<_> = out.iter().map(|e| e.as_ref().unwrap().seq).collect();
        assert_eq!(seqs, [1, 1, 2, 2]);
        drop(store);

        let store = SqliteStore::open(dir.path()).unwrap();
        let out = store.apply(2, &[post("a", "ann", "2")]).unwrap();
        assert_eq!(out[0].as_ref().unwrap().seq, 3);
        let texts: Vec<_> = store
            .read_log("a", 1, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.body)
            .collect();
        assert_eq!(
            texts,
            [
                Body::Text { text: "1".into() },
                Body::Text { text: "2".into() }
            ]
        );
        assert_eq!(store.load_group("a").unwrap().unwrap().head, 3);
    }

    #[test]
    fn a_failed_batch_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .apply(
                1,
                &[Change::CreateGroup {
                    group: "a".into(),
                    admin: "ann".into(),
                }],
            )
            .unwrap();
        // Posting to a group that does not exist violates a foreign key.
        let err = store.apply(2, &[post("a", "ann", "kept?"), post("nope", "ann", "x")]);
        assert!(err.is_err());
        assert!(store.read_log("a", 1, 10).unwrap().is_empty());
        assert_eq!(
            store.apply(3, &[post("a", "ann", "next")]).unwrap()[0]
                .as_ref()
                .unwrap()
                .seq,
            2
        );
    }

    #[test]
    fn pins_a_name_to_its_first_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.claim_name("ann", &[1; 32]).unwrap(),
            NameClaim::Claimed
        );
        assert_eq!(
            store.claim_name("ann", &[1; 32]).unwrap(),
            NameClaim::Verified
        );
        assert_eq!(store.claim_name("ann", &[2; 32]).unwrap(), NameClaim::Taken);
    }

    #[test]
    fn refuses_a_damaged_database_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SqliteStore::FILE_NAME);
        let garbage: Vec<u8> = (0..8192_u32).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(&path, &garbage).unwrap();
        let error = SqliteStore::open(dir.path()).err().expect("refused");
        assert!(matches!(error, StoreError::Damaged { .. }), "{error}");
        assert!(error.to_string().contains("backup"), "{error}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "never silently replaced"
        );
    }

    #[test]
    fn a_released_name_can_be_claimed_by_a_new_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store.claim_name("ann", &[1; 32]).unwrap();
        assert!(store.release_name("ann").unwrap());
        assert!(!store.release_name("ann").unwrap());
        assert_eq!(
            store.claim_name("ann", &[2; 32]).unwrap(),
            NameClaim::Claimed
        );
    }

    #[test]
    fn verifies_a_name_without_claiming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.verify_name("ann", &[1; 32]).unwrap(), None);
        assert_eq!(store.verify_name("ann", &[1; 32]).unwrap(), None);
        store.claim_name("ann", &[1; 32]).unwrap();
        assert_eq!(
            store.verify_name("ann", &[1; 32]).unwrap(),
            Some(NameClaim::Verified)
        );
        assert_eq!(
            store.verify_name("ann", &[2; 32]).unwrap(),
            Some(NameClaim::Taken)
        );
    }

    /// A store with `ann` (admin of `rust`), `bob` (asking to join it) and
    /// `cat` (in no group), all last seen at 1000, and `rust` created at 1.
    fn three_names(dir: &Path) -> SqliteStore {
        let store = SqliteStore::open(dir).unwrap();
        for (i, name) in ["ann", "bob", "cat"].into_iter().enumerate() {
            store.claim_name(name, &[i as u8; 32]).unwrap();
        }
        store
            .apply(
                1,
                &[
                    Change::CreateGroup {
                        group: "rust".into(),
                        admin: "ann".into(),
                    },
                    Change::AddRequest {
                        group: "rust".into(),
                        name: "bob".into(),
                    },
                ],
            )
            .unwrap();
        let names = ["ann", "bob", "cat"].map(String::from);
        lock(&store.writer)
            .conn
            .execute("UPDATE users SET last_seen_ms = 0", [])
            .unwrap();
        store.mark_seen(&names, 1000).unwrap();
        store
    }

    #[test]
    fn lists_and_releases_names_in_no_group_not_seen_lately() {
        let dir = tempfile::tempdir().unwrap();
        let store = three_names(dir.path());
        assert!(store.unused_names(1000).unwrap().is_empty());
        assert_eq!(
            store.unused_names(1001).unwrap(),
            [UnusedName {
                name: "cat".into(),
                last_seen_ms: 1000
            }]
        );
        // Seen again later: no longer unused by that cut-off.
        store.mark_seen(&["cat".into()], 2000).unwrap();
        store.mark_seen(&["cat".into()], 1500).unwrap();
        assert!(store.unused_names(2000).unwrap().is_empty());
        assert_eq!(store.release_unused_names(2001).unwrap(), ["cat"]);
        assert_eq!(store.verify_name("cat", &[2; 32]).unwrap(), None);
        assert_eq!(
            store.verify_name("bob", &[1; 32]).unwrap(),
            Some(NameClaim::Verified),
            "a pending request keeps the name"
        );
    }

    #[test]
    fn a_group_is_idle_until_a_member_connects_or_it_logs_something() {
        let dir = tempfile::tempdir().unwrap();
        let store = three_names(dir.path());
        let idle = store.idle_groups(1001).unwrap();
        assert_eq!(
            idle,
            [IdleGroup {
                name: "rust".into(),
                admin: "ann".into(),
                members: 1,
                active_ms: 1000
            }]
        );
        assert!(store.idle_groups(1000).unwrap().is_empty());
        store.apply(5000, &[post("rust", "ann", "hi")]).unwrap();
        assert!(store.idle_groups(5000).unwrap().is_empty());
        assert_eq!(store.idle_groups(5001).unwrap()[0].active_ms, 5000);
    }

    #[test]
    fn closing_a_group_removes_everything_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = three_names(dir.path());
        let file = FileInfo {
            id: "f1".into(),
            name: "notes.txt".into(),
            size: 3,
            blake3: vec![0; 32],
        };
        let keep = Change::CreateGroup {
            group: "go".into(),
            admin: "cat".into(),
        };
        store
            .apply(
                2,
                &[
                    keep,
                    post("rust", "ann", "hi"),
                    Change::PostFile {
                        group: "rust".into(),
                        from: "ann".into(),
                        file: file.clone(),
                    },
                ],
            )
            .unwrap();
        let closed = store.close_group("rust").unwrap().unwrap();
        assert_eq!((closed.members, closed.entries), (1, 3));
        assert_eq!(
            closed.files.iter().map(|f| &f.info).collect::<Vec<_>>(),
            [&file]
        );
        assert_eq!(store.load_group("rust").unwrap(), None);
        assert!(store.read_log("rust", 0, 10).unwrap().is_empty());
        assert!(store.files().unwrap().is_empty());
        assert_eq!(store.close_group("rust").unwrap(), None);
        assert!(store.load_group("go").unwrap().is_some());
        // The name is free to start it afresh, at seq 1.
        let created = store
            .apply(
                3,
                &[Change::CreateGroup {
                    group: "rust".into(),
                    admin: "bob".into(),
                }],
            )
            .unwrap();
        assert_eq!(created[0].as_ref().unwrap().seq, 1);
        // Without a membership or request left, ann's name counts as unused.
        assert_eq!(
            store
                .unused_names(1001)
                .unwrap()
                .into_iter()
                .map(|n| n.name)
                .collect::<Vec<_>>(),
            ["ann"]
        );
    }

    #[test]
    fn an_exclusive_store_holds_off_another_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = SqliteStore::open_exclusive(dir.path()).unwrap();
        assert!(matches!(
            SqliteStore::open_exclusive(dir.path()),
            Err(StoreError::InUse { .. })
        ));
        SqliteStore::open(dir.path()).expect("a plain open is not held off");
        drop(first);
        SqliteStore::open_exclusive(dir.path()).unwrap();
    }

    #[test]
    fn names_from_before_last_seen_count_from_their_creation() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute(
            "INSERT INTO users (name, secret_hash, created_ms) VALUES ('old', x'00', 42)",
            [],
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.unused_names(43).unwrap()[0].last_seen_ms, 42);
    }

    #[test]
    fn refuses_a_foreign_database() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER)")
            .unwrap();
        drop(conn);
        assert!(matches!(
            SqliteStore::open(dir.path()),
            Err(StoreError::Foreign { .. })
        ));
    }
}
