//! Fixtures shared by the integration tests: a real server on
//! `127.0.0.1:0` with a temporary data dir, users with their own identities,
//! and a raw framed connection for speaking (or mangling) the wire protocol.
#![allow(dead_code)]

pub mod cluster;
mod peer;
pub mod scrape;
pub mod services;
pub mod tmux;

#[allow(unused_imports)]
pub use peer::Peer;

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use bytes::{BufMut, BytesMut};
use futures::StreamExt;
use pyconchat::{
    client::{Client, ClientEvent, ConnectOptions, Identity, Transport},
    protocol::{
        ClientFrame, ConvId, Event, FrameCodec, Hello, LogEntry, PROTOCOL_VERSION, Seq,
        ServerFrame, Welcome, decode, encode,
    },
    server::{self, Limits},
    store::{PostgresStore, SqliteStore, Store},
};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::codec::Framed;

/// Long enough for a loaded CI machine; a passing test never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Checks `done` every few milliseconds until it holds; panics naming
/// `what` was awaited if it does not within [`DEADLINE`].
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the real `pyconchat` binary with `command` (a `serve` command
/// line, possibly after global flags), keeping the developer's own config
/// out, and returns it with the address it printed first.
pub fn spawn_serve(command: &mut std::process::Command) -> (std::process::Child, String) {
    spawn_serve_logging_to(command, std::process::Stdio::null())
}

/// SIGTERM to a `serve` process: it drains, telling its clients to move.
pub fn sigterm(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// [`spawn_serve`], with the server's log (its stderr) going to `log`.
pub fn spawn_serve_logging_to(
    command: &mut std::process::Command,
    log: std::process::Stdio,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .env_remove("PYCONCHAT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the server's first line");
    assert!(
        line.contains(" listening on "),
        "unexpected first line: {line}"
    );
    let address = line
        .split_whitespace()
        .last()
        .expect("an address")
        .to_owned();
    (child, address)
}

/// Default limits without flood control, for tests that send a lot or
/// sign up many names and groups.
pub fn without_rate_limits() -> Limits {
    Limits {
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        messages_per_second: 1_000_000,
        message_burst: 1_000_000,
        new_names_per_minute: 1_000_000,
        new_name_burst: 1_000_000,
        new_groups_per_minute: 1_000_000,
        new_group_burst: 1_000_000,
        ..Limits::default()
    }
}

/// A server running in this process on its own port and data dir.
pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: Arc<tempfile::TempDir>,
    pub limits: Limits,
    store: TestStore,
    running: Running,
}

/// What a [`TestServer`] stores in.
#[derive(Clone)]
enum TestStore {
    /// The embedded store in the data dir.
    Sqlite(Arc<SqliteStore>),
    /// A schema on the tests' PostgreSQL (`services`), and the URL the
    /// server reaches it at.
    Postgres(Arc<PostgresStore>, Arc<services::Database>, String),
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Self {
        Self::with_options(limits, server::Options::default()).await
    }

    /// A server run with `options` (a metrics listener, readiness probes...).
    pub async fn with_options(limits: Limits, options: server::Options) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let store = TestStore::Sqlite(Arc::new(SqliteStore::open(dir.path()).expect("open store")));
        Self::serve(dir, store, "127.0.0.1:0".parse().unwrap(), limits, options).await
    }

    /// A server on `dir` (another server's, stopped) at `addr`: a second
    /// node taking over where the first left off.
    pub async fn start_at(dir: Arc<tempfile::TempDir>, addr: SocketAddr) -> Self {
        let store = TestStore::Sqlite(Arc::new(SqliteStore::open(dir.path()).expect("open store")));
        Self::serve(
            dir,
            store,
            addr,
            Limits::default(),
            server::Options::default(),
        )
        .await
    }

    /// A server on PostgreSQL, in a migrated schema of its own; its data
    /// dir holds only uploaded files.
    pub async fn on_postgres() -> Self {
        let database = Arc::new(services::Database::migrated());
        let url = database.url.clone();
        Self::on_database(database, url).await
    }

    /// A server on `database`, which other servers may share, reaching it
    /// at `url` (the database's own, or one through a relay).
    pub async fn on_database(database: Arc<services::Database>, url: String) -> Self {
        Self::on_database_with_limits(database, url, Limits::default()).await
    }

    /// [`TestServer::on_database`] with these limits.
    pub async fn on_database_with_limits(
        database: Arc<services::Database>,
        url: String,
        limits: Limits,
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let store = Self::open_postgres(&dir, database, url).await;
        Self::serve(
            dir,
            store,
            "127.0.0.1:0".parse().unwrap(),
            limits,
            server::Options::default(),
        )
        .await
    }

    async fn open_postgres(
        dir: &tempfile::TempDir,
        database: Arc<services::Database>,
        url: String,
    ) -> TestStore {
        let (opened, files) = (url.clone(), dir.path().join("files"));
        let store = tokio::task::spawn_blocking(move || PostgresStore::open(&opened, files))
            .await
            .expect("the opening thread")
            .expect("open the PostgreSQL store");
        TestStore::Postgres(Arc::new(store), database, url)
    }

    async fn serve(
        dir: Arc<tempfile::TempDir>,
        store: TestStore,
        addr: SocketAddr,
        limits: Limits,
        options: server::Options,
    ) -> Self {
        let serving: Arc<dyn Store> = match &store {
            TestStore::Sqlite(store) => store.clone(),
            TestStore::Postgres(store, ..) => store.clone(),
        };
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let running = Running::spawn(listener, serving, limits.clone(), options);
        Self {
            addr,
            dir,
            limits,
            store,
            running,
        }
    }

    /// Shuts the server down gracefully and waits until it has.
    pub async fn stop(&mut self) {
        self.running.stop().await;
    }

    /// Stops the server and starts it again on the same port and data dir
    /// (and database).
    pub async fn restart(&mut self) {
        self.stop().await;
        let store = match &self.store {
            TestStore::Sqlite(_) => TestStore::Sqlite(Arc::new(
                SqliteStore::open(self.dir.path()).expect("open store"),
            )),
            TestStore::Postgres(_, database, url) => {
                Self::open_postgres(&self.dir, database.clone(), url.clone()).await
            }
        };
        *self = Self::serve(
            self.dir.clone(),
            store,
            self.addr,
            self.limits.clone(),
            server::Options::default(),
        )
        .await;
    }

    /// The running server's embedded store, to check what it holds.
    pub fn store(&self) -> &SqliteStore {
        match &self.store {
            TestStore::Sqlite(store) => store,
            TestStore::Postgres(..) => panic!("this server stores in PostgreSQL"),
        }
    }

    /// Caps the running server's database (see `SqliteStore::set_max_bytes`).
    pub fn cap_database(&self, bytes: u64) {
        self.store().set_max_bytes(bytes).expect("cap the database");
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

/// A server running in this process, stopped gracefully by [`Running::stop`]
/// or aborted when dropped.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Serves `listener` on `store` with `options` until stopped.
    pub fn spawn(
        listener: TcpListener,
        store: Arc<dyn Store>,
        limits: Limits,
        options: server::Options,
    ) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run_with(listener, store, limits, options, async {
            let _ = stopped.await;
        }));
        Running {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts the server down gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("the server shuts down in time")
                .expect("the server's task");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A person with a stable identity, who can connect many times.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub identity: Identity,
}

impl User {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            identity: Identity::generate(),
        }
    }

    pub fn options(&self, server: &TestServer, group: &str) -> ConnectOptions {
        self.options_at(server.address(), group)
    }

    /// Options to connect to the server at `address` (a node of a cluster).
    pub fn options_at(&self, address: String, group: &str) -> ConnectOptions {
        let mut options = ConnectOptions::new(address, &self.name, group, self.identity.clone());
        options.min_backoff = Duration::from_millis(50);
        options.max_backoff = Duration::from_millis(500);
        options.transport = Transport::Plaintext;
        options
    }

    pub async fn join(&self, server: &TestServer, group: &str) -> Session {
        self.try_join(server, group).await.expect("join")
    }

    /// Joins, expecting the server to refuse; returns why.
    pub async fn refused(
        &self,
        server: &TestServer,
        group: &str,
    ) -> pyconchat::client::ClientError {
        self.try_join(server, group)
            .await
            .err()
            .expect("the server refuses the join")
    }

    pub async fn try_join(
        &self,
        server: &TestServer,
        group: &str,
    ) -> Result<Session, pyconchat::client::ClientError> {
        Session::connect(self.options(server, group)).await
    }
}

