//! Where the tests find PostgreSQL: `PYCONCHAT_TEST_POSTGRES` (a URL) when
//! set; else the local service on 127.0.0.1:5432, database `test`, user
//! `postgres` (trust); else a throwaway cluster started here from the
//! installed binaries (`initdb` + `pg_ctl` in a temp dir, on a free port)
//! and stopped when the test process exits. Without any of them a test
//! fails saying how to install PostgreSQL: it never skips.
//!
//! Each test gets a schema of its own ([`Database`]), dropped when done,
//! so tests run in parallel on one server.

use std::{path::PathBuf, process::Command, sync::OnceLock};

use pyconchat::store::PostgresStore;

/// The local service the test machines run.
const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What to run where no PostgreSQL is found.
const INSTALL: &str = "apt-get install -y postgresql (or set PYCONCHAT_TEST_POSTGRES to a URL)";

/// One test's own schema on the test server, dropped when this is.
pub struct Database {
    /// Connects to the schema (it is the connection's `search_path`).
    pub url: String,
    base: String,
    schema: String,
}

impl Database {
    /// A new, empty schema.
    pub fn empty() -> Self {
        let base = server_url().to_owned();
        let mut bytes = [0_u8; 8];
        getrandom::fill(&mut bytes).expect("random bytes");
        let schema = format!(
            "t_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        sql(&base, &format!("CREATE SCHEMA {schema}"))
            .unwrap_or_else(|error| panic!("cannot create a schema on {base}: {error}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{schema}");
        Self { url, base, schema }
    }

    /// A schema with PyconChat's tables, as `pyconchat migrate` leaves it.
    /// Migrates from a thread of its own: the store blocks, which async
    /// tests must not.
    pub fn migrated() -> Self {
        let database = Self::empty();
        let url = database.url.clone();
        std::thread::spawn(move || PostgresStore::migrate(&url))
            .join()
            .expect("the migrating thread")
            .expect("migrate the test schema");
        database
    }

    /// The server's `host:port`.
    pub fn address(&self) -> String {
        let (start, end) = authority(&self.url);
        let host_port = &self.url[start..end];
        if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        }
    }

    /// The URL of this schema through another `host:port` (a relay).
    pub fn url_via(&self, address: &str) -> String {
        let (start, end) = authority(&self.url);
        format!("{}{address}{}", &self.url[..start], &self.url[end..])
    }

    /// Runs `statements` in this schema.
    pub fn execute(&self, statements: &str) {
        sql(
            &self.base,
            &format!("SET search_path TO {}; {statements}", self.schema),
        )
        .expect("run SQL in the test schema");
    }
}

/// Where the `host:port` of a `postgres://user@host:port/db` URL is.
fn authority(url: &str) -> (usize, usize) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let start = url[after_scheme..end]
        .rfind('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    (start, end)
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = sql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}

/// Runs `statements` on `url` from a thread of its own, so that this works
/// in plain and in async tests alike.
fn sql(url: &str, statements: &str) -> Result<(), String> {
    let (url, statements) = (url.to_owned(), statements.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            client
                .batch_execute(&statements)
                .await
                .map_err(|e| e.to_string())
        })
    })
    .join()
    .expect("the SQL thread")
}

/// The URL of the server the tests use, found once per test process.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("PYCONCHAT_TEST_POSTGRES") {
            return url;
        }
        if sql(LOCAL, "SELECT 1").is_ok() {
            return LOCAL.to_owned();
        }
        throwaway().unwrap_or_else(|why| {
            panic!("no PostgreSQL for the tests ({why}); install it: {INSTALL}")
        })
    })
}

/// The directory of PostgreSQL's programs: on the PATH, or where Debian
/// keeps them.
fn binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin"));
    on_path
        .chain(debian)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// The throwaway cluster's directory, for the exit hook to stop.
static THROWAWAY: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();

/// Starts a cluster in a temp dir on a free port, owned by the `postgres`
/// user when the tests run as root (PostgreSQL refuses to run as root).
fn throwaway() -> Result<String, String> {
    let bin = binaries().ok_or("neither a server at 127.0.0.1:5432 nor initdb")?;
    let dir = tempfile::Builder::new()
        .prefix("pyconchat-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        run(Command::new("chown").arg("postgres:").arg(&dir), "chown")?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let initdb = format!(
        "{} -D {} -U postgres -A trust --no-sync -E UTF8",
        bin.join("initdb").display(),
        data.display()
    );
    run(&mut as_postgres(as_root, &initdb), "initdb")?;
    let start = format!(
        "{} -D {} -w -l {} -o '-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off' start",
        bin.join("pg_ctl").display(),
        data.display(),
        dir.join("log").display(),
        dir.display(),
    );
    run(&mut as_postgres(as_root, &start), "pg_ctl start")?;
    let _ = THROWAWAY.set((bin, dir));
    unsafe { libc::atexit(stop_throwaway) };
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

fn as_postgres(as_root: bool, command: &str) -> Command {
    let mut shell = if as_root {
        let mut su = Command::new("runuser");
        su.args(["-u", "postgres", "--", "sh", "-c"]);
        su
    } else {
        let mut sh = Command::new("sh");
        sh.arg("-c");
        sh
    };
    shell.arg(command);
    shell
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

extern "C" fn stop_throwaway() {
    if let Some((bin, dir)) = THROWAWAY.get() {
        let stop = format!(
            "{} -D {} -m immediate stop",
            bin.join("pg_ctl").display(),
            dir.join("data").display()
        );
        let as_root = unsafe { libc::geteuid() } == 0;
        let _ = as_postgres(as_root, &stop).output();
        let _ = std::fs::remove_dir_all(dir);
    }
}
