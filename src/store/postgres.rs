//! The shared store: PostgreSQL, for several servers on one database.
//!
//! The [`Store`] trait is synchronous (the server calls it from blocking
//! threads), while tokio-postgres is asynchronous: the store owns a small
//! runtime of its own and runs each call on it with `block_on`. Call it
//! from blocking threads, never from async code, as the server does.
//! Connections come from a deadpool pool; a database that cannot be reached
//! makes a call fail with [`StoreError::Unavailable`] after at most
//! [`WAIT`], and the pool connects afresh once it is back.
//!
//! Ordering across servers: [`Store::apply`] locks the row of every
//! conversation its batch changes (`SELECT ... FOR UPDATE`, in name order,
//! so two batches never wait on each other in a cycle) and numbers the new
//! entries from the locked `head`. The lock is held until the commit, so
//! every server sees one sequence per conversation.
//!
//! A server plans a batch against what it has cached, which another server
//! may have changed meanwhile. So `apply` checks again, inside the
//! transaction, what each change takes for granted (the sender is still a
//! member, the actor still the admin, the request still pending, the
//! conversation still open or not yet created) and refuses the whole batch
//! with [`StoreError::Conflict`] if anything no longer holds. The rules stay
//! in `server::rules`: the store only refuses.
//!
//! Files' contents are in the database too (see [`Contents`]), in rows of
//! [`CHUNK_ROW_BYTES`], so a member on any node can fetch any file.
//!
//! Search uses PostgreSQL's full-text search on the `simple` configuration
//! (no stemming, no stop words) over text folded here in Rust to lower
//! case without accents, so `café`, `Cafe` and `CAFÉ` are one word, as in
//! the embedded store.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    path::{Path, PathBuf},
    time::Duration,
};

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
    Transaction,
};
use tokio_postgres::{IsolationLevel, NoTls, Row, error::SqlState, types::ToSql};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use super::{
    Change, ClosedGroup, Contents, ConversationRecord, FileRecord, GroupRecord, IdleGroup,
    Maintenance, MemberRecord, NameClaim, Store, StoreError, UnusedName, now_ms,
};
use crate::protocol::{Body, ConvId, ConvKind, FileInfo, JoinRequest, LogEntry, Seq, mentions};

/// Schema migrations, numbered files run in order; the `schema_version`
/// table holds how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_schema.sql"),
    include_str!("migrations/postgres/0002_file_chunks.sql"),
];

/// The advisory lock that keeps two `pyconchat migrate` runs apart: "PCCT".
const MIGRATION_LOCK: i64 = 0x5043_4354;

/// Connections per server: the hub's commits plus the sessions' reads.
const POOL_SIZE: usize = 16;

/// How long a call waits to connect, or for a free connection, before it
/// fails as [`StoreError::Unavailable`].
pub const WAIT: Duration = Duration::from_secs(5);

/// How many bytes of a file's contents one `file_chunks` row holds; a
/// fetch of up to this many bytes reads at most two rows.
pub const CHUNK_ROW_BYTES: usize = 256 * 1024;

/// How old contents without a record must be before
/// [`Contents::remove_orphans`] deletes them: another node may be between
/// writing a file's contents and committing its announcement.
const ORPHAN_AGE: Duration = Duration::from_secs(60 * 60);

/// How many log entries [`Store::unread`] reads at a time.
const UNREAD_PAGE: i64 = 256;

pub struct PostgresStore {
    pool: Pool,
    /// Runs the calls; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    files_dir: PathBuf,
}

/// Where a schema stands against this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: usize,
    pub to: usize,
}

impl PostgresStore {
    /// How many migrations this build knows: the schema version it needs.
    pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

    /// Connects to the database at `url` (`postgres://user@host/db`) and
    /// checks that its schema is this build's; uploads in progress are
    /// received under `files_dir`. Refuses a database without the schema, or with an
    /// older or newer one, in one sentence saying what to do.
    pub fn open(url: &str, files_dir: PathBuf) -> Result<Self, StoreError> {
        let store = Self::connect(url, files_dir)?;
        let found = store.run(async {
            let client = store.client().await?;
            schema_version(&client).await
        })?;
        let shown = shown_url(url);
        match found {
            None | Some(0) => Err(StoreError::NoSchema { url: shown }),
            Some(found) if found < Self::SCHEMA_VERSION => Err(StoreError::OldSchema {
                url: shown,
                found,
                known: Self::SCHEMA_VERSION,
            }),
            Some(found) if found > Self::SCHEMA_VERSION => Err(StoreError::NewSchema {
                url: shown,
                found,
                known: Self::SCHEMA_VERSION,
            }),
            Some(_) => Ok(store),
        }
    }

