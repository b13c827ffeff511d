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
//!
//! Text messages are indexed for search (FTS5, see
//! `migrations/0005_conversations.sql`): the index keeps each message's
//! words and where it is in the log, not its text, and its rows are in time
//! order, so newest first needs no sort. A commit does not index its own
//! messages: that tripled the pages it wrote, and so the time its fsync
//! takes, which every sender waits for. They wait in [`Unindexed`] until the
//! background thread indexes them in a batch (or a search, which indexes
//! what waits first).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::{
    Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior, params,
    types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef},
};

use super::{
    Change, ClosedGroup, Contents, ConversationRecord, Disk, FileRecord, GroupRecord, IdleGroup,
    Maintenance, MemberRecord, NameClaim, Store, StoreError, UnusedName, now_ms,
};
use crate::{
    protocol::{
        Body, ConvId, ConvKind, FileInfo, JoinRequest, LogEntry, Seq, direct_peer, mentions,
    },
    sync::lock,
};

/// Marks the file as ours (`PRAGMA application_id`): "PCCT".
const APPLICATION_ID: i64 = 0x5043_4354;

/// Schema migrations, numbered files run in order; `PRAGMA user_version`
/// counts how many have run.
const MIGRATIONS: &[Migration] = &[
    Migration::sql(include_str!("migrations/0001_groups.sql")),
    Migration::sql(include_str!("migrations/0002_files.sql")),
    Migration::sql(include_str!("migrations/0003_read_grants.sql")),
    Migration::sql(include_str!("migrations/0004_last_seen.sql")),
    Migration {
        sql: include_str!("migrations/0005_conversations.sql"),
        then: Some(index_log),
    },
    Migration::sql(include_str!("migrations/0006_index_later.sql")),
];

/// One schema step: its SQL, and the work in Rust that must follow it in
/// the same transaction (for data SQL cannot read, such as log bodies).
struct Migration {
    sql: &'static str,
    then: Option<MigrationStep>,
}

