//! Operating a server: metrics, health and readiness over HTTP; the drain
//! on SIGTERM (answer what was asked, tell clients to move, lose nothing
//! acknowledged, exit 0); clients that move along a list of servers.

mod common;

use std::{
    collections::BTreeMap,
    io::BufRead,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    DEADLINE, Raw, Session, TestServer, User, approve,
    scrape::{get, sample, scrape_until},
    text_of, without_rate_limits,
};
use pyconchat::{
    client::{ClientEvent, LAST_SERVER_FILE},
    protocol::{
        Body, ClientFrame, Event, Outcome, ReplyData, Request, RequestFrame, ServerFrame, Welcome,
    },
    server::{Options, Readiness},
    store::{SqliteStore, Store},
};
use tokio::net::TcpListener;

/// A readiness probe the test turns off, standing in for a cluster's bus.
struct Switch(AtomicBool);

impl Readiness for Switch {
    fn name(&self) -> &str {
        "bus"
    }

    fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("not connected".to_owned())
        }
    }
}

#[tokio::test]
async fn metrics_count_connections_messages_deliveries_and_commits_per_node() {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = http.local_addr().unwrap().to_string();
    let bus = Arc::new(Switch(AtomicBool::new(true)));
    let options = Options {
        metrics: Some(http),
        node_name: Some("a".into()),
        readiness: vec![bus.clone()],
        ..Options::default()
    };
    let server = TestServer::with_options(without_rate_limits(), options).await;
    assert_eq!(get(&metrics, "/health").await, (200, "live\n".into()));
    assert_eq!(get(&metrics, "/ready").await, (200, "ready\n".into()));

    let ann = User::new("ann").join(&server, "rust").await;
    let mut bob = User::new("bob").join(&server, "rust").await;
    approve(&ann.client, "rust", "bob").await;
    for n in 0..3 {
        ann.say(&format!("m{n}")).await;
    }
    for n in 0..3 {
        assert_eq!(next_text(&mut bob).await, format!("m{n}"));
    }

    let text = scrape_until(&metrics, "pyconchat_deliveries_total{node=\"a\"}", 3.0).await;
    for (series, value) in [
        ("pyconchat_connections{node=\"a\"}", 2.0),
        ("pyconchat_sessions{node=\"a\",state=\"online\"}", 2.0),
        ("pyconchat_messages_accepted_total{node=\"a\"}", 3.0),
        ("pyconchat_slow_reader_drops_total{node=\"a\"}", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    for series in [
        "pyconchat_commit_latency_seconds_count{node=\"a\"}",
        "pyconchat_fanout_latency_seconds_count{node=\"a\"}",
    ] {
        assert!(sample(&text, series).is_some_and(|n| n >= 1.0), "{series}");
    }
    for series in [
        "pyconchat_hub_queue_depth{node=\"a\"}",
        "pyconchat_outbound_queue_depth{node=\"a\"}",
        "pyconchat_file_in_bytes_total{node=\"a\"}",
        "pyconchat_file_out_bytes_total{node=\"a\"}",
    ] {
        assert!(sample(&text, series).is_some(), "{series} missing");
    }

    bus.0.store(false, Ordering::Relaxed);
    let (status, why) = get(&metrics, "/ready").await;
    assert_eq!(status, 503);
    assert_eq!(why, "bus: not connected\n");
    assert_eq!(get(&metrics, "/health").await.0, 200, "still alive");
    assert_eq!(get(&metrics, "/nothing").await.0, 404);
}

/// `pyconchat serve` with its output piped: the child, the chat address and
/// the metrics address it printed.
fn spawn_serve_with_metrics(dir: &std::path::Path) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyconchat"))
        .args([
            "serve",
            "--plaintext",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .env_remove("PYCONCHAT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        // Requests fast enough to be still queued when the signal comes.
        .env("PYCONCHAT_SERVER_MESSAGE_BURST", "100000")
        .env("PYCONCHAT_SERVER_REQUEST_BURST", "100000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = |marker: &str| {
        let line = lines.next().expect("a line").expect("utf-8");
        assert!(line.contains(marker), "expected {marker:?}, got {line:?}");
        line.rsplit(' ')
            .next()
            .unwrap()
            .trim_start_matches("http://")
            .to_owned()
    };
    let chat = address(" listening on ");
    let metrics = address("/ready on ");
    (child, chat, metrics)
}

/// Waits for `child` to exit and returns its exit code.
fn exit_code(child: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(started.elapsed() < DEADLINE, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The chat messages in `group`'s log: seq → text.
fn logged(dir: &std::path::Path, group: &str) -> BTreeMap<u64, String> {
    let store = SqliteStore::open(dir).unwrap();
    store
        .read_log(group, 0, 1_000_000)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.body, Body::Text { .. }))
        .map(|e| (e.seq, text_of(&e)))
        .collect()
}

#[tokio::test]
async fn sigterm_answers_what_was_asked_tells_clients_to_move_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, chat, metrics) = spawn_serve_with_metrics(dir.path());
    let ann = User::new("ann");
    let mut raw = Raw::connect_to(&chat).await;
    let welcome = raw.hello(&ann, "rust").await;
    assert!(
        matches!(welcome, ServerFrame::Welcome(Welcome { .. })),
        "{welcome:?}"
    );
    assert_eq!(get(&metrics, "/ready").await.0, 200);

    // Requests on the wire, then the signal: the server answers every
    // request it read, then says `server_shutdown`, then closes.
    const SENT: u32 = 200;
    for id in 1..=SENT {
        let request = Request::SendMessage {
            conv: "rust".into(),
            text: format!("m{id}"),
        };
        raw.send(&ClientFrame::Request(RequestFrame { id, request }))
            .await;
    }
    common::sigterm(&server);
    let mut acked = BTreeMap::new();
    let mut frames = Vec::new();
    while let Some(frame) = raw.read().await {
        frames.push(frame);
    }
    let (last, before) = frames.split_last().expect("frames before the close");
    assert_eq!(
        *last,
        ServerFrame::Event(Event::ServerShutdown),
        "the last word"
    );
    for frame in before {
        match frame {
            ServerFrame::Reply(reply) => match &reply.outcome {
                Outcome::Ok {
                    data: ReplyData::Sent { seq },
                } => {
                    acked.insert(*seq, format!("m{}", reply.id));
                }
                other => panic!("request {} got {other:?}", reply.id),
            },
            ServerFrame::Event(Event::Message { .. }) => {}
            other => panic!("unexpected frame during the drain: {other:?}"),
        }
    }
    assert_eq!(exit_code(&mut server), Some(0));
    // Everything committed was answered, everything answered is kept.
    assert_eq!(logged(dir.path(), "rust"), acked);
    assert!(acked.len() <= SENT as usize);
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_a_server_drains_under_load() {
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let writers = ["ann", "bob", "cat"];
    let mut sessions = Vec::new();
    let admin = User::new(writers[0]).join(&server, "rust").await;
    for name in &writers[1..] {
        let session = User::new(name).join(&server, "rust").await;
        approve(&admin.client, "rust", name).await;
        sessions.push(session);
    }
    sessions.insert(0, admin);
    // Each writer keeps sending until the server goes; acknowledgements
    // are collected as they come.
    let mut tasks = Vec::new();
    for (w, session) in sessions.iter().enumerate() {
        let client = session.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = BTreeMap::new();
            let mut pending = Vec::new();
            for n in 0..2_000 {
                let text = format!("w{w}-{n}");
                match client.queue(Request::SendMessage {
                    conv: "rust".into(),
                    text: text.clone(),
                }) {
                    Ok(reply) => pending.push((text, reply)),
                    Err(_) => break,
                }
                if pending.len() == 64 {
                    for (text, reply) in pending.drain(..) {
                        if let Ok(ReplyData::Sent { seq }) = reply.await {
                            acked.insert(seq, text);
                        }
                    }
                }
            }
            for (text, reply) in pending {
                if let Ok(ReplyData::Sent { seq }) = reply.await {
                    acked.insert(seq, text);
                }
            }
            acked
        }));
    }
    // Stop once some messages are in, with requests still on the wire.
    let dir = server.dir.clone();
    common::wait_until("some messages are committed", || {
        logged(dir.path(), "rust").len() >= 500
    })
    .await;
    server.stop().await;
    let mut acked = BTreeMap::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    let logged = logged(dir.path(), "rust");
    let lost: Vec<_> = acked
        .iter()
        .filter(|(seq, text)| logged.get(seq) != Some(text))
        .collect();
    let unanswered: Vec<_> = logged
        .keys()
        .filter(|seq| !acked.contains_key(seq))
        .collect();
    assert!(acked.len() >= 500, "acknowledged {}", acked.len());
    assert!(lost.is_empty(), "acknowledged but not kept: {lost:?}");
    assert!(
        unanswered.is_empty(),
        "kept but never answered: {unanswered:?}"
    );
}

