//! The server's handling of requests: one real server per fuzz process, and
//! per input a script of connections, requests, stray hellos, odd payloads
//! and raw bytes in a fresh group. See `fuzz/shared/server_requests.rs`.
//!
//! A panic in any server task aborts the process (libFuzzer's panic hook),
//! so it is reported as a crash like a failed check.
#![no_main]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use libfuzzer_sys::fuzz_target;
use pyconchat::{
    server::{self, Limits},
    store::SqliteStore,
};
use tokio::{net::TcpListener, runtime::Runtime, sync::oneshot, task::JoinHandle};

#[path = "../shared/server_requests.rs"]
mod server_requests;

use server_requests::{Health, exercise, script};

/// Every this many inputs the server starts over on a new data dir, so that
/// the groups the inputs create do not pile up in memory and on disk.
const RESTART_EVERY: u64 = 1_000;

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    health: Health,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        // RAM-backed when available: the store syncs every commit.
        let dir = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("a temp dir");
        let store = Arc::new(SqliteStore::open(dir.path()).expect("open the store"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            requests_per_second: 1_000_000,
            request_burst: 1_000_000,
            messages_per_second: 1_000_000,
            message_burst: 1_000_000,
            handshake_timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, store, limits, async {
            let _ = stopped.await;
        }));
        let health = Health::connect(addr)
            .await
            .expect("the health check connects");
        Server {
            addr,
            stop,
            task,
            health,
            _dir: dir,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server shuts down in time")
            .expect("the server task ends cleanly");
    }
}

struct Harness {
    runtime: Runtime,
    server: Option<Server>,
    runs: u64,
}

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

fuzz_target!(
    init: {
        // libFuzzer's `main` is not Rust's, which would ignore SIGPIPE: a
        // write to a socket the peer closed would kill the process instead
        // of failing with EPIPE as it does in the real server.
        // SAFETY: setting a signal's disposition to "ignore" at start-up,
        // before any other thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    },
    |data: &[u8]| {
    let steps = script(data);
    let mut harness = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let harness = harness.get_or_insert_with(|| Harness {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime"),
        server: None,
        runs: 0,
    });
    harness.runs += 1;
    let runs = harness.runs;
    let slot = &mut harness.server;
    harness.runtime.block_on(async {
        if runs.is_multiple_of(RESTART_EVERY)
            && let Some(old) = slot.take()
        {
            old.stop().await;
        }
        if slot.is_none() {
            *slot = Some(Server::start().await);
        }
        let server = slot.as_mut().unwrap();
        let group = format!("g{runs}");
        if let Err(broken) = exercise(server.addr, &group, &steps).await {
            panic!("{broken}\nscript: {steps:#?}");
        }
        if let Err(down) = server.health.check().await {
            panic!("the server is down after the script: {down}\nscript: {steps:#?}");
        }
    });
    }
);
