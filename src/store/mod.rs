//! Durable state: identities, conversations (groups and direct
//! conversations), membership, join requests, the per-conversation message
//! log with its search index, delivery cursors, read positions, ignores and
//! the records of stored files, whose contents are behind [`Contents`]
//! ([`Store::contents`]).
//!
//! The server talks to storage only through [`Store`], a deliberately narrow,
//! synchronous trait: the server calls it from `spawn_blocking`, and every
//! write goes through [`Store::apply`] as one batch so a backend can commit
//! many changes with one flush (group commit). The embedded [`SqliteStore`]
//! is the default; [`PostgresStore`] implements the same trait for several
//! servers on one database, and the hub does not change. The operator's
//! commands reach either through [`Maintenance`].

mod contents;
mod postgres;
mod sqlite;

pub use contents::{Contents, Disk};
pub use postgres::{Migrated, PostgresStore, shown_url};
pub use sqlite::SqliteStore;

use std::path::PathBuf;

use crate::protocol::{Body, ConvId, ConvKind, FileInfo, JoinRequest, LogEntry, Seq};

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
    #[error("database error: {0}")]
    Postgres(tokio_postgres::Error),
    #[error("{url} is not a PostgreSQL URL ({source})")]
    BadUrl {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("cannot connect to the database at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the database at {url} has no PyconChat schema; create it with `pyconchat migrate --store URL`"
    )]
    NoSchema { url: String },
    #[error(
        "the database at {url} has schema version {found}, older than this build's {known}; upgrade it with `pyconchat migrate --store URL`"
    )]
    OldSchema {
        url: String,
        found: usize,
        known: usize,
    },
    #[error(
        "the database at {url} has schema version {found}, newer than this build understands ({known}); upgrade PyconChat"
    )]
    NewSchema {
        url: String,
        found: usize,
        known: usize,
    },
    /// A file's contents could not be written, read or deleted on disk.
    #[error("{path}: {source}")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the database client: {0}")]
    Runtime(std::io::Error),
    /// The database cannot be reached right now; nothing was changed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Another server changed what a batch took for granted; nothing was
    /// changed, and the same request may succeed when tried again.
    #[error("{0}; nothing was saved")]
    Conflict(String),
}

impl StoreError {
    /// Whether a write failed for want of room: a full disk, or the cap
    /// the operator set on the database.
    pub fn is_full(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            StoreError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL)
            }
            StoreError::Files { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
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

/// A conversation as stored: a group, or a direct conversation (whose
/// admin is empty and whose two people are its members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub kind: ConvKind,
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
    /// The newest entry the member has read, on any connection; unread
    /// counts start after it.
    pub read: Seq,
}

/// A conversation someone is in, or asked to join; see
/// [`Store::conversations_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: ConvId,
    pub kind: ConvKind,
    /// A join request waits for the admin; not a member yet.
    pub pending: bool,
}

/// One durable change. Changes that other members should see in the chat
/// also append a log entry (see [`Change::log_body`]). Serializable so a
/// node can tell the others of a cluster what it committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The user takes their own join request back.
    WithdrawRequest {
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
    /// Records a file whose contents are already in [`Store::contents`],
    /// and announces it in the log.
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
    /// Opens the direct conversation `group` (see
    /// [`direct_id`](crate::protocol::direct_id)) between `opener` and
    /// `peer`: no admin, both members reading from its start.
    CreateDirect {
        group: ConvId,
        opener: String,
        peer: String,
    },
    /// A member leaves a group; the others see it in the log.
    Leave {
        group: String,
        name: String,
    },
    /// Deletes a conversation and everything of it: members, requests, log,
    /// search index and file records (read them first with
    /// [`Store::group_files`] to delete their contents; a store whose
    /// contents are in the database deletes them here too).
    CloseGroup {
        group: String,
    },
    /// Moves a member's read position forward (never back).
    SetRead {
        group: String,
        name: String,
        seq: Seq,
    },
    /// `name` stops seeing `ignored`'s direct messages.
    Ignore {
        name: String,
        ignored: String,
    },
    Unignore {
        name: String,
        ignored: String,
    },
}

impl Change {
    /// The conversation the change is about; `None` for a change between
    /// two people (ignores).
    pub fn group(&self) -> Option<&str> {
        let group = match self {
            Change::CreateGroup { group, .. }
            | Change::AddRequest { group, .. }
            | Change::RejectRequest { group, .. }
            | Change::WithdrawRequest { group, .. }
            | Change::Approve { group, .. }
            | Change::Kick { group, .. }
            | Change::ChangeAdmin { group, .. }
            | Change::Post { group, .. }
            | Change::PostFile { group, .. }
            | Change::SaveCursor { group, .. }
            | Change::CreateDirect { group, .. }
            | Change::Leave { group, .. }
            | Change::CloseGroup { group }
            | Change::SetRead { group, .. } => group,
            Change::Ignore { .. } | Change::Unignore { .. } => return None,
        };
        Some(group)
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
            Change::CreateDirect { opener, .. } => Some((opener, Body::GroupCreated)),
            Change::Leave { name, .. } => Some((name, Body::MemberLeft { name: name.clone() })),
            Change::AddRequest { .. }
            | Change::RejectRequest { .. }
            | Change::WithdrawRequest { .. }
            | Change::SaveCursor { .. }
            | Change::CloseGroup { .. }
            | Change::SetRead { .. }
            | Change::Ignore { .. }
            | Change::Unignore { .. } => None,
        }
    }
}