    /// Creates or upgrades the schema at `url` to this build's, in one
    /// transaction; refuses a newer one.
    pub fn migrate(url: &str) -> Result<Migrated, StoreError> {
        let store = Self::connect(url, PathBuf::new())?;
        store.run(async {
            let mut client = store.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
            )
            .await?;
            let from = schema_version(&tx).await?.unwrap_or(0);
            if from > Self::SCHEMA_VERSION {
                return Err(StoreError::NewSchema {
                    url: shown_url(url),
                    found: from,
                    known: Self::SCHEMA_VERSION,
                });
            }
            for migration in &MIGRATIONS[from..] {
                tx.batch_execute(migration).await?;
            }
            tx.execute("DELETE FROM schema_version", &[]).await?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&(Self::SCHEMA_VERSION as i32)],
            )
            .await?;
            tx.commit().await?;
            Ok(Migrated {
                from,
                to: Self::SCHEMA_VERSION,
            })
        })
    }

    /// A pool for `url` whose first connection worked.
    fn connect(url: &str, files_dir: PathBuf) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|source| StoreError::BadUrl {
                url: shown_url(url),
                source,
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(WAIT);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pcc-postgres")
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = Self {
            pool,
            runtime: Some(runtime),
            files_dir,
        };
        store
            .run(async { store.pool.get().await.map(drop).map_err(unavailable) })
            .map_err(|error| StoreError::Unreachable {
                url: shown_url(url),
                reason: match error {
                    StoreError::Unavailable(reason) => reason,
                    other => other.to_string(),
                },
            })?;
        Ok(store)
    }

    fn run<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the store is dropped")
            .block_on(work)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    /// Runs `work` in a read-only transaction that sees one snapshot.
    async fn snapshot<T>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let done = work(&tx).await?;
        tx.commit().await?;
        Ok(done)
    }
}

impl Drop for PostgresStore {
    /// Stops the runtime without waiting for it, which is allowed even when
    /// the store is dropped inside async code.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The schema version recorded at the connection's schema; `None` when
/// there is no `schema_version` table.
async fn schema_version(db: &impl GenericClient) -> Result<Option<usize>, StoreError> {
    let exists: bool = db
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let version: Option<i32> = db
        .query_opt("SELECT max(version) FROM schema_version", &[])
        .await?
        .and_then(|row| row.get(0));
    Ok(Some(version.unwrap_or(0).max(0) as usize))
}

/// `url` without its password, for messages and logs.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn unavailable(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => error.into(),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    /// A lost or refused connection is [`StoreError::Unavailable`]; two
    /// servers' transactions that could not both go on are a
    /// [`StoreError::Conflict`]; anything else is a database error.
    fn from(error: tokio_postgres::Error) -> Self {
        use std::error::Error as _;
        let io = error
            .source()
            .is_some_and(|source| source.is::<std::io::Error>());
        let code_in = |states: &[SqlState]| error.code().is_some_and(|c| states.contains(c));
        if code_in(&[
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]) || (error.code().is_none() && (io || error.is_closed()))
        {
            StoreError::Unavailable(error.to_string())
        } else if code_in(&[
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
        ]) {
            StoreError::Conflict("another server changed the same conversations at once".into())
        } else {
            StoreError::Postgres(error)
        }
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn execute(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, StoreError> {
    let stmt = db.prepare_cached(sql).await?;
    Ok(db.execute(&stmt, params).await?)
}

async fn query(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = db.prepare_cached(sql).await?;
    Ok(db.query(&stmt, params).await?)
}

async fn query_opt(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let stmt = db.prepare_cached(sql).await?;
    Ok(db.query_opt(&stmt, params).await?)
}

/// A seq as stored (BIGINT).
fn sql_seq(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A stored seq.
fn seq(row: &Row, column: usize) -> Seq {
    row.get::<_, i64>(column).max(0) as Seq
}

fn kind_name(kind: ConvKind) -> &'static str {
    match kind {
        ConvKind::Group => "group",
        ConvKind::Direct => "direct",
    }
}

/// A stored kind; the table's CHECK allows only the two.
fn kind(row: &Row, column: usize) -> ConvKind {
    match row.get::<_, &str>(column) {
        "direct" => ConvKind::Direct,
        _ => ConvKind::Group,
    }
}

fn decode_entry(group: &str, row: &Row) -> Result<LogEntry, StoreError> {
    let seq = seq(row, 0);
    let body = rmp_serde::from_slice(row.get(3)).map_err(|source| StoreError::CorruptEntry {
        group: group.to_owned(),
        seq,
        source,
    })?;
    Ok(LogEntry {
        seq,
        at_ms: row.get(1),
        from: row.get(2),
        body,
    })
}

const FILE_COLUMNS: &str = "id, grp, name, size, blake3, sender, at_ms, seq";

fn file_record(row: &Row) -> FileRecord {
    FileRecord {
        info: FileInfo {
            id: row.get(0),
            name: row.get(2),
            size: row.get::<_, i64>(3).max(0) as u64,
            blake3: row.get(4),
        },
        group: row.get(1),
        from: row.get(5),
        at_ms: row.get(6),
        seq: seq(row, 7),
    }
}

/// Text as the search index holds it: lower case, accents taken off
/// (`Café` is `cafe`), so a search for either finds both.
fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

/// Every word of a search query (split at white space), folded; words
/// without a letter or digit are left out, as the index has no words like
/// that. Each becomes a `phraseto_tsquery`, so nothing a user types is read
/// as search syntax and `hello-world` means those words in that order.
fn search_words(query: &str) -> Vec<String> {
    query
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(fold)
        .collect()
}

impl Store for PostgresStore {
    fn claim_name(&self, name: &str, secret_hash: &[u8; 32]) -> Result<NameClaim, StoreError> {
        self.run(async {
            let client = self.client().await?;
            // A name released between the two statements is claimed again.
            loop {
                let inserted = execute(
                    &client,
                    "INSERT INTO users (name, secret_hash, created_ms, last_seen_ms)
                     VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
                    &[&name, &&secret_hash[..], &now_ms()],
                )
                .await?;
                if inserted == 1 {
                    return Ok(NameClaim::Claimed);
                }
                match pinned(&client, name).await? {
                    Some(hash) if hash == secret_hash => return Ok(NameClaim::Verified),
                    Some(_) => return Ok(NameClaim::Taken),
                    None => {}
                }
            }
        })
    }

    fn verify_name(
        &self,
        name: &str,
        secret_hash: &[u8; 32],
    ) -> Result<Option<NameClaim>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            Ok(pinned(&client, name).await?.map(|hash| {
                if hash == secret_hash {
                    NameClaim::Verified
                } else {
                    NameClaim::Taken
                }
            }))
        })
    }

