//! Crash safety: SIGKILL the real server while clients are sending, start
//! it again on the same data dir, and check that every acknowledged message
//! is in the log exactly once and reaches a member exactly once.

mod common;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    process::{Child, Command},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{Session, User};
use pyconchat::{
    client::{ClientEvent, ConnectOptions},
    protocol::{Body, Event},
};

/// Acknowledgements to wait for before the kill: enough that many
/// messages are in flight and many already durable when the server dies.
const ACKNOWLEDGED_BEFORE_KILL: usize = 300;

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

const GROUP: &str = "rust";

fn options(user: &User, address: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(address, &user.name, GROUP, user.identity.clone());
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
    common::approve(&admin.client, &admin.group, "bob").await;
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
                    Some(ClientEvent::Server(Event::Message { entry, .. })) => received.push(entry.seq),
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
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = [("alice", alice_client), ("bob", bob_client)]
        .into_iter()
        .map(|(who, client)| {
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut sent = 0;
                'sending: loop {
                    let batch: Vec<_> = (sent..sent + 32)
                        .map(|i| {
                            let client = client.clone();
                            let text = format!("{who} {i}");
                            async move { (client.send_message(GROUP, text.clone()).await, text) }
                        })
                        .collect();
                    sent += 32;
                    for (result, text) in futures::future::join_all(batch).await {
                        match result {
                            Ok(seq) => {
                                acked.push((seq, text));
                                acknowledged.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => break 'sending,
                        }
                    }
                }
                (who, sent, acked)
            })
        })
        .collect();
    common::wait_until("the server has acknowledged enough to mean much", || {
        acknowledged.load(Ordering::Relaxed) >= ACKNOWLEDGED_BEFORE_KILL
    })
    .await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut acked = Vec::new();
    let mut sent = HashMap::new();
    for sender in senders {
        let (who, sent_by, acked_by) = sender.await.unwrap();
        // A client's requests go out in the order they are made and the
        // server commits one connection's messages in the order they
        // arrive, so a sender's messages hold positions in its own order.
        assert!(
            acked_by.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "{who}'s messages are in the order sent"
        );
        sent.insert(who, sent_by);
        acked.extend(acked_by);
    }
    assert!(acked.len() >= ACKNOWLEDGED_BEFORE_KILL, "{}", acked.len());

    let (mut server, _) = serve(dir.path(), &address);

    // The log after the restart, read from the start.
    let mut reader_options = options(&alice, &address);
    reader_options.last_seq = [(GROUP.to_owned(), 0)].into();
    let mut reader = Session::connect(reader_options).await.unwrap();
    let head = reader.snapshot().unwrap().head;
    let mut log = Vec::new();
    while log.len() < head as usize {
        let entry = reader.entry().await;
        log.push((entry.seq, entry.body));
    }
    let seqs: Vec<u64> = log.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "no gaps");
    for (seq, text) in &acked {
        assert_eq!(
            log[*seq as usize - 1].1,
            Body::Text { text: text.clone() },
            "acknowledged entry {seq} is intact"
        );
    }
    // After the group's creation and bob's joining, the log holds only
    // messages someone sent, each once; some sent as the server died may
    // be there unacknowledged.
    assert_eq!(log[0].1, Body::GroupCreated);
    assert_eq!(log[1].1, Body::MemberJoined { name: "bob".into() });
    let texts: Vec<&String> = log[2..]
        .iter()
        .map(|(seq, body)| match body {
            Body::Text { text } => text,
            other => panic!("entry {seq} is not a message: {other:?}"),
        })
        .collect();
    assert_eq!(
        texts.iter().collect::<HashSet<_>>().len(),
        texts.len(),
        "nothing appears twice"
    );
    for text in &texts {
        let (who, i) = text.split_once(' ').expect("`who i`");
        assert!(i.parse::<usize>().unwrap() < sent[who], "{text:?} was sent");
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