type MigrationStep = fn(&Transaction<'_>) -> Result<(), StoreError>;

impl Migration {
    const fn sql(sql: &'static str) -> Self {
        Self { sql, then: None }
    }
}

/// How often the background thread indexes what waits and checkpoints
/// the WAL.
const MAINTAIN_EVERY: Duration = Duration::from_millis(100);
/// WAL size (in pages) at which the writer checkpoints in the commit path:
/// a safety net for when background checkpoints cannot keep up.
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

pub struct SqliteStore {
    path: PathBuf,
    /// Shared with the background thread, which indexes under it.
    writer: Arc<Mutex<Writer>>,
    reader: Mutex<Connection>,
    /// Stops the background thread when dropped.
    maintainer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// The locked [`SqliteStore::LOCK_FILE`] of an exclusive store; closing
    /// it (on drop, or when the process dies) unlocks it.
    exclusive: Option<std::fs::File>,
    /// Uploaded files' contents, in [`SqliteStore::FILES_DIR`].
    contents: Disk,
}

struct Writer {
    conn: Connection,
    /// Newest sequence number per group, so appends need no query.
    heads: HashMap<String, Seq>,
    /// Writes the search index, with `synchronous = NORMAL`: no fsync of
    /// its own, as the next commit's fsync of the WAL carries its pages,
    /// and what a crash loses the next server indexes again from the log.
    /// Used only under the writer's lock, so the two never wait for each
    /// other inside SQLite.
    indexer: Connection,
    /// Committed text messages not in the search index yet.
    unindexed: Unindexed,
}

/// Text messages waiting for the search index, in commit order (so the
/// index's rows stay in time order).
#[derive(Debug, Default)]
struct Unindexed {
    texts: Vec<(String, Seq, String)>,
}

impl Unindexed {
    fn push(&mut self, group: &str, seq: Seq, text: &str) {
        self.texts.push((group.to_owned(), seq, text.to_owned()));
    }

    /// `group` was closed: what waits of it must never be indexed (a
    /// conversation opened again under the name starts at seq 1).
    fn forget(&mut self, group: &str) {
        self.texts.retain(|(g, _, _)| g != group);
    }
}

impl Writer {
    /// Indexes what waits, in one transaction that also moves each
    /// conversation's `indexed` mark. On an error nothing is indexed and
    /// everything still waits.
    fn index_waiting(&mut self) -> Result<(), StoreError> {
        if self.unindexed.texts.is_empty() {
            return Ok(());
        }
        let tx = self.indexer.transaction()?;
        let mut marks = HashMap::new();
        for (group, seq, text) in &self.unindexed.texts {
            index_text(&tx, group, *seq, text)?;
            marks.insert(group, *seq);
        }
        for (group, seq) in marks {
            tx.prepare_cached("UPDATE groups SET indexed = ?2 WHERE name = ?1")?
                .execute(params![group, seq])?;
        }
        tx.commit()?;
        self.unindexed.texts.clear();
        Ok(())
    }
}

impl SqliteStore {
    /// The database file inside a data directory.
    pub const FILE_NAME: &'static str = "pyconchat.db";
    /// The directory of uploaded files, beside the database.
    pub const FILES_DIR: &'static str = "files";

    /// The lock file beside the database; see [`SqliteStore::open_exclusive`].
    pub const LOCK_FILE: &'static str = "pyconchat.lock";

    /// Name of the background thread that indexes and checkpoints: server
    /// work, which the bench counts as such.
    pub const THREAD: &'static str = "pcc-store";

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
        let mut conn = writing(Connection::open(&path)?);
        configure(&conn).map_err(damaged)?;
        migrate(&mut conn, &path).map_err(damaged)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let reader = Connection::open(&path)?;
        configure(&reader).map_err(damaged)?;
        let indexer = writing(Connection::open(&path)?);
        configure(&indexer)?;
        indexer.pragma_update(None, "synchronous", "NORMAL")?;
        let writer = Arc::new(Mutex::new(Writer {
            conn,
            heads: HashMap::new(),
            indexer,
            unindexed: Unindexed::default(),
        }));
        let checkpoints = Connection::open(&path)?;
        configure(&checkpoints)?;
        let (stop, stopped) = mpsc::channel();
        let thread = {
            let writer = writer.clone();
            std::thread::Builder::new()
                .name(Self::THREAD.into())
                .spawn(move || maintain_until_stopped(&writer, &checkpoints, &stopped))
                .map_err(StoreError::Thread)?
        };
        Ok(Self {
            path,
            writer,
            reader: Mutex::new(reader),
            maintainer: Some((stop, thread)),
            exclusive: None,
            contents: Disk::new(data_dir.join(Self::FILES_DIR)),
        })
    }

    /// Opens the database as [`SqliteStore::open`] does, as its one
    /// exclusive user until dropped: the server, or an operator command that
    /// must not run beside it. Indexes for search what a crash of the last
    /// exclusive user left unindexed. Refuses with [`StoreError::InUse`] while
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
        store.index_what_a_crash_left()?;
        Ok(store)
    }

    /// Indexes the text messages after each conversation's `indexed` mark:
    /// committed but not indexed when the last exclusive user stopped (a
    /// crash). Only the exclusive user does this: a plain opener beside a
    /// running server would index what the server is about to index.
    fn index_what_a_crash_left(&self) -> Result<(), StoreError> {
        let mut writer = lock(&self.writer);
        let left = left_unindexed(&writer.conn)?;
        writer.unindexed.texts.splice(0..0, left);
        writer.index_waiting()
    }

    pub fn path(&self) -> &Path {
        &self.path
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
        writer
            .indexer
            .pragma_update(None, "max_page_count", pages)?;
        Ok(())
    }
}

impl Drop for SqliteStore {
    /// Stops the background thread and indexes what still waits, so a
    /// clean shutdown leaves nothing for the next opening.
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.maintainer.take() {
            drop(stop);
            let _ = thread.join();
        }
        if let Err(error) = lock(&self.writer).index_waiting() {
            tracing::warn!(%error, "could not index the last messages; indexed when next opened");
        }
    }
}

/// The embedded store serves the operator's commands directly; only
/// [`Maintenance::close_group`] wants the store opened with
/// [`SqliteStore::open_exclusive`].
impl Maintenance for SqliteStore {
    fn release_name(&self, name: &str) -> Result<bool, StoreError> {
        let writer = lock(&self.writer);
        Ok(writer
            .conn
            .execute("DELETE FROM users WHERE name = ?1", [name])?
            > 0)
    }