    fn mark_seen(&self, names: &[String], at_ms: i64) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            execute(
                &client,
                "UPDATE users SET last_seen_ms = greatest(last_seen_ms, $2) WHERE name = ANY($1)",
                &[&names, &at_ms],
            )
            .await?;
            Ok(())
        })
    }

    fn heads(&self, groups: &[String]) -> Result<Vec<(String, Seq)>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            Ok(query(
                &client,
                "SELECT name, head FROM groups WHERE name = ANY($1)",
                &[&groups],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), seq(r, 1)))
            .collect())
        })
    }

    fn load_group(&self, group: &str) -> Result<Option<GroupRecord>, StoreError> {
        self.run(self.snapshot(async |tx| {
            let Some(row) = query_opt(
                tx,
                "SELECT kind, admin, head FROM groups WHERE name = $1",
                &[&group],
            )
            .await?
            else {
                return Ok(None);
            };
            let members = query(
                tx,
                "SELECT name, cursor, floor, read FROM members WHERE grp = $1
                 ORDER BY joined_ms, name COLLATE \"C\"",
                &[&group],
            )
            .await?
            .iter()
            .map(|r| MemberRecord {
                name: r.get(0),
                cursor: seq(r, 1),
                floor: seq(r, 2),
                read: seq(r, 3),
            })
            .collect();
            let requests = query(
                tx,
                "SELECT name, at_ms FROM requests WHERE grp = $1 ORDER BY at_ms, name COLLATE \"C\"",
                &[&group],
            )
            .await?
            .iter()
            .map(|r| JoinRequest {
                name: r.get(0),
                at_ms: r.get(1),
            })
            .collect();
            Ok(Some(GroupRecord {
                kind: kind(&row, 0),
                admin: row.get(1),
                members,
                requests,
                head: seq(&row, 2),
            }))
        }))
    }

    fn read_log(&self, group: &str, after: Seq, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            query(
                &client,
                "SELECT seq, at_ms, sender, body FROM log WHERE grp = $1 AND seq > $2
                 ORDER BY seq LIMIT $3",
                &[&group, &sql_seq(after), &limit],
            )
            .await?
            .iter()
            .map(|row| decode_entry(group, row))
            .collect()
        })
    }

    fn apply(&self, at_ms: i64, changes: &[Change]) -> Result<Vec<Option<LogEntry>>, StoreError> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let mut locked = lock_groups(&tx, changes).await?;
            let mut entries = Vec::with_capacity(changes.len());
            let mut posts = Posts::default();
            for change in changes {
                if let Change::Post { group, from, text } = change {
                    entries.push(Some(posts.add(&mut locked, at_ms, group, from, text)?));
                    continue;
                }
                posts.write(&tx, at_ms).await?;
                entries.push(apply_one(&tx, &mut locked, at_ms, change).await?);
            }
            posts.write(&tx, at_ms).await?;
            for (group, head) in &locked {
                if head.exists && head.moved {
                    execute(
                        &tx,
                        "UPDATE groups SET head = $2 WHERE name = $1",
                        &[group, &head.head],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(entries)
        })
    }

    fn files_dir(&self) -> PathBuf {
        self.files_dir.clone()
    }

    fn contents(&self) -> &dyn Contents {
        self
    }

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1");
            Ok(query_opt(&client, &sql, &[&id])
                .await?
                .as_ref()
                .map(file_record))
        })
    }

    fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let sql = format!("SELECT {FILE_COLUMNS} FROM files ORDER BY at_ms, id COLLATE \"C\"");
            Ok(query(&client, &sql, &[])
                .await?
                .iter()
                .map(file_record)
                .collect())
        })
    }

    fn delete_files(&self, ids: &[String]) -> Result<Vec<FileRecord>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let sql = format!(
                "WITH gone AS (DELETE FROM files WHERE id = ANY($1) RETURNING {FILE_COLUMNS}),
                      chunks AS (DELETE FROM file_chunks WHERE id IN (SELECT id FROM gone))
                 SELECT {FILE_COLUMNS} FROM gone"
            );
            let mut deleted: Vec<FileRecord> = query(&client, &sql, &[&ids])
                .await?
                .iter()
                .map(file_record)
                .collect();
            deleted.sort_by_key(|record| ids.iter().position(|id| *id == record.info.id));
            Ok(deleted)
        })
    }

    fn group_files(&self, group: &str) -> Result<Vec<FileRecord>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {FILE_COLUMNS} FROM files WHERE grp = $1 ORDER BY at_ms, id COLLATE \"C\""
            );
            Ok(query(&client, &sql, &[&group])
                .await?
                .iter()
                .map(file_record)
                .collect())
        })
    }

    fn conversations_of(&self, name: &str) -> Result<Vec<ConversationRecord>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            Ok(query(
                &client,
                "SELECT g.name COLLATE \"C\" AS id, g.kind, false FROM members m
                    JOIN groups g ON g.name = m.grp WHERE m.name = $1
                 UNION ALL
                 SELECT g.name COLLATE \"C\", g.kind, true FROM requests r
                    JOIN groups g ON g.name = r.grp WHERE r.name = $1
                 ORDER BY id",
                &[&name],
            )
            .await?
            .iter()
            .map(|r| ConversationRecord {
                id: r.get(0),
                kind: kind(r, 1),
                pending: r.get(2),
            })
            .collect())
        })
    }

    fn shares_group(&self, a: &str, b: &str) -> Result<bool, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = query(
                &client,
                "SELECT EXISTS (SELECT 1 FROM members x
                    JOIN members y ON y.grp = x.grp AND y.name = $2
                    JOIN groups g ON g.name = x.grp AND g.kind = 'group'
                    WHERE x.name = $1)",
                &[&a, &b],
            )
            .await?;
            Ok(row.first().is_some_and(|r| r.get(0)))
        })
    }

    fn ignores(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            Ok(query(
                &client,
                "SELECT name, ignored FROM ignores ORDER BY name COLLATE \"C\", ignored COLLATE \"C\"",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn search(
        &self,
        name: &str,
        query_text: &str,
        limit: usize,
    ) -> Result<Vec<(ConvId, LogEntry)>, StoreError> {
        let words = search_words(query_text);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let matches: Vec<String> = (0..words.len())
            .map(|i| format!("phraseto_tsquery('simple', ${})", i + 3))
            .collect();
        // One statement, so one snapshot: what the index finds is in the
        // log, and the grants are those of the same moment. A direct
        // conversation's id names both people, so the ignores exclude it.
        let sql = format!(
            "SELECT l.seq, l.at_ms, l.sender, l.body, l.grp FROM log l
             JOIN members m ON m.grp = l.grp AND m.name = $1
             WHERE l.words @@ ({}) AND l.seq > m.floor
               AND NOT EXISTS (SELECT 1 FROM ignores i WHERE i.name = $1
                   AND l.grp IN (i.name || '+' || i.ignored, i.ignored || '+' || i.name))
             ORDER BY l.id DESC LIMIT $2",
            matches.join(" && ")
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&name, &limit];
        params.extend(words.iter().map(|w| w as &(dyn ToSql + Sync)));
        self.run(async {
            let client = self.client().await?;
            query(&client, &sql, &params)
                .await?
                .iter()
                .map(|row| {
                    let conv: String = row.get(4);
                    let entry = decode_entry(&conv, row)?;
                    Ok((conv, entry))
                })
                .collect()
        })
    }

    fn unread(
        &self,
        group: &str,
        name: &str,
        after: Seq,
        limit: u32,
    ) -> Result<(u32, u32), StoreError> {
        self.run(async {
            let client = self.client().await?;
            let (mut unread, mut mentioned) = (0, 0);
            let mut after = sql_seq(after);
            while unread < limit {
                let rows = query(
                    &client,
                    "SELECT seq, at_ms, sender, body FROM log
                     WHERE grp = $1 AND seq > $2 AND sender <> $3 ORDER BY seq LIMIT $4",
                    &[&group, &after, &name, &UNREAD_PAGE],
                )
                .await?;
                for row in &rows {
                    if unread == limit {
                        break;
                    }
                    match decode_entry(group, row)?.body {
                        Body::Text { text } => {
                            unread += 1;
                            mentioned += u32::from(mentions(&text, name));
                        }
                        Body::File { .. } => unread += 1,
                        _ => {}
                    }
                }
                match rows.last() {
                    Some(last) if rows.len() as i64 == UNREAD_PAGE => after = last.get(0),
                    _ => break,
                }
            }
            Ok((unread, mentioned))
        })
    }
}

async fn pinned(db: &impl GenericClient, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(query_opt(
        db,
        "SELECT secret_hash FROM users WHERE name = $1",
        &[&name],
    )
    .await?
    .map(|row| row.get(0)))
}

/// A conversation's row as the batch holds it locked.
struct Locked {
    exists: bool,
    /// The newest seq, as this batch moves it.
    head: i64,
    /// Whether the batch appended to it.
    moved: bool,
}

/// Locks the rows of the conversations the batch changes, in name order.
/// Cursor and read positions only move forward, so they need no lock.
async fn lock_groups(
    tx: &Transaction<'_>,
    changes: &[Change],
) -> Result<HashMap<String, Locked>, StoreError> {
    let mut names: Vec<String> = changes
        .iter()
        .filter(|c| !matches!(c, Change::SaveCursor { .. } | Change::SetRead { .. }))
        .filter_map(|c| c.group().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    let mut locked: HashMap<String, Locked> = names
        .iter()
        .map(|name| {
            let absent = Locked {
                exists: false,
                head: 0,
                moved: false,
            };
            (name.clone(), absent)
        })
        .collect();
    if names.is_empty() {
        return Ok(locked);
    }
    let rows = query(
        tx,
        "SELECT name, head FROM groups WHERE name = ANY($1) ORDER BY name COLLATE \"C\" FOR UPDATE",
        &[&names],
    )
    .await?;
    for row in rows {
        let name: String = row.get(0);
        locked.insert(
            name,
            Locked {
                exists: true,
                head: row.get(1),
                moved: false,
            },
        );
    }
    Ok(locked)
}

fn conflict(group: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Conflict(format!("{group} changed on another server: {why}"))
}

/// The locked row of `group`, which must exist.
fn open_group<'a>(
    locked: &'a mut HashMap<String, Locked>,
    group: &str,
) -> Result<&'a mut Locked, StoreError> {
    match locked.get_mut(group) {
        Some(row) if row.exists => Ok(row),
        _ => Err(conflict(group, "it no longer exists")),
    }
}

async fn require_admin(tx: &Transaction<'_>, group: &str, by: &str) -> Result<(), StoreError> {
    let admin = query_opt(tx, "SELECT admin FROM groups WHERE name = $1", &[&group]).await?;
    match admin {
        Some(row) if row.get::<_, &str>(0) == by => Ok(()),
        _ => Err(conflict(group, format_args!("{by} is no longer its admin"))),
    }
}

fn require_changed(
    changed: u64,
    group: &str,
    why: impl std::fmt::Display,
) -> Result<(), StoreError> {
    if changed == 0 {
        return Err(conflict(group, why));
    }
    Ok(())
}

async fn insert_group(
    tx: &Transaction<'_>,
    locked: &mut HashMap<String, Locked>,
    group: &str,
    kind: ConvKind,
    admin: &str,
    members: &[&str],
    at_ms: i64,
) -> Result<(), StoreError> {
    let row = locked
        .get_mut(group)
        .expect("every conversation of the batch is locked");
    if row.exists {
        return Err(conflict(group, "it exists already"));
    }
    // Another server creating it at the same moment makes this insert wait
    // for that commit and then fail: a conflict too.
    let inserted = execute(
        tx,
        "INSERT INTO groups (name, kind, admin, head, created_ms) VALUES ($1, $2, $3, 0, $4)
         ON CONFLICT (name) DO NOTHING",
        &[&group, &kind_name(kind), &admin, &at_ms],
    )
    .await?;
    require_changed(inserted, group, "it exists already")?;
    for name in members {
        execute(
            tx,
            "INSERT INTO members (grp, name, cursor, joined_ms) VALUES ($1, $2, 0, $3)",
            &[&group, name, &at_ms],
        )
        .await?;
    }
    *row = Locked {
        exists: true,
        head: 0,
        moved: false,
    };
    Ok(())
}

/// Consecutive text posts of a batch, numbered but not yet written: under
/// load most of a batch is posts, and one statement writes them all instead
/// of one round trip each. Written before any other change, so every
/// change sees those before it.
#[derive(Default)]
struct Posts {
    groups: Vec<String>,
    seqs: Vec<i64>,
    senders: Vec<String>,
    bodies: Vec<Vec<u8>>,
    words: Vec<String>,
}

impl Posts {
    /// Numbers a post from its conversation's locked head.
    fn add(
        &mut self,
        locked: &mut HashMap<String, Locked>,
        at_ms: i64,
        group: &str,
        from: &str,
        text: &str,
    ) -> Result<LogEntry, StoreError> {
        let row = open_group(locked, group)?;
        row.head += 1;
        row.moved = true;
        let body = Body::Text {
            text: text.to_owned(),
        };
        self.groups.push(group.to_owned());
        self.seqs.push(row.head);
        self.senders.push(from.to_owned());
        self.bodies
            .push(rmp_serde::to_vec_named(&body).expect("Body always serializes"));
        self.words.push(fold(text));
        Ok(LogEntry {
            seq: row.head as Seq,
            at_ms,
            from: from.to_owned(),
            body,
        })
    }

    /// Writes the posts added so far, in order (`log.id` is the order of
    /// search results), each only if its sender is still a member of its
    /// conversation: if one is not, the batch conflicts.
    async fn write(&mut self, tx: &Transaction<'_>, at_ms: i64) -> Result<(), StoreError> {
        if self.seqs.is_empty() {
            return Ok(());
        }
        let written = execute(
            tx,
            "INSERT INTO log (grp, seq, at_ms, sender, body, words)
             SELECT p.grp, p.seq, $1, p.sender, p.body, to_tsvector('simple', p.words)
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::text[])
                 WITH ORDINALITY AS p(grp, seq, sender, body, words, n)
             WHERE EXISTS (SELECT 1 FROM members m WHERE m.grp = p.grp AND m.name = p.sender)
             ORDER BY p.n",
            &[
                &at_ms,
                &self.groups,
                &self.seqs,
                &self.senders,
                &self.bodies,
                &self.words,
            ],
        )
        .await?;
        if written < self.seqs.len() as u64 {
            return Err(conflict(&self.groups[0], "a sender is no longer a member"));
        }
        *self = Self::default();
        Ok(())
    }
}

