//! Durable state: identities, groups, membership, join requests, the
//! per-group message log, delivery cursors and the records of stored files
//! (whose contents live in [`Store::files_dir`]).
//!
//! The server talks to storage only through [`Store`], a deliberately narrow,
//! synchronous trait: the server calls it from `spawn_blocking`, and every
//! write goes through [`Store::apply`] as one batch so a backend can commit
//! many changes with one flush (group commit). The embedded [`SqliteStore`]
//! is the default; another backend (PostgreSQL for several nodes) implements
//! the same trait and the hub does not change.

mod sqlite;

pub use sqlite::SqliteStore;

use std::path::PathBuf;

use crate::protocol::{Body, FileInfo, JoinRequest, LogEntry, Seq};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is in use by another pyconchat process (a running server?); stop it first")]
    InUse { path: std::path::PathBuf },
    #[error("cannot start the checkpoint thread: {0}")]
    Thread(std::io::Error),
    #[error("{path} is not a PyconChat database (application id {found:#x}); refusing to touch it")]
    Foreign {
        path: std::path::PathBuf,
        found: i64,
    },
    #[error(
        "{path} is damaged ({source}); restore it from a backup or move it aside to start afresh"
    )]
    Damaged {
        path: std::path::PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "{path} has schema version {found}, newer than this build understands ({known}); upgrade PyconChat"
    )]
    TooNew {
        path: std::path::PathBuf,
        found: i64,
        known: i64,
    },
    #[error("stored log entry {group}#{seq} is unreadable: {source}")]
    CorruptEntry {
        group: String,
        seq: Seq,
        source: rmp_serde::decode::Error,
    },
}

impl StoreError {
    /// Whether a write failed for want of room: a full disk, or the cap
    /// the operator set on the database.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}

/// Whether a secret may use a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameClaim {
    /// The name was free and is now pinned to this secret.
    Claimed,
    /// The name was already pinned to this secret.
    Verified,
    /// The name is pinned to another secret.
    Taken,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub admin: String,
    pub members: Vec<MemberRecord>,
    /// Oldest first.
    pub requests: Vec<JoinRequest>,
    /// The newest sequence number in the log (0 when empty).
    pub head: Seq,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub name: String,
    /// The last sequence number delivered to this member.
    pub cursor: Seq,
    /// The member may read the log after this sequence number: where their
    /// current membership began.
    pub floor: Seq,
}

/// One durable change. Changes that other members should see in the chat
/// also append a log entry (see [`Change::log_body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateGroup {
        group: String,
        admin: String,
    },
    AddRequest {
        group: String,
        name: String,
    },
    RejectRequest {
        group: String,
        name: String,
    },
    /// Turns a pending request into membership. The member may read the
    /// log after `floor` (the recent history a newcomer is given), and
    /// their delivery cursor starts there.
    Approve {
        group: String,
        name: String,
        by: String,
        floor: Seq,
    },
    Kick {
        group: String,
        name: String,
        by: String,
    },
    ChangeAdmin {
        group: String,
        from: String,
        to: String,
    },
    Post {
        group: String,
        from: String,
        text: String,
    },
    /// Records a file whose contents are already in place under
    /// [`Store::files_dir`], and announces it in the log.
    PostFile {
        group: String,
        from: String,
        file: FileInfo,
    },
    /// Moves a member's delivery cursor forward (never back).
    SaveCursor {
        group: String,
        name: String,
        seq: Seq,
    },
}

impl Change {
    pub fn group(&self) -> &str {
        match self {
            Change::CreateGroup { group, .. }
            | Change::AddRequest { group, .. }
            | Change::RejectRequest { group, .. }
            | Change::Approve { group, .. }
            | Change::Kick { group, .. }
            | Change::ChangeAdmin { group, .. }
            | Change::Post { group, .. }
            | Change::PostFile { group, .. }
            | Change::SaveCursor { group, .. } => group,
        }
    }