/// The next chat message's text, skipping membership entries and events.
async fn next_text(session: &mut Session) -> String {
    session
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Message { entry, .. }) => match &entry.body {
                Body::Text { text } => Some(text.clone()),
                _ => None,
            },
            _ => None,
        })
        .await
}

/// An address where nothing listens.
async fn dead_address() -> std::net::SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test]
async fn a_client_skips_a_server_that_is_down_and_remembers_the_one_that_worked() {
    let server = TestServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let memory = data.path().join(LAST_SERVER_FILE);
    let ann = User::new("ann");
    let mut options = ann.options(&server, "rust");
    options.server = format!("{},{}", dead_address().await, server.address());
    options.remember = Some(memory.clone());
    let session = Session::connect(options).await.expect("the second server");
    assert_eq!(session.group, "rust");
    assert_eq!(
        std::fs::read_to_string(&memory).unwrap().trim(),
        server.address()
    );
}

#[tokio::test]
async fn on_a_drain_the_client_moves_to_the_next_server_and_resumes_its_log() {
    // Two nodes on one data dir, one after the other: b takes over when a
    // stops, as a second node of a cluster would.
    let mut a = TestServer::start().await;
    let b_addr = dead_address().await;
    let ann = User::new("ann");
    let bob = User::new("bob");
    let data = tempfile::tempdir().unwrap();
    let memory = data.path().join(LAST_SERVER_FILE);
    let mut options = ann.options(&a, "rust");
    options.server = format!("{},{b_addr}", a.address());
    options.remember = Some(memory.clone());
    let mut ann_session = Session::connect(options).await.unwrap();
    let _bob_on_a = bob.join(&a, "rust").await;
    approve(&ann_session.client, "rust", "bob").await;
    ann_session.say("before the drain").await;
    assert_eq!(next_text(&mut ann_session).await, "before the drain");

    a.stop().await;
    ann_session
        .wait_for(|e| matches!(e, ClientEvent::Server(Event::ServerShutdown)).then_some(()))
        .await;
    let moving = ann_session
        .wait_for(|e| match e {
            ClientEvent::Reconnecting { moving, .. } => Some(*moving),
            _ => None,
        })
        .await;
    assert!(moving, "the client knows it is moving, not lost");
    let b = TestServer::start_at(a.dir.clone(), b_addr).await;
    let connected = ann_session
        .wait_for(|e| match e {
            ClientEvent::Reconnected(connected) => Some(connected.clone()),
            _ => None,
        })
        .await;
    assert_eq!(connected.server, b.address(), "the next server answered");
    assert_eq!(connected.welcome.conversations[0].id, "rust");

    let bob_on_b = Session::connect(bob.options(&b, "")).await.unwrap();
    bob_on_b
        .client
        .send_message("rust", "after the drain")
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ann_session).await,
        "after the drain",
        "nothing again from before, nothing missed"
    );
    assert_eq!(
        std::fs::read_to_string(&memory).unwrap().trim(),
        b.address(),
        "b is where the next run starts"
    );
}