/// Runs one change inside the batch's transaction, checking first what it
/// takes for granted.
async fn apply_one(
    tx: &Transaction<'_>,
    locked: &mut HashMap<String, Locked>,
    at_ms: i64,
    change: &Change,
) -> Result<Option<LogEntry>, StoreError> {
    match change {
        Change::CreateGroup { group, admin } => {
            insert_group(
                tx,
                locked,
                group,
                ConvKind::Group,
                admin,
                &[admin.as_str()],
                at_ms,
            )
            .await?;
        }
        Change::CreateDirect {
            group,
            opener,
            peer,
        } => {
            insert_group(
                tx,
                locked,
                group,
                ConvKind::Direct,
                "",
                &[opener.as_str(), peer.as_str()],
                at_ms,
            )
            .await?;
        }
        Change::AddRequest { group, name } => {
            open_group(locked, group)?;
            let member = query_opt(
                tx,
                "SELECT 1 FROM members WHERE grp = $1 AND name = $2",
                &[group, name],
            )
            .await?;
            if member.is_some() {
                return Err(conflict(group, format_args!("{name} is a member already")));
            }
            execute(
                tx,
                "INSERT INTO requests (grp, name, at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (grp, name) DO NOTHING",
                &[group, name, &at_ms],
            )
            .await?;
        }
        Change::RejectRequest { group, name } | Change::WithdrawRequest { group, name } => {
            open_group(locked, group)?;
            let removed = execute(
                tx,
                "DELETE FROM requests WHERE grp = $1 AND name = $2",
                &[group, name],
            )
            .await?;
            require_changed(removed, group, format_args!("{name} is no longer asking"))?;
        }
        Change::Approve {
            group,
            name,
            by,
            floor,
        } => {
            open_group(locked, group)?;
            require_admin(tx, group, by).await?;
            let removed = execute(
                tx,
                "DELETE FROM requests WHERE grp = $1 AND name = $2",
                &[group, name],
            )
            .await?;
            require_changed(removed, group, format_args!("{name} is no longer asking"))?;
            // What lies before the floor cannot be read, so is never unread.
            execute(
                tx,
                "INSERT INTO members (grp, name, cursor, floor, read, joined_ms)
                 VALUES ($1, $2, $3, $3, $3, $4)",
                &[group, name, &sql_seq(*floor), &at_ms],
            )
            .await?;
        }
        Change::Kick { group, name, by } => {
            open_group(locked, group)?;
            require_admin(tx, group, by).await?;
            remove_member(tx, group, name).await?;
        }
        Change::Leave { group, name } => {
            open_group(locked, group)?;
            remove_member(tx, group, name).await?;
        }
        Change::ChangeAdmin { group, from, to } => {
            open_group(locked, group)?;
            let changed = execute(
                tx,
                "UPDATE groups SET admin = $3 WHERE name = $1 AND admin = $2
                 AND EXISTS (SELECT 1 FROM members WHERE grp = $1 AND name = $3)",
                &[group, from, to],
            )
            .await?;
            require_changed(
                changed,
                group,
                format_args!("{from} is no longer its admin, or {to} no longer a member"),
            )?;
        }
        // Whether the sender is still a member is checked as the entry is
        // written, below.
        Change::Post { group, .. } | Change::PostFile { group, .. } => {
            open_group(locked, group)?;
        }
        Change::SaveCursor { group, name, seq } => {
            execute(
                tx,
                "UPDATE members SET cursor = greatest(cursor, $3) WHERE grp = $1 AND name = $2",
                &[group, name, &sql_seq(*seq)],
            )
            .await?;
        }
        Change::SetRead { group, name, seq } => {
            execute(
                tx,
                "UPDATE members SET read = greatest(read, $3) WHERE grp = $1 AND name = $2",
                &[group, name, &sql_seq(*seq)],
            )
            .await?;
        }
        Change::CloseGroup { group } => {
            delete_group(tx, group).await?;
            // A group opened again under this name starts afresh.
            if let Some(row) = locked.get_mut(group) {
                *row = Locked {
                    exists: false,
                    head: 0,
                    moved: false,
                };
            }
        }
        Change::Ignore { name, ignored } => {
            execute(
                tx,
                "INSERT INTO ignores (name, ignored, at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name, ignored) DO NOTHING",
                &[name, ignored, &at_ms],
            )
            .await?;
        }
        Change::Unignore { name, ignored } => {
            execute(
                tx,
                "DELETE FROM ignores WHERE name = $1 AND ignored = $2",
                &[name, ignored],
            )
            .await?;
        }
    }
    let Some((from, body)) = change.log_body() else {
        return Ok(None);
    };
    let group = change
        .group()
        .expect("every change with a log entry names its conversation");
    let row = open_group(locked, group)?;
    let seq = row.head + 1;
    let words = match &body {
        Body::Text { text } => Some(fold(text)),
        _ => None,
    };
    let encoded = rmp_serde::to_vec_named(&body).expect("Body always serializes");
    let sql = if matches!(change, Change::Post { .. } | Change::PostFile { .. }) {
        "INSERT INTO log (grp, seq, at_ms, sender, body, words)
         SELECT $1::text, $2::bigint, $3::bigint, $4::text, $5::bytea,
                to_tsvector('simple', $6::text)
         WHERE EXISTS (SELECT 1 FROM members WHERE grp = $1 AND name = $4)"
    } else {
        "INSERT INTO log (grp, seq, at_ms, sender, body, words)
         VALUES ($1, $2, $3, $4, $5, to_tsvector('simple', $6::text))"
    };
    let written = execute(tx, sql, &[&group, &seq, &at_ms, &from, &encoded, &words]).await?;
    require_changed(written, group, format_args!("{from} is no longer a member"))?;
    row.head = seq;
    row.moved = true;
    if let Change::PostFile { file, .. } = change {
        execute(
            tx,
            "INSERT INTO files (id, grp, name, size, blake3, sender, at_ms, seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &file.id,
                &group,
                &file.name,
                &i64::try_from(file.size).unwrap_or(i64::MAX),
                &file.blake3,
                &from,
                &at_ms,
                &seq,
            ],
        )
        .await?;
    }
    Ok(Some(LogEntry {
        seq: seq as Seq,
        at_ms,
        from: from.to_owned(),
        body,
    }))
}