/// A stored file's record; its contents are in [`Store::contents`] under
/// its id.
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
/// [`Maintenance::unused_names`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedName {
    pub name: String,
    /// When it was last connected (Unix ms).
    pub last_seen_ms: i64,
}

/// A group with no activity for a while; see [`Maintenance::idle_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleGroup {
    pub name: String,
    pub admin: String,
    pub members: usize,
    /// The last entry in its log or the last time a member was connected,
    /// whichever is later (its creation if neither; Unix ms).
    pub active_ms: i64,
}

/// What closing a group removed; see [`Maintenance::close_group`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedGroup {
    pub members: usize,
    pub entries: usize,
    /// The files' records; the caller deletes their contents with
    /// [`Contents::delete`] (a store keeping them in the database already has).
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

    /// The newest sequence number of each of `groups` that exists, in one
    /// read: a cluster node checks what it holds against the store with it.
    fn heads(&self, groups: &[String]) -> Result<Vec<(String, Seq)>, StoreError>;

    /// Up to `limit` log entries with sequence numbers after `after`, in order.
    fn read_log(&self, group: &str, after: Seq, limit: usize) -> Result<Vec<LogEntry>, StoreError>;

    /// Applies `changes` in order as one durable transaction stamped `at_ms`:
    /// all of them or none. Returns, for each change, the log entry it
    /// appended. When this returns `Ok`, the changes survive a crash.
    fn apply(&self, at_ms: i64, changes: &[Change]) -> Result<Vec<Option<LogEntry>>, StoreError>;

    /// This server's own directory for files: uploads in progress are
    /// received under its `partial/` directory before they reach
    /// [`Store::contents`] (which, for the embedded store, is this
    /// directory too).
    fn files_dir(&self) -> PathBuf;

    /// Where files' contents are kept: one server's disk for the embedded
    /// store, the database for a store several servers share, so every
    /// node can read every file.
    fn contents(&self) -> &dyn Contents;

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError>;

    /// Every stored file, oldest first.
    fn files(&self) -> Result<Vec<FileRecord>, StoreError>;

    /// Forgets these files; returns the records that were there. The caller
    /// deletes their contents afterwards with [`Contents::delete`] (a store
    /// whose contents are in the database deletes them in the same
    /// transaction).
    fn delete_files(&self, ids: &[String]) -> Result<Vec<FileRecord>, StoreError>;

    /// The files of one conversation, oldest first: whose contents closing
    /// it leaves for the caller to delete.
    fn group_files(&self, group: &str) -> Result<Vec<FileRecord>, StoreError>;

    /// The conversations `name` is a member of or asked to join, by id.
    fn conversations_of(&self, name: &str) -> Result<Vec<ConversationRecord>, StoreError>;

    /// Whether `a` and `b` are both members of one group (direct
    /// conversations do not count): who may open a direct conversation.
    fn shares_group(&self, a: &str, b: &str) -> Result<bool, StoreError>;

    /// Every `(name, ignored)` pair, for the server to keep in memory.
    fn ignores(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Up to `limit` messages containing every word of `query`, newest
    /// first, from what `name` may read: conversations they are a member
    /// of, after their floor, leaving out direct conversations with people
    /// they ignore. The words are matched as plain words, never as search
    /// syntax; a query without words finds nothing.
    fn search(
        &self,
        name: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(ConvId, LogEntry)>, StoreError>;

    /// Messages and files from others than `name` after `after`, counted up
    /// to `limit`, and how many of those mention `name`
    /// ([`mentions`](crate::protocol::mentions)).
    fn unread(
        &self,
        group: &str,
        name: &str,
        after: Seq,
        limit: u32,
    ) -> Result<(u32, u32), StoreError>;
}

/// What the operator's commands (`pyconchat names`, `groups`,
/// `release-name`, `close-group`) ask of a store, beside what the server
/// asks.
pub trait Maintenance: Store {
    /// Unpins a name from its secret, for a user who lost their identity
    /// file; the next hello under the name pins it afresh. True if it was pinned.
    fn release_name(&self, name: &str) -> Result<bool, StoreError>;

    /// Names that are in no group, have no pending request, and were last
    /// connected before `before_ms`, oldest first: candidates for
    /// [`Maintenance::release_unused_names`].
    fn unused_names(&self, before_ms: i64) -> Result<Vec<UnusedName>, StoreError>;

    /// Unpins every name [`Maintenance::unused_names`] lists, checking each
    /// again as it goes, so a name that joined a group meanwhile is kept.
    /// Returns the names released.
    fn release_unused_names(&self, before_ms: i64) -> Result<Vec<String>, StoreError>;

    /// Groups with nothing in their log and no member connected since
    /// `before_ms`, least recently active first.
    fn idle_groups(&self, before_ms: i64) -> Result<Vec<IdleGroup>, StoreError>;

    /// Removes a group with its members, requests, log and file records, in
    /// one transaction; `None` if there is no such group. The caller deletes
    /// the files' contents afterwards (as after [`Store::delete_files`]).
    ///
    /// A running server keeps groups in memory, so this is for a store no
    /// server is using.
    fn close_group(&self, group: &str) -> Result<Option<ClosedGroup>, StoreError>;
}

/// Milliseconds since the Unix epoch: the timestamp of log entries and requests.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
