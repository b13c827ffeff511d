//! A reconnect storm: every member is dropped at once by a server restart
//! while messages keep coming, and all of them reconnect together. Each
//! member must end up with every entry exactly once, in order, and every
//! acknowledged message must be among them.
//!
//! The default size suits CI. For load figures, scale it up:
//! `PYCONCHAT_STORM_CLIENTS=10000 cargo test --release --test storm -- --nocapture`
//! (needs `ulimit -n` above twice the client count).

mod common;

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Session, TestServer, User, without_rate_limits};
use futures::{StreamExt, stream};
use pyconchat::{client::ClientEvent, protocol::Event};
use tokio::sync::watch;

/// Messages acknowledged before the restart, and again after it, before
/// the publisher stops: the storm happens while messages flow.
const PUBLISHED_EACH_SIDE: usize = 20;

fn clients() -> usize {
    std::env::var("PYCONCHAT_STORM_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// The process's resident set size now and at its peak, in MiB (Linux).
fn rss_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_loses_and_doubles_nothing() {
    let n = clients();
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let admin_user = User::new("admin");
    let Session {
        client: admin,
        events: mut admin_events,
        ..
    } = admin_user.join(&server, "storm").await;
    // The admin hears of every join; its events are drained from the start
    // so its client never stops reading (and answering) along the way.
    tokio::spawn(async move { while admin_events.recv().await.is_some() {} });
    let members: Vec<User> = (0..n).map(|i| User::new(&format!("m{i}"))).collect();

    let started = Instant::now();
    stream::iter(&members)
        .for_each_concurrent(64, |user| {
            let server = &server;
            let admin = &admin;
            async move {
                drop(user.join(server, "storm").await);
                common::approve(admin, "storm", &user.name).await;
            }
        })
        .await;
    let sessions: Vec<Session> = stream::iter(&members)
        .map(|user| user.join(&server, "storm"))
        .buffer_unordered(64)
        .collect()
        .await;
    let setup = started.elapsed();

    // Each member collects the sequence numbers it receives until it has
    // reached the final head, published once the test knows it.
    let (head_tx, head_rx) = watch::channel(None::<u64>);
    let collectors: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            let mut head_rx = head_rx.clone();
            tokio::spawn(async move {
                let Session { client, mut events, .. } = session;
                let mut seqs = Vec::new();
                let mut reconnects = 0;
                loop {
                    if let Some(head) = *head_rx.borrow()
                        && seqs.last() == Some(&head)
                    {
                        drop(client);
                        return (seqs, reconnects);
                    }
                    tokio::select! {
                        event = events.recv() => match event {
                            Some(ClientEvent::Server(Event::Message { entry, .. })) => seqs.push(entry.seq),
                            Some(ClientEvent::Reconnected(_)) => reconnects += 1,
                            Some(ClientEvent::Closed(reason)) => panic!("a member gave up: {reason:?}"),
                            Some(_) => {}
                            None => panic!("events ended"),
                        },
                        _ = head_rx.changed() => {}
                    }
                }
            })
        })
        .collect();

    // A publisher keeps posting through the storm; it notes what was
    // acknowledged, and counts it for the test to wait on.
    let publisher = admin.clone();
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let sending = tokio::spawn({
        let acknowledged = acknowledged.clone();
        async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !*stop_rx.borrow() {
                if let Ok(seq) = publisher.send_message("storm", format!("storm {i}")).await {
                    acked.push(seq);
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                } else {
                    // The server is restarting; the client is reconnecting.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                i += 1;
            }
            acked
        }
    });
    let posted = |at_least: usize| {
        let acknowledged = acknowledged.clone();
        move || acknowledged.load(Ordering::Relaxed) >= at_least
    };
    common::wait_until(
        "messages flow before the restart",
        posted(PUBLISHED_EACH_SIDE),
    )
    .await;
    let storm = Instant::now();
    server.restart().await;
    let before = acknowledged.load(Ordering::Relaxed);
    common::wait_until(
        "messages flow after the restart",
        posted(before + PUBLISHED_EACH_SIDE),
    )
    .await;
    stop_tx.send(true).unwrap();
    let acked = sending.await.unwrap();

    // Everyone catches up to the head; a fresh reader tells the head.
    let probe = admin_user.join(&server, "storm").await;
    let head = probe.snapshot().unwrap().head;
    head_tx.send(Some(head)).unwrap();
    let mut reconnected = 0;
    let (mut delivered, mut lost, mut doubled) = (0, 0, 0);
    for collector in collectors {
        let (seqs, reconnects) = tokio::time::timeout(Duration::from_secs(120), collector)
            .await
            .expect("every member catches up")
            .unwrap();
        let first = seqs[0];
        assert_eq!(
            seqs,
            (first..=head).collect::<Vec<_>>(),
            "each entry once, in order"
        );
        let received: HashSet<u64> = seqs.iter().copied().collect();
        let these = acked.iter().filter(|seq| received.contains(seq)).count();
        delivered += these;
        lost += acked.len() - these;
        doubled += seqs.len() - received.len();
        reconnected += usize::from(reconnects > 0);
    }
    assert_eq!(
        (delivered, lost, doubled),
        (n * acked.len(), 0, 0),
        "every acknowledged message reached every member once: (delivered, lost, doubled)"
    );
    let caught_up = storm.elapsed();
    assert_eq!(reconnected, n, "every member was dropped and came back");
    let (rss, peak) = rss_mib();
    println!(
        "storm: {n} members set up in {setup:.1?}; {} messages acknowledged, {delivered} delivered, {lost} lost, {doubled} doubled; all reconnected and caught up to entry {head} within {caught_up:.1?} of the restart; test process RSS {rss} MiB, peak {peak} MiB (server and all clients together)",
        acked.len()
    );
}