    fn unused_names(&self, before_ms: i64) -> Result<Vec<UnusedName>, StoreError> {
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

    fn release_unused_names(&self, before_ms: i64) -> Result<Vec<String>, StoreError> {
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

    fn idle_groups(&self, before_ms: i64) -> Result<Vec<IdleGroup>, StoreError> {
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

    fn close_group(&self, group: &str) -> Result<Option<ClosedGroup>, StoreError> {
        let mut writer = lock(&self.writer);
        let Writer {
            conn,
            heads,
            unindexed,
            ..
        } = &mut *writer;
        let tx = conn.transaction()?;
        let Some(closed) = delete_group(&tx, group)? else {
            return Ok(None);
        };
        tx.commit()?;
        heads.remove(group);
        unindexed.forget(group);
        Ok(Some(closed))
    }
}

/// Until the store is dropped: indexes the text messages that wait, then
/// checkpoints the WAL without blocking the writer (`PASSIVE`). A failure
/// of either is logged and retried next time: the data is safe in the log
/// and the WAL.
fn maintain_until_stopped(
    writer: &Mutex<Writer>,
    checkpoints: &Connection,
    stopped: &mpsc::Receiver<()>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(MAINTAIN_EVERY) {
        if let Err(error) = lock(writer).index_waiting() {
            tracing::warn!(%error, "indexing for search failed");
        }
        if let Err(error) = checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(%error, "background checkpoint failed");
        }
    }
}

/// The text messages after each conversation's `indexed` mark: committed
/// but not indexed when the store last closed (a crash), oldest first.
fn left_unindexed(conn: &Connection) -> Result<Vec<(String, Seq, String)>, StoreError> {
    let mut texts = Vec::new();
    each_text(
        conn,
        "SELECT l.grp, l.seq, l.body FROM groups g JOIN log l
           ON l.grp = g.name AND l.seq > g.indexed AND l.seq <= g.head
         WHERE g.indexed < g.head ORDER BY l.at_ms, l.grp, l.seq",
        |group, seq, text| {
            texts.push((group, seq, text));
            Ok(())
        },
    )?;
    Ok(texts)
}

fn create_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
        path: data_dir.to_owned(),
        source,
    })
}