async fn remove_member(tx: &Transaction<'_>, group: &str, name: &str) -> Result<(), StoreError> {
    let removed = execute(
        tx,
        "DELETE FROM members WHERE grp = $1 AND name = $2",
        &[&group, &name],
    )
    .await?;
    require_changed(removed, group, format_args!("{name} is no longer a member"))
}

/// Deletes a conversation with its members, requests, log, file records
/// and contents; `None` if there is no such conversation.
async fn delete_group(
    tx: &Transaction<'_>,
    group: &str,
) -> Result<Option<ClosedGroup>, StoreError> {
    execute(
        tx,
        "DELETE FROM file_chunks WHERE id IN (SELECT id FROM files WHERE grp = $1)",
        &[&group],
    )
    .await?;
    let sql = format!("DELETE FROM files WHERE grp = $1 RETURNING {FILE_COLUMNS}");
    let mut files: Vec<FileRecord> = query(tx, &sql, &[&group])
        .await?
        .iter()
        .map(file_record)
        .collect();
    files.sort_by(|a, b| (a.at_ms, &a.info.id).cmp(&(b.at_ms, &b.info.id)));
    let entries = execute(tx, "DELETE FROM log WHERE grp = $1", &[&group]).await?;
    execute(tx, "DELETE FROM requests WHERE grp = $1", &[&group]).await?;
    let members = execute(tx, "DELETE FROM members WHERE grp = $1", &[&group]).await?;
    if execute(tx, "DELETE FROM groups WHERE name = $1", &[&group]).await? == 0 {
        return Ok(None);
    }
    Ok(Some(ClosedGroup {
        members: members as usize,
        entries: entries as usize,
        files,
    }))
}