/// As the admin of `group`: lets `name` in, or panics with the server's reason.
pub async fn approve(admin: &Client, group: &str, name: &str) {
    let request = pyconchat::protocol::Request::ApproveRequest {
        conv: group.to_owned(),
        name: name.to_owned(),
    };
    admin
        .request(request)
        .await
        .expect("the admin's approval goes through");
}

/// The names in a member list, in the server's order.
pub fn names(members: Vec<pyconchat::protocol::MemberInfo>) -> Vec<String> {
    members.into_iter().map(|m| m.name).collect()
}

/// One connection of a user, opened on one group, with its event stream.
pub struct Session {
    pub client: Client,
    pub welcome: Welcome,
    pub events: mpsc::Receiver<ClientEvent>,
    /// The group the connection opened.
    pub group: String,
}

impl Session {
    pub async fn connect(options: ConnectOptions) -> Result<Self, pyconchat::client::ClientError> {
        let group = options.group.clone().unwrap_or_default();
        let (client, connected, events) = tokio::time::timeout(DEADLINE, Client::connect(options))
            .await
            .expect("connect in time")?;
        Ok(Self {
            client,
            welcome: connected.welcome,
            events,
            group,
        })
    }

    /// Posts `text` to the session's group; returns its sequence number.
    pub async fn say(&self, text: &str) -> pyconchat::protocol::Seq {
        self.client
            .send_message(&self.group, text)
            .await
            .expect("the message is posted")
    }