/// A connection that writes: its transactions take the write lock as they
/// begin (`IMMEDIATE`), where SQLite waits out the busy timeout for a lock
/// held elsewhere for a moment. A deferred transaction that has read and
/// then writes fails at once instead ("database is locked"): SQLite cannot
/// wait there without risking a deadlock. The server met this when another
/// of the store's connections held the lock for an instant; an operator
/// command writing beside the server holds it too.
fn writing(mut conn: Connection) -> Connection {
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    conn
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
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration.sql)?;
        if let Some(then) = migration.then {
            then(&tx)?;
        }
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

    fn heads(&self, groups: &[String]) -> Result<Vec<(String, Seq)>, StoreError> {
        let conn = lock(&self.reader);
        let mut statement = conn.prepare_cached("SELECT head FROM groups WHERE name = ?1")?;
        let mut heads = Vec::new();
        for group in groups {
            if let Some(head) = statement.query_row([group], |r| r.get(0)).optional()? {
                heads.push((group.clone(), head));
            }
        }
        Ok(heads)
    }

    fn load_group(&self, group: &str) -> Result<Option<GroupRecord>, StoreError> {
        let conn = lock(&self.reader);
        let Some((kind, admin, head)) = conn
            .query_row(
                "SELECT kind, admin, head FROM groups WHERE name = ?1",
                [group],
                |r| Ok((r.get(0)?, r.get::<_, String>(1)?, r.get::<_, Seq>(2)?)),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let members = conn
            .prepare_cached(
                "SELECT name, cursor, floor, read FROM members WHERE grp = ?1 ORDER BY joined_ms, name",
            )?
            .query_map([group], |r| {
                Ok(MemberRecord {
                    name: r.get(0)?,
                    cursor: r.get(1)?,
                    floor: r.get(2)?,
                    read: r.get(3)?,
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
            kind,
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
            entries.push(LogEntry {
                seq,
                at_ms,
                from,
                body: decode_body(group, seq, &body)?,
            });
        }
        Ok(entries)
    }

    fn apply(&self, at_ms: i64, changes: &[Change]) -> Result<Vec<Option<LogEntry>>, StoreError> {
        let mut writer = lock(&self.writer);
        let Writer {
            conn,
            heads,
            unindexed,
            ..
        } = &mut *writer;
        let mut new_heads = HashMap::new();
        let mut batch = Unindexed::default();
        let tx = conn.transaction()?;
        let entries = changes
            .iter()
            .map(|change| apply_one(&tx, heads, &mut new_heads, &mut batch, at_ms, change))
            .collect::<Result<Vec<_>, _>>()?;
        for (group, head) in &new_heads {
            tx.prepare_cached("UPDATE groups SET head = ?2 WHERE name = ?1")?
                .execute(params![group, head])?;
        }
        tx.commit()?;
        heads.extend(new_heads);
        // The batch forgot what it wrote before its own closes; what waited
        // from earlier batches goes the same way.
        for change in changes {
            if let Change::CloseGroup { group } = change {
                unindexed.forget(group);
            }
        }
        unindexed.texts.append(&mut batch.texts);
        Ok(entries)
    }

    fn files_dir(&self) -> PathBuf {
        self.path.with_file_name(Self::FILES_DIR)
    }

    fn contents(&self) -> &dyn Contents {
        &self.contents
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

    fn group_files(&self, group: &str) -> Result<Vec<FileRecord>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE grp = ?1 ORDER BY at_ms, id"
        ))?;
        Ok(stmt
            .query_map([group], file_record)?
            .collect::<Result<_, _>>()?)
    }

    fn conversations_of(&self, name: &str) -> Result<Vec<ConversationRecord>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT g.name, g.kind, false FROM members m JOIN groups g ON g.name = m.grp
                WHERE m.name = ?1
             UNION ALL
             SELECT g.name, g.kind, true FROM requests r JOIN groups g ON g.name = r.grp
                WHERE r.name = ?1
             ORDER BY 1",
        )?;
        Ok(stmt
            .query_map([name], |r| {
                Ok(ConversationRecord {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    pending: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn shares_group(&self, a: &str, b: &str) -> Result<bool, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM members x
                JOIN members y ON y.grp = x.grp AND y.name = ?2
                JOIN groups g ON g.name = x.grp AND g.kind = 'group'
                WHERE x.name = ?1)",
        )?;
        Ok(stmt.query_row([a, b], |r| r.get(0))?)
    }

    fn ignores(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT name, ignored FROM ignores ORDER BY 1, 2")?;
        Ok(stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn search(
        &self,
        name: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(ConvId, LogEntry)>, StoreError> {
        let Some(words) = search_words(query) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        // What a sender was told is stored is found, indexed or not yet. If
        // indexing fails (a full disk), the search still finds the rest.
        if let Err(error) = lock(&self.writer).index_waiting() {
            tracing::warn!(%error, "search could not index the newest messages");
        }
        let reader = lock(&self.reader);
        // One snapshot, so an entry found in the index is still in the log.
        let conn = reader.unchecked_transaction()?;
        let floors = searchable(&conn, name)?;
        if floors.is_empty() {
            return Ok(Vec::new());
        }
        let mut hits = Hits {
            floors,
            limit,
            found: Vec::new(),
            below: i64::MAX,
        };
        let words_only = format!("text : ({words})");
        if hits.scan(&conn, &words_only, Some(UNNARROWED_ROWS))? && !hits.done() {
            let narrowed = format!(
                "{words_only} AND {}",
                conv_filter(hits.floors.keys().map(String::as_str))
            );
            hits.scan(&conn, &narrowed, None)?;
        }
        let mut stmt =
            conn.prepare_cached("SELECT at_ms, sender, body FROM log WHERE grp = ?1 AND seq = ?2")?;
        hits.found
            .into_iter()
            .map(|(conv, seq)| {
                let (at_ms, from, body) = stmt.query_row(params![conv, seq], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, Vec<u8>>(2)?))
                })?;
                let body = decode_body(&conv, seq, &body)?;
                Ok((
                    conv,
                    LogEntry {
                        seq,
                        at_ms,
                        from,
                        body,
                    },
                ))
            })
            .collect()
    }

    fn unread(
        &self,
        group: &str,
        name: &str,
        after: Seq,
        limit: u32,
    ) -> Result<(u32, u32), StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT seq, body FROM log WHERE grp = ?1 AND seq > ?2 AND sender <> ?3 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![group, after, name])?;
        let (mut unread, mut mentioned) = (0, 0);
        while unread < limit {
            let Some(row) = rows.next()? else { break };
            match decode_body(group, row.get(0)?, &row.get::<_, Vec<u8>>(1)?)? {
                Body::Text { text } => {
                    unread += 1;
                    mentioned += u32::from(mentions(&text, name));
                }
                Body::File { .. } => unread += 1,
                _ => {}
            }
        }
        Ok((unread, mentioned))
    }
}

/// The conversations `name` may search, with their floors: those they are a
/// member of, but not direct conversations with people they ignore.
fn searchable(conn: &Connection, name: &str) -> Result<HashMap<ConvId, Seq>, StoreError> {
    let ignored: HashSet<String> = conn
        .prepare_cached("SELECT ignored FROM ignores WHERE name = ?1")?
        .query_map([name], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut floors = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT m.grp, g.kind, m.floor FROM members m JOIN groups g ON g.name = m.grp
         WHERE m.name = ?1",
    )?;
    for row in stmt.query_map([name], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, ConvKind>(1)?,
            r.get::<_, Seq>(2)?,
        ))
    })? {
        let (conv, kind, floor) = row?;
        let ignoring = kind == ConvKind::Direct
            && direct_peer(&conv, name).is_some_and(|peer| ignored.contains(peer));
        if !ignoring {
            floors.insert(conv, floor);
        }
    }
    Ok(floors)
}