/// Which users rows are unused: in no group, with no pending request, and
/// not connected since `$1`.
const UNUSED: &str = "last_seen_ms < $1
    AND NOT EXISTS (SELECT 1 FROM members m WHERE m.name = users.name)
    AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.name = users.name)";

impl Contents for PostgresStore {
    /// Writes the file's rows in one transaction: all of them or none.
    fn put(&self, id: &str, from: &Path) -> Result<(), StoreError> {
        use std::io::Read as _;
        let io = |source| StoreError::Files {
            path: from.to_owned(),
            source,
        };
        let file = std::fs::File::open(from).map_err(io)?;
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO file_chunks (id, n, at_ms, data) VALUES ($1, $2, $3, $4)",
                )
                .await?;
            let at_ms = now_ms();
            let mut row = Vec::with_capacity(CHUNK_ROW_BYTES);
            for n in 0_i32.. {
                row.clear();
                (&file)
                    .take(CHUNK_ROW_BYTES as u64)
                    .read_to_end(&mut row)
                    .map_err(io)?;
                if row.is_empty() && n > 0 {
                    break;
                }
                tx.execute(&insert, &[&id, &n, &at_ms, &row]).await?;
                if row.len() < CHUNK_ROW_BYTES {
                    break;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Reads only the rows that hold the asked range.
    fn read(&self, id: &str, offset: u64, len: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let row_bytes = CHUNK_ROW_BYTES as u64;
        let first = offset / row_bytes;
        let last = (offset + u64::from(len).max(1) - 1) / row_bytes;
        let rows = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        self.run(async {
            let client = self.client().await?;
            let found = query(
                &client,
                "SELECT data FROM file_chunks WHERE id = $1 AND n BETWEEN $2 AND $3 ORDER BY n",
                &[&id, &rows(first), &rows(last)],
            )
            .await?;
            if found.is_empty() {
                let exists: bool = query_opt(
                    &client,
                    "SELECT EXISTS (SELECT 1 FROM file_chunks WHERE id = $1)",
                    &[&id],
                )
                .await?
                .is_some_and(|row| row.get(0));
                return Ok(exists.then(Vec::new));
            }
            let mut skip = usize::try_from(offset - first * row_bytes).unwrap_or(usize::MAX);
            let mut data = Vec::with_capacity(len as usize);
            for row in &found {
                let bytes: &[u8] = row.get(0);
                data.extend_from_slice(&bytes[skip.min(bytes.len())..]);
                skip = skip.saturating_sub(bytes.len());
            }
            data.truncate(len as usize);
            Ok(Some(data))
        })
    }

    fn delete(&self, ids: &[String]) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            execute(
                &client,
                "DELETE FROM file_chunks WHERE id = ANY($1)",
                &[&ids],
            )
            .await?;
            Ok(())
        })
    }

    fn lost(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            Ok(query(
                &client,
                "SELECT r.id FROM unnest($1::text[]) AS r(id)
                 WHERE NOT EXISTS (SELECT 1 FROM file_chunks c WHERE c.id = r.id)",
                &[&ids],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect())
        })
    }

    /// Only contents older than an hour (`ORPHAN_AGE`): another node may be about
    /// to announce younger ones.
    fn remove_orphans(&self, known: &HashSet<&str>) -> Result<(), StoreError> {
        let known: Vec<&str> = known.iter().copied().collect();
        let before = now_ms().saturating_sub(ORPHAN_AGE.as_millis() as i64);
        self.run(async {
            let client = self.client().await?;
            let removed = query(
                &client,
                "DELETE FROM file_chunks c
                 WHERE c.at_ms < $1 AND NOT (c.id = ANY($2))
                   AND NOT EXISTS (SELECT 1 FROM files f WHERE f.id = c.id)
                 RETURNING c.id",
                &[&before, &known],
            )
            .await?;
            let ids: HashSet<&str> = removed.iter().map(|row| row.get(0)).collect();
            if !ids.is_empty() {
                tracing::info!(count = ids.len(), "removed stored contents with no record");
            }
            Ok(())
        })
    }
}