    /// The welcome's word on the session's group.
    pub fn conversation(&self) -> &pyconchat::protocol::Conversation {
        self.welcome
            .conversations
            .iter()
            .find(|c| c.id == self.group)
            .expect("the session's group is in the welcome")
    }

    /// How the welcome says this user stands in the session's group.
    pub fn status(&self) -> pyconchat::protocol::JoinStatus {
        self.conversation().status
    }

    /// The session's group as the welcome showed it; `None` while pending.
    pub fn snapshot(&self) -> Option<&pyconchat::protocol::GroupSnapshot> {
        self.conversation().snapshot.as_ref()
    }

    pub async fn next(&mut self) -> ClientEvent {
        tokio::time::timeout(DEADLINE, self.events.recv())
            .await
            .expect("an event in time")
            .expect("the event stream is open")
    }

    /// Skips events until `pick` returns something.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
        loop {
            let event = self.next().await;
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    /// The next log entry, skipping presence and other events.
    pub async fn entry(&mut self) -> LogEntry {
        self.wait_for(|e| match e {
            ClientEvent::Server(Event::Message { entry, .. }) => Some(entry.clone()),
            _ => None,
        })
        .await
    }

    /// The next `n` log entries' texts (non-text bodies as their debug form).
    pub async fn texts(&mut self, n: usize) -> Vec<String> {
        let mut texts = Vec::new();
        for _ in 0..n {
            texts.push(text_of(&self.entry().await));
        }
        texts
    }

    /// Posts a marker and asserts it is the next entry: the server delivers
    /// in log order, so anything else still on its way to this session
    /// would come first, and no clock has to say that nothing more is coming.
    pub async fn assert_nothing_more(&mut self) {
        let marker = "(nothing more before this)";
        self.say(marker).await;
        let entry = self.entry().await;
        assert_eq!(text_of(&entry), marker, "unexpected entry {entry:?}");
    }

    /// Asserts that no log entry arrives for a short while.
    pub async fn assert_no_entry(&mut self) {
        let quiet = tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                match self.events.recv().await {
                    Some(ClientEvent::Server(Event::Message { entry, .. })) => return entry,
                    Some(_) => {}
                    None => std::future::pending().await,
                }
            }
        })
        .await;
        if let Ok(entry) = quiet {
            panic!("unexpected entry {entry:?}");
        }
    }
}

impl Session {
    /// The next log entry of any conversation, with its conversation.
    pub async fn next_entry(&mut self) -> (ConvId, LogEntry) {
        self.wait_for(|e| match e {
            ClientEvent::Server(Event::Message { conv, entry }) => {
                Some((conv.clone(), entry.clone()))
            }
            _ => None,
        })
        .await
    }