/// How many matches of the words alone a search reads before it narrows
/// them to the searcher's conversations inside the index. Narrowing costs
/// time in proportion to how much the searcher may read (about 30 ms for
/// someone who may read 1,000,000 messages), so it pays only when most
/// matches are elsewhere; most searches end within this many rows (about
/// 2 ms), as rare words have few matches and common ones fill the limit.
const UNNARROWED_ROWS: usize = 2_000;

/// Matches in the search index older than `?2`, newest first, at most `?3`
/// (-1: all). The index walks its rowids backwards, so the first rows come
/// without reading the others.
const SEARCH: &str = "SELECT rowid, grp, seq FROM search
    WHERE search MATCH ?1 AND rowid < ?2 ORDER BY rowid DESC LIMIT ?3";

/// The hits of one search so far, newest first.
struct Hits {
    /// The conversations the searcher may read, with their floors.
    floors: HashMap<ConvId, Seq>,
    limit: usize,
    found: Vec<(ConvId, Seq)>,
    /// The rowid of the last match read: the next scan goes on below it.
    below: i64,
}

impl Hits {
    /// Reads on through the matches of `expression`, at most `rows` of them
    /// (`None`: all), keeping those the searcher may read until the limit.
    /// True if it stopped at `rows`, so older matches may remain.
    fn scan(
        &mut self,
        conn: &Connection,
        expression: &str,
        rows: Option<usize>,
    ) -> Result<bool, StoreError> {
        let mut stmt = conn.prepare_cached(SEARCH)?;
        let budget = rows.map_or(-1, |rows| rows as i64);
        let mut matches = stmt.query(params![expression, self.below, budget])?;
        let mut read = 0;
        while let Some(row) = matches.next()? {
            read += 1;
            let (rowid, conv, seq): (i64, ConvId, Seq) = (row.get(0)?, row.get(1)?, row.get(2)?);
            self.below = rowid;
            if self.floors.get(&conv).is_some_and(|floor| seq > *floor) {
                self.found.push((conv, seq));
                if self.done() {
                    break;
                }
            }
        }
        Ok(rows == Some(read))
    }

    fn done(&self) -> bool {
        self.found.len() >= self.limit
    }
}

fn decode_body(group: &str, seq: Seq, body: &[u8]) -> Result<Body, StoreError> {
    rmp_serde::from_slice(body).map_err(|source| StoreError::CorruptEntry {
        group: group.to_owned(),
        seq,
        source,
    })
}

/// Every word of a search query (split at white space) as an FTS5 string,
/// so nothing a user types is read as search syntax; words without a
/// letter or digit are left out, as the index has no words like that.
/// `None` when no word is left.
fn search_words(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The token in the `conv` column of the search index naming a
/// conversation: its id in hex, one word whatever characters the id has.
fn conv_token(conv: &str) -> String {
    conv.bytes().map(|b| format!("{b:02x}")).collect()
}

/// An FTS5 expression for rows of any of these conversations.
fn conv_filter<'a>(convs: impl Iterator<Item = &'a str>) -> String {
    let tokens: Vec<String> = convs.map(|c| format!("\"{}\"", conv_token(c))).collect();
    format!("conv : ({})", tokens.join(" OR "))
}

/// Adds a text message to the search index. Called in commit order, so
/// rowids follow time.
fn index_text(tx: &Transaction<'_>, group: &str, seq: Seq, text: &str) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO search (text, conv, grp, seq) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![text, conv_token(group), group, seq])?;
    Ok(())
}

/// Indexes the text messages already in the log, oldest first (migration
/// 0005).
fn index_log(tx: &Transaction<'_>) -> Result<(), StoreError> {
    each_text(
        tx,
        "SELECT grp, seq, body FROM log ORDER BY at_ms, grp, seq",
        |group, seq, text| index_text(tx, &group, seq, &text),
    )
}

/// Calls `f` with each text message among the log rows `sql` selects (as
/// `grp, seq, body`), in its order.
fn each_text(
    conn: &Connection,
    sql: &str,
    mut f: impl FnMut(String, Seq, String) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (group, seq): (String, Seq) = (row.get(0)?, row.get(1)?);
        if let Body::Text { text } = decode_body(&group, seq, &row.get::<_, Vec<u8>>(2)?)? {
            f(group, seq, text)?;
        }
    }
    Ok(())
}