impl PostgresStore {
    /// The cluster's TLS certificate and key (PEM): the ones a node stored
    /// first, or `cert` and `key` if none has yet (then they are stored
    /// for every other node to read).
    pub fn shared_identity(&self, cert: &str, key: &str) -> Result<(String, String), StoreError> {
        self.run(async {
            let client = self.client().await?;
            execute(
                &client,
                "INSERT INTO server_identity (cert, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&cert, &key],
            )
            .await?;
            let row = query(&client, "SELECT cert, key FROM server_identity", &[])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Conflict("the stored certificate vanished".into()))?;
            Ok((row.get(0), row.get(1)))
        })
    }
}

impl Maintenance for PostgresStore {
    fn release_name(&self, name: &str) -> Result<bool, StoreError> {
        self.run(async {
            let client = self.client().await?;
            Ok(execute(&client, "DELETE FROM users WHERE name = $1", &[&name]).await? > 0)
        })
    }

    fn unused_names(&self, before_ms: i64) -> Result<Vec<UnusedName>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let sql = format!(
                "SELECT name, last_seen_ms FROM users WHERE {UNUSED}
                 ORDER BY last_seen_ms, name COLLATE \"C\""
            );
            Ok(query(&client, &sql, &[&before_ms])
                .await?
                .iter()
                .map(|r| UnusedName {
                    name: r.get(0),
                    last_seen_ms: r.get(1),
                })
                .collect())
        })
    }

    fn release_unused_names(&self, before_ms: i64) -> Result<Vec<String>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let sql = format!("DELETE FROM users WHERE {UNUSED} RETURNING name");
            let mut names: Vec<String> = query(&client, &sql, &[&before_ms])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            names.sort();
            Ok(names)
        })
    }

    fn idle_groups(&self, before_ms: i64) -> Result<Vec<IdleGroup>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            query(
                &client,
                "SELECT name, admin, members, active_ms FROM (
                    SELECT g.name, g.admin,
                        (SELECT count(*) FROM members m WHERE m.grp = g.name) AS members,
                        greatest(g.created_ms,
                            coalesce((SELECT l.at_ms FROM log l WHERE l.grp = g.name
                                      ORDER BY l.seq DESC LIMIT 1), 0),
                            coalesce((SELECT max(u.last_seen_ms) FROM members m
                                      JOIN users u ON u.name = m.name WHERE m.grp = g.name), 0)
                        ) AS active_ms
                    FROM groups g) AS activity
                 WHERE active_ms < $1 ORDER BY active_ms, name COLLATE \"C\"",
                &[&before_ms],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(IdleGroup {
                    name: r.get(0),
                    admin: r.get(1),
                    members: r.get::<_, i64>(2) as usize,
                    active_ms: r.get(3),
                })
            })
            .collect()
        })
    }

    fn close_group(&self, group: &str) -> Result<Option<ClosedGroup>, StoreError> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            execute(
                &tx,
                "SELECT 1 FROM groups WHERE name = $1 FOR UPDATE",
                &[&group],
            )
            .await?;
            let closed = delete_group(&tx, group).await?;
            tx.commit().await?;
            Ok(closed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_a_url_without_its_password() {
        assert_eq!(
            shown_url("postgres://chat:s3cret@db:5432/pyconchat?sslmode=disable"),
            "postgres://chat:***@db:5432/pyconchat?sslmode=disable"
        );
        assert_eq!(
            shown_url("postgres://chat@db/pyconchat"),
            "postgres://chat@db/pyconchat"
        );
        assert_eq!(shown_url("host=db user=chat"), "host=db user=chat");
    }

    #[test]
    fn folds_case_and_accents_and_keeps_words_only() {
        assert_eq!(fold("Café CAFÉ naïve Straße"), "cafe cafe naive straße");
        assert_eq!(
            search_words("  \"hello\"  🎉 ( ) NEAR(the "),
            ["\"hello\"", "near(the"]
        );
    }
}