/// End-to-end latencies (sorted) of `count` 8 KiB messages posted at
/// 200/s to 20 members, with or without a member that never reads.
async fn latencies(count: usize, stalled: bool) -> Vec<Duration> {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let admin_user = User::new("admin");
    let Session {
        client: admin,
        events: mut admin_events,
        ..
    } = admin_user.join(&server, "lat").await;
    tokio::spawn(async move { while admin_events.recv().await.is_some() {} });
    let mut names: Vec<User> = (0..20).map(|i| User::new(&format!("m{i}"))).collect();
    let staller = User::new("staller");
    if stalled {
        names.push(staller.clone());
    }
    for user in &names {
        drop(user.join(&server, "lat").await);
        common::approve(&admin, "lat", &user.name).await;
    }
    let mut raw = None;
    if stalled {
        let mut connection = common::Raw::connect(&server).await;
        connection.hello(&staller, "lat").await;
        raw = Some(connection);
    }
    let sent: std::sync::Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        std::sync::Arc::new(std::sync::Mutex::new(vec![None; count]));
    let mut collectors = Vec::new();
    for user in names.iter().filter(|u| u.name != "staller") {
        let mut session = user.join(&server, "lat").await;
        let sent = sent.clone();
        collectors.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while out.len() < count {
                if let ClientEvent::Server(Event::Message { entry, .. }) = session.next().await
                    && let pyconchat::protocol::Body::Text { text } = entry.body
                    && let Some(i) = text.split(' ').next().and_then(|i| i.parse::<usize>().ok())
                {
                    let at = sent.lock().unwrap()[i].expect("sent before received");
                    out.push(at.elapsed());
                }
            }
            out
        }));
    }
    let pad = "x".repeat(8 * 1024);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for i in 0..count {
        tick.tick().await;
        sent.lock().unwrap()[i] = Some(Instant::now());
        let client = admin.clone();
        let text = format!("{i} {pad}");
        tokio::spawn(async move { client.send_message("lat", text).await.unwrap() });
    }
    let mut all = Vec::new();
    for collector in collectors {
        all.extend(
            tokio::time::timeout(Duration::from_secs(60), collector)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    drop(raw);
    all.sort();
    all
}

/// A member that never reads its socket must not slow the others down: it
/// is dropped once its queue is full, and everyone else gets every message.
/// Prints the latencies with and without it; asserts only delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_leaves_the_others_alone() {
    let count = 600;
    let calm = latencies(count, false).await;
    let stalled = latencies(count, true).await;
    assert_eq!(calm.len(), 20 * count);
    assert_eq!(stalled.len(), 20 * count);
    let at = |v: &Vec<Duration>, q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "latency of 8 KiB messages at 200/s to 20 members (debug build unless --release): \
         without a stalled reader p50 {:.2?} p99 {:.2?} max {:.2?}; with one p50 {:.2?} p99 {:.2?} max {:.2?}",
        at(&calm, 0.5),
        at(&calm, 0.99),
        calm[calm.len() - 1],
        at(&stalled, 0.5),
        at(&stalled, 0.99),
        stalled[stalled.len() - 1],
    );
}