/// Deletes a conversation with its members, requests, log, search rows and
/// file records; `None` if there is no such conversation.
fn delete_group(tx: &Transaction<'_>, group: &str) -> Result<Option<ClosedGroup>, StoreError> {
    let files = tx
        .prepare_cached(&format!(
            "DELETE FROM files WHERE grp = ?1 RETURNING {FILE_COLUMNS}"
        ))?
        .query_map([group], file_record)?
        .collect::<Result<Vec<_>, _>>()?;
    tx.prepare_cached("DELETE FROM search WHERE search MATCH ?1")?
        .execute([conv_filter(std::iter::once(group))])?;
    let entries = tx.execute("DELETE FROM log WHERE grp = ?1", [group])?;
    tx.execute("DELETE FROM requests WHERE grp = ?1", [group])?;
    let members = tx.execute("DELETE FROM members WHERE grp = ?1", [group])?;
    if tx.execute("DELETE FROM groups WHERE name = ?1", [group])? == 0 {
        return Ok(None);
    }
    Ok(Some(ClosedGroup {
        members,
        entries,
        files,
    }))
}

/// Stored as `groups.kind`.
impl ToSql for ConvKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(match self {
            ConvKind::Group => "group",
            ConvKind::Direct => "direct",
        }))
    }
}

impl FromSql for ConvKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "group" => Ok(ConvKind::Group),
            "direct" => Ok(ConvKind::Direct),
            other => Err(FromSqlError::Other(
                format!("unknown conversation kind {other:?}").into(),
            )),
        }
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

fn insert_group(
    tx: &Transaction<'_>,
    group: &str,
    kind: ConvKind,
    admin: &str,
    members: &[&str],
    at_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO groups (name, kind, admin, head, created_ms) VALUES (?1, ?2, ?3, 0, ?4)",
        params![group, kind, admin, at_ms],
    )?;
    for name in members {
        tx.execute(
            "INSERT INTO members (grp, name, cursor, joined_ms) VALUES (?1, ?2, 0, ?3)",
            params![group, name, at_ms],
        )?;
    }
    Ok(())
}