    /// Sends `text` to `conv` until it goes through: the connection may
    /// have been closed while the database was away, and comes back by
    /// itself.
    pub async fn send_until_accepted(&self, conv: &str, text: &str) -> pyconchat::protocol::Seq {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match self.client.send_message(conv, text).await {
                Ok(seq) => return seq,
                Err(error) => assert!(
                    tokio::time::Instant::now() < deadline,
                    "still refused: {error}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads entries until `last` arrives in every conversation it names;
    /// returns the texts per conversation, checking that sequence numbers
    /// go up by one in each: no gap, no duplicate.
    pub async fn read_until(&mut self, last: &[(&str, &str)]) -> BTreeMap<ConvId, Vec<String>> {
        let mut texts: BTreeMap<ConvId, Vec<String>> = BTreeMap::new();
        let mut newest: BTreeMap<ConvId, Seq> = BTreeMap::new();
        while !last.iter().all(|(conv, text)| {
            texts
                .get(*conv)
                .is_some_and(|t| t.last().is_some_and(|l| l == text))
        }) {
            let (conv, entry) = self.next_entry().await;
            if let Some(before) = newest.insert(conv.clone(), entry.seq) {
                assert_eq!(entry.seq, before + 1, "{conv}: {entry:?} after {before}");
            }
            texts.entry(conv).or_default().push(text_of(&entry));
        }
        texts
    }
}

pub fn text_of(entry: &LogEntry) -> String {
    match &entry.body {
        pyconchat::protocol::Body::Text { text } => text.clone(),
        other => format!("{other:?}"),
    }
}

/// A bare TCP connection that speaks frames by hand.
pub struct Raw {
    framed: Framed<TcpStream, FrameCodec>,
}

impl Raw {
    pub async fn connect(server: &TestServer) -> Self {
        Self::connect_to(server.addr).await
    }

    /// Connects to a server at `addr`, say a `pyconchat serve` process.
    pub async fn connect_to(addr: impl tokio::net::ToSocketAddrs) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            framed: Framed::new(stream, FrameCodec::new(16 << 20)),
        }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.framed.get_mut().write_all(bytes).await.expect("write");
    }

    /// Closes the sending side, as a client that goes away mid-frame does.
    pub async fn shutdown(&mut self) {
        self.framed.get_mut().shutdown().await.expect("shutdown");
    }

    /// Sends `payload` with a correct length prefix.
    pub async fn send_payload(&mut self, payload: &[u8]) {
        let mut frame = BytesMut::new();
        frame.put_u32(payload.len() as u32);
        frame.put_slice(payload);
        self.send_bytes(&frame).await;
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_payload(&encode(frame)).await;
    }

    pub async fn hello(&mut self, user: &User, group: &str) -> ServerFrame {
        self.hello_asking(user, group, false).await
    }

    /// A hello that asks for the compact form of the hot frames, or not.
    pub async fn hello_asking(&mut self, user: &User, group: &str, compact: bool) -> ServerFrame {
        self.send(&ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            name: user.name.clone(),
            secret: user.identity.secret().to_vec(),
            group: Some(group.into()),
            last_seq: Default::default(),
            compact,
        }))
        .await;
        self.read().await.expect("an answer to hello")
    }

    /// The next frame, or `None` once the server has closed the connection.
    pub async fn read(&mut self) -> Option<ServerFrame> {
        let payload = self.read_payload().await?;
        Some(decode(&payload).expect("a decodable frame"))
    }

    /// The next frame's payload as it came, or `None` once the server has
    /// closed the connection.
    pub async fn read_payload(&mut self) -> Option<bytes::Bytes> {
        let frame = tokio::time::timeout(DEADLINE, self.framed.next())
            .await
            .expect("a frame or close in time")?;
        frame.ok()
    }

    /// Reads until the server closes, returning the last frame it sent.
    /// Panics if the server keeps the connection open past the deadline.
    pub async fn last_words(&mut self) -> Option<ServerFrame> {
        let mut last = None;
        while let Some(frame) = self.read().await {
            last = Some(frame);
        }
        last
    }
}
