//! Where the tests find PostgreSQL and NATS.
//!
//! PostgreSQL: `PYCONCHAT_TEST_POSTGRES` (a URL) when set; else the local
//! service on 127.0.0.1:5432, database `test`, user `postgres` (trust); else
//! a throwaway cluster started here from the installed binaries (`initdb` +
//! `pg_ctl` in a temp dir, on a free port) and stopped when the test process
//! exits. Each test gets a schema of its own ([`Database`]), dropped when
//! done, so tests run in parallel on one server. A test that stops and
//! restarts PostgreSQL runs a server of its own ([`Postgres`]).
//!
//! NATS: `PYCONCHAT_TEST_NATS` when set; else the local server on
//! 127.0.0.1:4222 when one answers; else a throwaway `nats-server` this
//! process starts on a free port (and which ends with it). Each test takes
//! its own namespace ([`namespace`]), so tests share one server in parallel
//! without meeting.
//!
//! Without either service a test fails saying how to install it: it never
//! skips.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

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
    /// A new, empty schema on the tests' server.
    pub fn empty() -> Self {
        Self::empty_on(server_url())
    }

    /// A new, empty schema on the server at `base`.
    pub fn empty_on(base: &str) -> Self {
        let base = base.to_owned();
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
        Self::migrated_on(server_url())
    }

    /// [`Database::migrated`] on the server at `base`.
    pub fn migrated_on(base: &str) -> Self {
        let database = Self::empty_on(base);
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

    /// The number `select` (a query in this schema, such as a `count(*)`)
    /// gives.
    pub fn number(&self, select: &str) -> i64 {
        sql(&self.url, select)
            .expect("query the test schema")
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("a number from {select}"))
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
/// in plain and in async tests alike; returns the first column of the last
/// row they gave, if any.
fn sql(url: &str, statements: &str) -> Result<Option<String>, String> {
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
            let messages = client
                .simple_query(&statements)
                .await
                .map_err(|e| e.to_string())?;
            Ok(messages.iter().rev().find_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            }))
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

/// The throwaway server the tests share when no other is found, for the
/// exit hook to stop.
static THROWAWAY: OnceLock<Postgres> = OnceLock::new();

fn throwaway() -> Result<String, String> {
    let server = Postgres::start()?;
    let url = server.url();
    let _ = THROWAWAY.set(server);
    unsafe { libc::atexit(stop_throwaway) };
    Ok(url)
}

extern "C" fn stop_throwaway() {
    if let Some(server) = THROWAWAY.get() {
        server.discard();
    }
}

/// A PostgreSQL server of its own: a cluster in a temp dir on a free port,
/// made by `initdb` and run by `pg_ctl`, owned by the `postgres` user when
/// the tests run as root (PostgreSQL refuses to run as root). A test may
/// stop it and start it again on the same port and data; it is stopped and
/// deleted when dropped.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Postgres {
    pub fn start() -> Result<Postgres, String> {
        let bin = binaries().ok_or("neither a server at 127.0.0.1:5432 nor initdb")?;
        let dir = tempfile::Builder::new()
            .prefix("pyconchat-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let as_root = unsafe { libc::geteuid() } == 0;
        if as_root {
            run(Command::new("chown").arg("postgres:").arg(&dir), "chown")?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let server = Postgres {
            bin,
            dir,
            port,
            as_root,
        };
        let initdb = format!(
            "{} -D {} -U postgres -A trust --no-sync -E UTF8",
            server.bin.join("initdb").display(),
            server.data().display()
        );
        run(&mut as_postgres(as_root, &initdb), "initdb")?;
        server.start_again()?;
        Ok(server)
    }

    /// Its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &str) -> Command {
        let command = format!(
            "{} -D {} {args}",
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        as_postgres(self.as_root, &command)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let start = format!("-w -l {} -o '{options}' start", log.display());
        run(&mut self.pg_ctl(&start), "pg_ctl start")
    }

    /// Stops the server as an operator would for a restart: `pg_ctl stop
    /// -m fast` ends every connection and waits until the server is down.
    pub fn stop(&self) -> Result<(), String> {
        run(&mut self.pg_ctl("-w -m fast stop"), "pg_ctl stop")
    }

    /// A server of the test's own, started from async code.
    pub async fn start_own() -> std::sync::Arc<Postgres> {
        let started = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
        std::sync::Arc::new(
            started.unwrap_or_else(|why| panic!("a PostgreSQL of this test's own: {why}")),
        )
    }

    /// [`Postgres::stop`] from async code.
    pub async fn stop_from_async(self: &std::sync::Arc<Self>) {
        self.in_background(Postgres::stop).await;
    }

    /// [`Postgres::start_again`] from async code.
    pub async fn start_again_from_async(self: &std::sync::Arc<Self>) {
        self.in_background(Postgres::start_again).await;
    }

    /// Runs a blocking `pg_ctl` step off the async runtime; panics with
    /// why it failed.
    async fn in_background(self: &std::sync::Arc<Self>, step: fn(&Postgres) -> Result<(), String>) {
        let server = self.clone();
        tokio::task::spawn_blocking(move || step(&server))
            .await
            .unwrap()
            .unwrap_or_else(|why| panic!("pg_ctl: {why}"));
    }

    /// Stops the server at once and deletes its data.
    fn discard(&self) {
        let _ = self.pg_ctl("-m immediate stop").output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.discard();
    }
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

const INSTALL_NATS: &str = "install it with `apt-get install nats-server` (Debian) or set \
                            PYCONCHAT_TEST_NATS=nats://host:port";

/// The NATS server the tests use, as a `nats://` URL.
pub fn nats_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("PYCONCHAT_TEST_NATS") {
            return url;
        }
        let local: SocketAddr = "127.0.0.1:4222".parse().expect("an address");
        if TcpStream::connect_timeout(&local, Duration::from_secs(1)).is_ok() {
            return format!("nats://{local}");
        }
        // Started from a thread that never ends, so the server's
        // parent-death signal fires only when this process exits.
        let (sent, url) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let server = NatsServer::start();
            sent.send(server.url()).expect("the test waits for the URL");
            loop {
                std::thread::park();
            }
        });
        url.recv().expect("a throwaway nats-server")
    })
    .clone()
}

/// A subject namespace no other test uses.
pub fn namespace() -> String {
    let mut random = [0_u8; 6];
    getrandom::fill(&mut random).expect("random bytes");
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("test_{hex}")
}

/// A `nats-server` of this test's own, on a free port: for tests that stop
/// and restart the bus. Stopped when dropped.
pub struct NatsServer {
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = NatsServer { port, child: None };
        server.start_again();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn start_again(&mut self) {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new("nats-server");
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it asks the kernel to end the
        // server when the thread that started it ends.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server ({e}); {INSTALL_NATS}"));
        self.child = Some(child);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + super::DEADLINE;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