    /// The log entry this change appends: who caused it and what it says.
    pub fn log_body(&self) -> Option<(&str, Body)> {
        match self {
            Change::CreateGroup { admin, .. } => Some((admin, Body::GroupCreated)),
            Change::Approve { name, by, .. } => {
                Some((by, Body::MemberJoined { name: name.clone() }))
            }
            Change::Kick { name, by, .. } => Some((by, Body::MemberKicked { name: name.clone() })),
            Change::ChangeAdmin { from, to, .. } => {
                Some((from, Body::AdminChanged { to: to.clone() }))
            }
            Change::Post { from, text, .. } => Some((from, Body::Text { text: text.clone() })),
            Change::PostFile { from, file, .. } => Some((from, Body::File { file: file.clone() })),
            Change::AddRequest { .. }
            | Change::RejectRequest { .. }
            | Change::SaveCursor { .. } => None,
        }
    }
}

/// A stored file's record; its contents are `files_dir()/id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub group: String,
    /// The log entry that announced it.
    pub seq: Seq,
    pub info: FileInfo,
    pub from: String,
    /// When it was announced (Unix ms); retention counts from here.
    pub at_ms: i64,
}

/// A name in no group and not connected for a while; see
/// [`SqliteStore::unused_names`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedName {
    pub name: String,
    /// When it was last connected (Unix ms).
    pub last_seen_ms: i64,
}

/// A group with no activity for a while; see [`SqliteStore::idle_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleGroup {
    pub name: String,
    pub admin: String,
    pub members: usize,
    /// The last entry in its log or the last time a member was connected,
    /// whichever is later (its creation if neither; Unix ms).
    pub active_ms: i64,
}

/// What [`SqliteStore::close_group`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedGroup {
    pub members: usize,
    pub entries: usize,
    /// The files' records; their contents are still to be deleted.
    pub files: Vec<FileRecord>,
}

/// Durable storage for the server. Implementations are called from blocking
/// threads and must be safe to share between them.
pub trait Store: Send + Sync + 'static {
    /// Pins `name` to `secret_hash` if nobody has it yet, atomically.
    fn claim_name(&self, name: &str, secret_hash: &[u8; 32]) -> Result<NameClaim, StoreError>;

    /// How `secret_hash` stands with `name` ([`NameClaim::Verified`] or
    /// [`NameClaim::Taken`]), changing nothing; `None` while nobody holds
    /// the name. Lets the server limit new names before one is created.
    fn verify_name(
        &self,
        name: &str,
        secret_hash: &[u8; 32],
    ) -> Result<Option<NameClaim>, StoreError>;

    /// Records that these names were connected at `at_ms`, so the operator
    /// can tell unused names and idle groups apart.
    fn mark_seen(&self, names: &[String], at_ms: i64) -> Result<(), StoreError>;

    fn load_group(&self, group: &str) -> Result<Option<GroupRecord>, StoreError>;

    /// Up to `limit` log entries with sequence numbers after `after`, in order.
    fn read_log(&self, group: &str, after: Seq, limit: usize) -> Result<Vec<LogEntry>, StoreError>;

    /// Applies `changes` in order as one durable transaction stamped `at_ms`:
    /// all of them or none. Returns, for each change, the log entry it
    /// appended. When this returns `Ok`, the changes survive a crash.
    fn apply(&self, at_ms: i64, changes: &[Change]) -> Result<Vec<Option<LogEntry>>, StoreError>;

    /// The directory that holds uploaded files' contents, one file per
    /// [`FileRecord`], named by its id.
    fn files_dir(&self) -> PathBuf;

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError>;

    /// Every stored file, oldest first.
    fn files(&self) -> Result<Vec<FileRecord>, StoreError>;

    /// Forgets these files; returns the records that were there. The caller
    /// deletes their contents afterwards.
    fn delete_files(&self, ids: &[String]) -> Result<Vec<FileRecord>, StoreError>;
}

/// Milliseconds since the Unix epoch: the timestamp of log entries and requests.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
