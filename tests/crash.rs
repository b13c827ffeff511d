//! Crash safety: SIGKILL the real server while clients are sending, start
//! it again on the same data dir, and check that every acknowledged message
//! is in the log exactly once and reaches a member exactly once.

mod common;

use std::{
    collections::HashSet,
    path::Path,
    process::{Child, Command},
    time::Duration,
};

use common::{Session, User, text_of};
use pyconchat::{
    client::{ClientEvent, ConnectOptions},
    protocol::Event,
};

/// Starts `pyconchat serve` on `listen`, flood control off.
fn serve(data_dir: &Path, listen: &str) -> (Child, String) {
    common::spawn_serve(
        Command::new(env!("CARGO_BIN_EXE_pyconchat"))
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .env("PYCONCHAT_SERVER_MESSAGES_PER_SECOND", "1000000")
            .env("PYCONCHAT_SERVER_MESSAGE_BURST", "1000000")
            .env("PYCONCHAT_SERVER_REQUESTS_PER_SECOND", "1000000")
            .env("PYCONCHAT_SERVER_REQUEST_BURST", "1000000"),
    )
}

fn options(user: &User, address: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(address, &user.name, "rust", user.identity.clone());
    options.min_backoff = Duration::from_millis(50);
    options.max_backoff = Duration::from_millis(200);
    options
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, address) = serve(dir.path(), "127.0.0.1:0");
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin = Session::connect(options(&alice, &address)).await.unwrap();
    drop(Session::connect(options(&bob, &address)).await.unwrap());
    common::approve(&admin.client, "bob").await;
    let member = Session::connect(options(&bob, &address)).await.unwrap();

    // Clients stop reading their sockets while their events sit unread, so
    // both event streams are consumed throughout. bob's log positions are
    // kept until he has everything up to the head known after the restart.
    let (head_tx, mut head_rx) = tokio::sync::watch::channel(None::<u64>);
    let bob_client = member.client.clone();
    let bob_events = tokio::spawn(async move {
        let mut events = member.events;
        let mut received = Vec::new();
        loop {
            let reached = |received: &Vec<u64>, head: &Option<u64>| {
                head.is_some() && received.last() == head.as_ref()
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(ClientEvent::Server(Event::Message { entry })) => received.push(entry.seq),
                    Some(ClientEvent::Closed(reason)) => panic!("bob gave up: {reason:?}"),
                    Some(_) => {}
                    None => panic!("bob's events ended"),
                },
                changed = head_rx.changed() => changed.unwrap(),
            }
            if reached(&received, &head_rx.borrow()) {
                return received;
            }
        }
    });
    let alice_client = admin.client.clone();
    let mut alice_events = admin.events;
    tokio::spawn(async move { while alice_events.recv().await.is_some() {} });

    // Two senders, many requests in flight each, until the server dies.
    let senders: Vec<_> = [("alice", alice_client), ("bob", bob_client)]
        .into_iter()
        .map(|(who, client)| {
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut next = 0;
                'sending: loop {
                    let batch: Vec<_> = (next..next + 32)
                        .map(|i| {
                            let client = client.clone();
                            let text = format!("{who} {i}");
                            async move { (client.send_message(text.clone()).await, text) }
                        })
                        .collect();
                    next += 32;
                    for (result, text) in futures::future::join_all(batch).await {
                        match result {
                            Ok(seq) => acked.push((seq, text)),
                            Err(_) => break 'sending,
                        }
                    }
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.unwrap());
    }
    assert!(
        acked.len() > 50,
        "the test sent too little to mean much: {}",
        acked.len()
    );

    let (mut server, _) = serve(dir.path(), &address);

    // The log after the restart, read from the start.
    let mut reader_options = options(&alice, &address);
    reader_options.last_seq = Some(0);
    let mut reader = Session::connect(reader_options).await.unwrap();
    let head = reader.welcome.snapshot.as_ref().unwrap().head;
    let mut log = Vec::new();
    while log.len() < head as usize {
        let entry = reader.entry().await;
        log.push((entry.seq, text_of(&entry)));
    }
    let seqs: Vec<u64> = log.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "no gaps");
    let texts: HashSet<&String> = log.iter().map(|(_, text)| text).collect();
    assert_eq!(texts.len(), log.len(), "nothing appears twice");
    for (seq, text) in &acked {
        assert_eq!(
            log[*seq as usize - 1].1,
            *text,
            "acknowledged entry {seq} is intact"
        );
    }

    // bob was connected throughout; his client reconnects on its own and
    // resumes. Everything he received, before and after, is the log once.
    head_tx.send(Some(head)).unwrap();
    let received = tokio::time::timeout(common::DEADLINE, bob_events)
        .await
        .expect("bob catches up in time")
        .unwrap();
    let first = received[0];
    assert_eq!(
        received,
        (first..=head).collect::<Vec<_>>(),
        "bob got every entry once, in order"
    );

    server.kill().unwrap();
    server.wait().unwrap();
    println!(
        "acknowledged {} messages; log head after restart {head}",
        acked.len()
    );
}