/// Runs one change inside the batch's transaction. `new_heads` holds the
/// heads this batch moved and `unindexed` its text messages; they reach
/// the writer only after the commit.
fn apply_one(
    tx: &Transaction<'_>,
    heads: &HashMap<String, Seq>,
    new_heads: &mut HashMap<String, Seq>,
    unindexed: &mut Unindexed,
    at_ms: i64,
    change: &Change,
) -> Result<Option<LogEntry>, StoreError> {
    match change {
        Change::CreateGroup { group, admin } => {
            insert_group(tx, group, ConvKind::Group, admin, &[admin], at_ms)?;
        }
        Change::CreateDirect {
            group,
            opener,
            peer,
        } => {
            insert_group(tx, group, ConvKind::Direct, "", &[opener, peer], at_ms)?;
        }
        Change::AddRequest { group, name } => {
            tx.execute(
                "INSERT OR IGNORE INTO requests (grp, name, at_ms) VALUES (?1, ?2, ?3)",
                params![group, name, at_ms],
            )?;
        }
        Change::RejectRequest { group, name } | Change::WithdrawRequest { group, name } => {
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
            // What lies before the floor cannot be read, so is never unread.
            tx.execute(
                "INSERT INTO members (grp, name, cursor, floor, read, joined_ms)
                 VALUES (?1, ?2, ?3, ?3, ?3, ?4)",
                params![group, name, floor, at_ms],
            )?;
        }
        Change::Kick { group, name, .. } | Change::Leave { group, name } => {
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
        Change::SetRead { group, name, seq } => {
            tx.prepare_cached(
                "UPDATE members SET read = max(read, ?3) WHERE grp = ?1 AND name = ?2",
            )?
            .execute(params![group, name, seq])?;
        }
        Change::CloseGroup { group } => {
            delete_group(tx, group)?;
            unindexed.forget(group);
            // A group opened again under this name starts afresh.
            new_heads.insert(group.clone(), 0);
        }
        Change::Ignore { name, ignored } => {
            tx.execute(
                "INSERT OR IGNORE INTO ignores (name, ignored, at_ms) VALUES (?1, ?2, ?3)",
                params![name, ignored, at_ms],
            )?;
        }
        Change::Unignore { name, ignored } => {
            tx.execute(
                "DELETE FROM ignores WHERE name = ?1 AND ignored = ?2",
                params![name, ignored],
            )?;
        }
    }
    let Some((from, body)) = change.log_body() else {
        return Ok(None);
    };
    let group = change
        .group()
        .expect("every change with a log entry names its conversation");
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
    if let Body::Text { text } = &body {
        unindexed.push(group, seq, text);
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
        conn.execute_batch(MIGRATIONS[0].sql).unwrap();
        conn.execute_batch(MIGRATIONS[1].sql).unwrap();
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

    /// What a search finds, as (conversation, text).
    fn found(store: &SqliteStore, name: &str, query: &str) -> Vec<(String, String)> {
        store
            .search(name, query, 100)
            .unwrap()
            .into_iter()
            .map(|(conv, entry)| match entry.body {
                Body::Text { text } => (conv, text),
                other => panic!("search found {other:?}"),
            })
            .collect()
    }

    fn hit(conv: &str, text: &str) -> (String, String) {
        (conv.into(), text.into())
    }

    #[test]
    fn search_reads_newest_first_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let conn = lock(&store.reader);
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {SEARCH}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(params!["x", i64::MAX, 10], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().all(|step| !step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }

    /// A database as the schema before conversations (version 4) left it.
    fn version_4_database(dir: &Path) {
        let conn = Connection::open(dir.join(SqliteStore::FILE_NAME)).unwrap();
        for migration in &MIGRATIONS[..4] {
            conn.execute_batch(migration.sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO groups (name, admin, head, created_ms) VALUES ('rust', 'ann', 4, 1), ('go', 'bob', 1, 1);
             INSERT INTO members (grp, name, cursor, floor, joined_ms)
                VALUES ('rust', 'ann', 4, 0, 1), ('rust', 'bob', 3, 1, 2), ('go', 'bob', 0, 0, 1);",
        )
        .unwrap();
        let entries = [
            ("rust", 1, 10, "ann", Body::GroupCreated),
            (
                "rust",
                2,
                20,
                "ann",
                Body::Text {
                    text: "first rust words".into(),
                },
            ),
            (
                "go",
                1,
                25,
                "bob",
                Body::Text {
                    text: "first go words".into(),
                },
            ),
            (
                "rust",
                3,
                30,
                "bob",
                Body::MemberJoined { name: "bob".into() },
            ),
            (
                "rust",
                4,
                40,
                "bob",
                Body::Text {
                    text: "later rust words".into(),
                },
            ),
        ];
        for (group, seq, at_ms, from, body) in entries {
            conn.execute(
                "INSERT INTO log (grp, seq, at_ms, sender, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    group,
                    seq,
                    at_ms,
                    from,
                    rmp_serde::to_vec_named(&body).unwrap()
                ],
            )
            .unwrap();
        }
    }

    #[test]
    fn a_version_4_database_gains_conversations_and_search() {
        let dir = tempfile::tempdir().unwrap();
        version_4_database(dir.path());
        let store = SqliteStore::open(dir.path()).unwrap();
        let rust = store.load_group("rust").unwrap().unwrap();
        assert_eq!(rust.kind, ConvKind::Group);
        assert_eq!(
            rust.members
                .iter()
                .map(|m| (m.name.as_str(), m.read))
                .collect::<Vec<_>>(),
            [("ann", 4), ("bob", 3)],
            "read up to what was delivered"
        );
        assert_eq!(
            found(&store, "bob", "words"),
            [
                hit("rust", "later rust words"),
                hit("go", "first go words"),
                hit("rust", "first rust words"),
            ]
        );
        // New messages come after the old ones, whatever their group.
        store.apply(50, &[post("go", "bob", "new words")]).unwrap();
        store
            .apply(51, &[post("rust", "ann", "newer words")])
            .unwrap();
        assert_eq!(
            found(&store, "bob", "words")[..3],
            [
                hit("rust", "newer words"),
                hit("go", "new words"),
                hit("rust", "later rust words"),
            ]
        );
        store
            .apply(
                52,
                &[Change::CloseGroup {
                    group: "rust".into(),
                }],
            )
            .unwrap();
        assert_eq!(
            found(&store, "bob", "words"),
            [hit("go", "new words"), hit("go", "first go words")]
        );
    }

    fn create(group: &str, admin: &str) -> Change {
        Change::CreateGroup {
            group: group.into(),
            admin: admin.into(),
        }
    }

    fn index_rows(store: &SqliteStore) -> i64 {
        lock(&store.reader)
            .query_row("SELECT count(*) FROM search", [], |r| r.get(0))
            .unwrap()
    }

    /// Stops the background thread, so only what the test does indexes.
    fn without_background_thread(store: &mut SqliteStore) {
        let (stop, thread) = store.maintainer.take().unwrap();
        drop(stop);
        thread.join().unwrap();
    }

    /// Another connection holds the write lock for a moment (in the server
    /// another of the store's own connections can, for an instant; an
    /// operator command beside it can too): a write waits for it, within
    /// the busy timeout, rather than failing with "database is locked"
    /// after it has read.
    #[test]
    fn a_write_waits_for_a_write_lock_held_elsewhere_for_a_moment() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let other = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            other.execute_batch("COMMIT").unwrap();
        });
        assert_eq!(
            store.claim_name("ann", &[1; 32]).unwrap(),
            NameClaim::Claimed
        );
        release.join().unwrap();
    }

    /// A new store without its background thread, and its directory.
    fn store_indexing_only_when_told() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        without_background_thread(&mut store);
        (dir, store)
    }

    #[test]
    fn a_commit_leaves_its_messages_to_be_indexed_and_a_search_finds_them_anyway() {
        let (_dir, store) = store_indexing_only_when_told();
        store
            .apply(
                1,
                &[create("rust", "ann"), post("rust", "ann", "first words")],
            )
            .unwrap();
        store
            .apply(2, &[post("rust", "ann", "second words")])
            .unwrap();
        assert_eq!(index_rows(&store), 0, "the commits wrote no index pages");
        assert_eq!(
            found(&store, "ann", "words"),
            [hit("rust", "second words"), hit("rust", "first words")]
        );
        assert_eq!(index_rows(&store), 2);
        let indexed: Seq = lock(&store.reader)
            .query_row("SELECT indexed FROM groups WHERE name = 'rust'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(indexed, 3, "the mark is the newest entry indexed");
    }

    #[test]
    fn messages_a_crash_left_unindexed_are_indexed_by_the_next_server_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .apply(
                1,
                &[
                    create("rust", "ann"),
                    create("go", "ann"),
                    post("rust", "ann", "one word"),
                ],
            )
            .unwrap();
        store.apply(2, &[post("go", "ann", "two word")]).unwrap();
        store
            .apply(3, &[post("rust", "ann", "three word")])
            .unwrap();
        drop(store);
        // As if the process died after the commits, before any indexing.
        let conn = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).unwrap();
        conn.execute_batch("DELETE FROM search; UPDATE groups SET indexed = 0;")
            .unwrap();
        drop(conn);
        // A command beside the server leaves that to the server.
        let beside = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(index_rows(&beside), 0, "a plain opener indexes nothing");
        drop(beside);
        let mut store = SqliteStore::open_exclusive(dir.path()).unwrap();
        without_background_thread(&mut store);
        assert_eq!(index_rows(&store), 3, "indexed while opening");
        assert_eq!(
            found(&store, "ann", "word"),
            [
                hit("rust", "three word"),
                hit("go", "two word"),
                hit("rust", "one word"),
            ]
        );
    }

    #[test]
    fn a_full_disk_keeps_messages_waiting_and_search_finds_the_rest_until_there_is_room() {
        let (_dir, store) = store_indexing_only_when_told();
        store
            .apply(
                1,
                &[create("rust", "ann"), post("rust", "ann", "old words")],
            )
            .unwrap();
        assert_eq!(found(&store, "ann", "words"), [hit("rust", "old words")]);
        // Words enough that their index needs pages the capped file refuses.
        let long: String = (0..4000).map(|i| format!("w{i:05} ")).collect::<String>() + "words";
        store.apply(2, &[post("rust", "ann", &long)]).unwrap();
        let size: u64 = lock(&store.reader)
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .unwrap();
        store.set_max_bytes(size).unwrap();
        assert_eq!(
            found(&store, "ann", "words"),
            [hit("rust", "old words")],
            "the search still answers"
        );
        assert_eq!(lock(&store.writer).unindexed.texts.len(), 1, "still waits");
        store.set_max_bytes(0).unwrap();
        assert_eq!(
            found(&store, "ann", "words"),
            [hit("rust", &long), hit("rust", "old words")]
        );
    }

    #[test]
    fn what_waits_of_a_closed_conversation_is_never_indexed() {
        let (_dir, store) = store_indexing_only_when_told();
        let close = Change::CloseGroup {
            group: "rust".into(),
        };
        // Closed and opened again in one batch, then in batches of their own.
        store
            .apply(
                1,
                &[
                    create("rust", "ann"),
                    post("rust", "ann", "gone words"),
                    close.clone(),
                    create("rust", "bob"),
                    post("rust", "bob", "kept words"),
                ],
            )
            .unwrap();
        store.apply(2, &[post("rust", "bob", "also gone")]).unwrap();
        store.apply(3, std::slice::from_ref(&close)).unwrap();
        store
            .apply(
                4,
                &[create("rust", "bob"), post("rust", "bob", "new words")],
            )
            .unwrap();
        assert_eq!(found(&store, "bob", "words"), [hit("rust", "new words")]);
        assert_eq!(found(&store, "bob", "gone"), []);
        assert_eq!(index_rows(&store), 1);
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
