//! Several nodes as one server: real nodes (`server::run_with` each) on one
//! PostgreSQL schema and one NATS namespace, real TCP, real frames. The same guarantees
//! as one node: one group, one admin, one order for every member wherever
//! they are connected; a lost bus message only slows delivery. A file sent
//! through one node is fetched through another, and every node presents
//! the one certificate a client pinned.

mod common;

use std::{
    collections::HashSet,
    net::SocketAddr,
    process::{Child, Command},
    time::Duration,
};

use common::{
    DEADLINE, Peer, Session, User,
    cluster::{Cluster, Node},
    services::{self, Database, NatsServer, Postgres},
    text_of,
    tmux::Tmux,
    wait_until, without_rate_limits,
};
use pyconchat::{
    client::{ClientEvent, KnownServers, Transport},
    cluster::presence,
    protocol::{Body, ErrorCode, Event, ReplyData, Request, Seq, direct_id},
    server::Limits,
    tls,
};
use tokio_util::sync::CancellationToken;

/// Waits for the join request of `name` to reach `admin`, then approves it.
async fn let_in(admin: &mut Peer, conv: &str, name: &str) {
    admin
        .wait_for(|e| match e {
            Event::JoinRequested { conv: c, request } if c == conv && request.name == name => {
                Some(())
            }
            _ => None,
        })
        .await;
    admin
        .ok(Request::ApproveRequest {
            conv: conv.to_owned(),
            name: name.to_owned(),
        })
        .await;
}

async fn approved(peer: &mut Peer, conv: &str) -> String {
    peer.wait_for(|e| match e {
        Event::RequestApproved { conv: c, by, .. } if c == conv => Some(by.clone()),
        _ => None,
    })
    .await
}

/// Asks until the online members of `conv`, as `peer` sees them, are `want`.
async fn online_becomes(peer: &mut Peer, conv: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ReplyData::Members { members } = peer
            .ok(Request::OnlineMembers {
                conv: conv.to_owned(),
            })
            .await
        else {
            panic!("a member list");
        };
        let mut online: Vec<String> = members.into_iter().map(|m| m.name).collect();
        online.sort();
        if online == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "online in {conv}: {online:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The chat messages of `conv` in the store, in order.
async fn stored_texts(cluster: &Cluster, conv: &str) -> Vec<(Seq, String)> {
    cluster
        .log(conv)
        .await
        .into_iter()
        .filter(|e| matches!(e.body, Body::Text { .. }))
        .map(|e| (e.seq, text_of(&e)))
        .collect()
}

/// Reads chat messages of `conv` until `count` distinct ones arrived (or
/// the connection closed); returns them in arrival order, duplicates kept.
async fn read_texts(peer: &mut Peer, conv: &str, count: usize) -> Vec<(Seq, String)> {
    let mut got = Vec::new();
    let mut distinct = HashSet::new();
    while distinct.len() < count {
        let Some(event) = tokio::time::timeout(DEADLINE, peer.next_event())
            .await
            .expect("an event in time")
        else {
            break;
        };
        if let Event::Message { conv: c, entry } = event
            && c == conv
            && matches!(entry.body, Body::Text { .. })
        {
            distinct.insert(entry.seq);
            got.push((entry.seq, text_of(&entry)));
        }
    }
    got
}

/// Log entries the named nodes read from the store to fill gaps, as their
/// metrics say.
async fn entries_filled(cluster: &Cluster, nodes: &[&str]) -> f64 {
    let mut sum = 0.0;
    for name in nodes {
        sum += cluster
            .node(name)
            .metric("bus_entries_filled_total", "")
            .await;
    }
    sum
}

/// Scrapes `node` until its sample of `metric` is `want`.
async fn metric_becomes(node: &Node, metric: &str, labels: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let value = node.metric(metric, labels).await;
        if value == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{metric}{{{labels}}} on {}: {value}, want {want}",
            node.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Delivered, lost and doubled, comparing what arrived with the store.
fn counts(got: &[(Seq, String)], stored: &[(Seq, String)]) -> (usize, usize, usize) {
    let unique: HashSet<Seq> = got.iter().map(|(s, _)| *s).collect();
    let lost = stored.iter().filter(|(s, _)| !unique.contains(s)).count();
    (got.len(), lost, got.len() - unique.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_spread_over_three_nodes() {
    let cluster = Cluster::start(3, Limits::default()).await;
    let (a, b, c) = (
        cluster.node("a").addr,
        cluster.node("b").addr,
        cluster.node("c").addr,
    );
    let (alice, bob, cid) = (User::new("alice"), User::new("bob"), User::new("cid"));

    // alice creates the group on a; bob asks on b; alice lets him in.
    let mut alice_a = Peer::connect_to(a, &alice, Some("rust"), &[]).await;
    let mut bob_b = Peer::connect_to(b, &bob, Some("rust"), &[]).await;
    let_in(&mut alice_a, "rust", "bob").await;
    assert_eq!(approved(&mut bob_b, "rust").await, "alice");
    // alice's node tells her bob is online: he was there, on another node,
    // before he was a member.
    alice_a
        .wait_for(|e| match e {
            Event::MemberOnline { conv, name } if conv == "rust" && name == "bob" => Some(()),
            _ => None,
        })
        .await;

    // They chat, and see each other online across the nodes.
    alice_a.say("rust", "hello bob").await;
    bob_b.say("rust", "hello alice").await;
    assert_eq!(bob_b.texts("rust", 2).await, ["hello bob", "hello alice"]);
    assert_eq!(alice_a.texts("rust", 2).await, ["hello bob", "hello alice"]);
    online_becomes(&mut alice_a, "rust", &["alice", "bob"]).await;
    online_becomes(&mut bob_b, "rust", &["alice", "bob"]).await;

    // A second group on the same connection, bob let in there too.
    alice_a.ok(Request::JoinGroup { group: "go".into() }).await;
    bob_b.ok(Request::JoinGroup { group: "go".into() }).await;
    let_in(&mut alice_a, "go", "bob").await;
    assert_eq!(approved(&mut bob_b, "go").await, "alice");

    // bob writes to alice directly; her connection on a gets the conversation.
    let direct = direct_id("alice", "bob");
    bob_b
        .ok(Request::OpenDirect {
            name: "alice".into(),
        })
        .await;
    alice_a
        .wait_for(|e| match e {
            Event::ConversationAdded { conversation } if conversation.id == direct => Some(()),
            _ => None,
        })
        .await;
    bob_b.say(&direct, "just between us").await;
    assert_eq!(alice_a.texts(&direct, 1).await, ["just between us"]);

    // alice's second connection, on c, shares her read position.
    let mut alice_c = Peer::connect_to(c, &alice, None, &[]).await;
    let read = alice_a
        .ok(Request::MarkRead {
            conv: "rust".into(),
            seq: 3,
        })
        .await;
    assert_eq!(read, ReplyData::Done);
    alice_c
        .wait_for(|e| match e {
            Event::ReadUpTo { conv, seq } if conv == "rust" => Some(*seq),
            _ => None,
        })
        .await;

    // cid asks on c; alice hands admin to bob, whose node then shows him
    // the request; bob lets cid in and kicks alice, on both her nodes.
    let mut cid_c = Peer::connect_to(c, &cid, Some("rust"), &[]).await;
    alice_a
        .wait_for(|e| match e {
            Event::JoinRequested { request, .. } if request.name == "cid" => Some(()),
            _ => None,
        })
        .await;
    alice_a
        .ok(Request::ChangeAdmin {
            conv: "rust".into(),
            name: "bob".into(),
        })
        .await;
    let_in(&mut bob_b, "rust", "cid").await;
    assert_eq!(approved(&mut cid_c, "rust").await, "bob");
    cid_c.say("rust", "thanks bob").await;
    bob_b
        .ok(Request::KickMember {
            conv: "rust".into(),
            name: "alice".into(),
        })
        .await;
    for alice_somewhere in [&mut alice_a, &mut alice_c] {
        let by = alice_somewhere
            .wait_for(|e| match e {
                Event::Kicked { conv, by } if conv == "rust" => Some(by.clone()),
                _ => None,
            })
            .await;
        assert_eq!(by, "bob");
    }
    online_becomes(&mut cid_c, "rust", &["bob", "cid"]).await;

    // One log: bob and cid were delivered the store's entries, in order.
    let marker = bob_b.say("rust", "the end").await;
    let log: Vec<Seq> = cluster.log("rust").await.iter().map(|e| e.seq).collect();
    for peer in [&mut bob_b, &mut cid_c] {
        let mut seen = Vec::new();
        loop {
            let entry = peer.entry("rust").await;
            seen.push(entry.seq);
            if entry.seq == marker {
                break;
            }
        }
        let want: Vec<Seq> = log.iter().copied().filter(|s| *s >= seen[0]).collect();
        assert_eq!(seen, want, "one order on every node");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_messages_arrive_in_one_order_on_every_node() {
    const MESSAGES: usize = 10_000;
    let cluster = Cluster::start(3, without_rate_limits()).await;
    let conv = "load";
    let people: Vec<(User, &str)> = ["ann", "bea", "cal", "dov", "eve", "fay"]
        .iter()
        .zip(["a", "b", "c", "a", "b", "c"])
        .map(|(name, node)| (User::new(name), node))
        .collect();
    let mut peers = Vec::new();
    let mut admin = Peer::connect_to(
        cluster.node(people[0].1).addr,
        &people[0].0,
        Some(conv),
        &[],
    )
    .await;
    for (user, node) in &people[1..] {
        let mut peer = Peer::connect_to(cluster.node(node).addr, user, Some(conv), &[]).await;
        let_in(&mut admin, conv, &user.name).await;
        approved(&mut peer, conv).await;
        peers.push(peer);
    }
    peers.insert(0, admin);

    let share = MESSAGES / peers.len();
    let extra = MESSAGES % peers.len();
    let tasks: Vec<_> = peers
        .into_iter()
        .enumerate()
        .map(|(i, mut peer)| {
            let mine = share + usize::from(i < extra);
            tokio::spawn(async move {
                for n in 0..mine {
                    peer.say(conv, &format!("m{i}-{n}")).await;
                }
                read_texts(&mut peer, conv, MESSAGES).await
            })
        })
        .collect();
    let mut received = Vec::new();
    for task in tasks {
        received.push(task.await.expect("a member's task"));
    }

    let stored = stored_texts(&cluster, conv).await;
    assert_eq!(stored.len(), MESSAGES);
    for (i, got) in received.iter().enumerate() {
        let (delivered, lost, doubled) = counts(got, &stored);
        println!("member {i}: delivered {delivered}, lost {lost}, doubled {doubled}");
        assert_eq!((delivered, lost, doubled), (MESSAGES, 0, 0));
        assert_eq!(got, &stored, "member {i} saw the store's order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_hears_a_conversation_only_while_one_of_its_people_is_there() {
    let cluster = Cluster::start(3, without_rate_limits()).await;
    let (a, b, c) = (
        cluster.node("a").addr,
        cluster.node("b").addr,
        cluster.node("c").addr,
    );
    let (ann, bob, cid) = (User::new("ann"), User::new("bob"), User::new("cid"));
    let mut ann_a = Peer::connect_to(a, &ann, Some("g"), &[]).await;
    let mut bob_b = Peer::connect_to(b, &bob, Some("g"), &[]).await;
    let_in(&mut ann_a, "g", "bob").await;
    approved(&mut bob_b, "g").await;
    let mut cid_a = Peer::connect_to(a, &cid, Some("g"), &[]).await;
    let_in(&mut ann_a, "g", "cid").await;
    approved(&mut cid_a, "g").await;
    cid_a.close().await;

    // Nobody of g is on c: g's commits never reach it.
    let group = r#"kind="group""#;
    const BEFORE: usize = 40;
    for n in 0..BEFORE / 2 {
        ann_a.say("g", &format!("ann {n}")).await;
        bob_b.say("g", &format!("bob {n}")).await;
    }
    read_texts(&mut bob_b, "g", BEFORE).await;
    let (node_b, node_c) = (cluster.node("b"), cluster.node("c"));
    assert!(node_b.metric("bus_messages_received_total", group).await >= (BEFORE / 2) as f64);
    assert_eq!(
        node_c.metric("bus_messages_received_total", group).await,
        0.0
    );
    assert_eq!(node_c.metric("bus_conversations_heard", "").await, 0.0);

    // cid comes online on c while ann is talking: c starts hearing g at
    // that moment, and cid gets every message once, in order.
    const DURING: usize = 300;
    let talk = tokio::spawn(async move {
        for n in 0..DURING {
            ann_a.say("g", &format!("during {n}")).await;
        }
        ann_a
    });
    read_texts(&mut bob_b, "g", 50).await;
    let mut cid_c = Peer::connect_to(c, &cid, None, &[]).await;
    let mut ann_a = talk.await.expect("ann's task");
    ann_a.say("g", "with cid here").await;
    let stored = stored_texts(&cluster, "g").await;
    assert_eq!(stored.len(), BEFORE + DURING + 1);
    let got = read_texts(&mut cid_c, "g", stored.len()).await;
    let (delivered, lost, doubled) = counts(&got, &stored);
    println!(
        "cid, online on c mid-conversation: delivered {delivered}, lost {lost}, doubled {doubled}"
    );
    assert_eq!((lost, doubled), (0, 0));
    assert_eq!(got, stored, "in the store's order");
    let heard = node_c.metric("bus_messages_received_total", group).await;
    assert!(heard > 0.0, "c heard g while cid was there");

    // cid leaves: c stops hearing g within a heartbeat or two.
    cid_c.close().await;
    metric_becomes(node_c, "bus_conversations_heard", "", 0.0).await;
    let heard = node_c.metric("bus_messages_received_total", group).await;
    for n in 0..10 {
        ann_a.say("g", &format!("after {n}")).await;
    }
    // bob reads to the end, so the bus has carried all of it.
    read_texts(&mut bob_b, "g", DURING - 50 + 1 + 10).await;
    assert_eq!(
        node_c.metric("bus_messages_received_total", group).await,
        heard,
        "c heard none of g's commits after cid left"
    );
    println!("c heard {heard} of g's notes, all while cid was there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_nodes_members_resume_on_another_without_gap_or_duplicate() {
    let mut cluster = Cluster::start(2, without_rate_limits()).await;
    let (a, b) = (cluster.node("a").addr, cluster.node("b").addr);
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let mut bob_b = Peer::connect_to(b, &bob, Some("talk"), &[]).await;
    let mut ann_a = Peer::connect_to(a, &ann, Some("talk"), &[]).await;
    let_in(&mut bob_b, "talk", "ann").await;
    approved(&mut ann_a, "talk").await;
    online_becomes(&mut bob_b, "talk", &["ann", "bob"]).await;

    // bob keeps talking while ann's node stops under her.
    let talk = tokio::spawn(async move {
        for n in 0..400 {
            bob_b.say("talk", &format!("n{n}")).await;
            if n == 100 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        bob_b
    });
    let mut before = Vec::new();
    while before.len() < 50 {
        before.extend(read_texts(&mut ann_a, "talk", 1).await);
    }
    cluster.node_mut("a").stop().await;
    // What reached ann before the close is hers; she resumes after it.
    while let Some(event) = ann_a.next_event().await {
        if let Event::Message { entry, .. } = event
            && matches!(entry.body, Body::Text { .. })
        {
            before.push((entry.seq, text_of(&entry)));
        }
    }
    let last = before.last().expect("something arrived").0;
    let mut bob_b = talk.await.expect("bob's task");
    let mut ann_b = Peer::connect_to(b, &ann, None, &[("talk", last)]).await;
    let stored = stored_texts(&cluster, "talk").await;
    let after = read_texts(&mut ann_b, "talk", stored.len() - before.len()).await;
    let all: Vec<(Seq, String)> = before.into_iter().chain(after).collect();
    let (delivered, lost, doubled) = counts(&all, &stored);
    println!("ann across two nodes: delivered {delivered}, lost {lost}, doubled {doubled}");
    assert_eq!((lost, doubled), (0, 0));
    assert_eq!(all, stored);
    online_becomes(&mut bob_b, "talk", &["ann", "bob"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_of_a_request_not_heard_yet_is_checked_against_the_store() {
    let mut cluster = Cluster::start(1, without_rate_limits()).await;
    // Node c publishes where nobody listens: node a never hears bob's
    // request, as if the approval overtook it on the bus.
    let lost_namespace = format!("{}_cut", cluster.namespace);
    let c = cluster.add("c", Some(&lost_namespace)).await.addr;
    let a = cluster.node("a").addr;
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let mut ann_a = Peer::connect_to(a, &ann, Some("g"), &[]).await;
    let _bob_c = Peer::connect_to(c, &bob, Some("g"), &[]).await;

    ann_a
        .ok(Request::ApproveRequest {
            conv: "g".to_owned(),
            name: "bob".to_owned(),
        })
        .await;
    ann_a
        .wait_for(|e| match e {
            Event::Message { entry, .. } => {
                matches!(&entry.body, Body::MemberJoined { name } if name == "bob").then_some(())
            }
            _ => None,
        })
        .await;
    let joined = cluster
        .log("g")
        .await
        .iter()
        .filter(|e| matches!(&e.body, Body::MemberJoined { name } if name == "bob"))
        .count();
    assert_eq!(joined, 1, "bob let in once");

    // What the store does not hold either is refused as on one node.
    let refused = ann_a
        .ask(Request::ApproveRequest {
            conv: "g".to_owned(),
            name: "nobody".to_owned(),
        })
        .await
        .expect_err("nobody asked");
    assert_eq!(refused.code, ErrorCode::NoSuchUser);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_bus_loses_is_read_from_the_store_in_order() {
    let mut cluster = Cluster::start(2, without_rate_limits()).await;
    let (ann, bob, cid) = (User::new("ann"), User::new("bob"), User::new("cid"));
    let (a, b) = (cluster.node("a").addr, cluster.node("b").addr);
    let mut ann_a = Peer::connect_to(a, &ann, Some("g"), &[]).await;
    let mut bob_b = Peer::connect_to(b, &bob, Some("g"), &[]).await;
    let_in(&mut ann_a, "g", "bob").await;
    approved(&mut bob_b, "g").await;
    let mut cid_a = Peer::connect_to(a, &cid, Some("g"), &[]).await;
    let_in(&mut ann_a, "g", "cid").await;
    approved(&mut cid_a, "g").await;
    cid_a.close().await;
    // Node c publishes where nobody listens: every note it sends is lost.
    let lost_namespace = format!("{}_cut", cluster.namespace);
    let c = cluster.add("c", Some(&lost_namespace)).await.addr;
    let mut cid_c = Peer::connect_to(c, &cid, None, &[]).await;

    let filled_before = entries_filled(&cluster, &["a", "b"]).await;
    const ROUNDS: usize = 100;
    for n in 0..ROUNDS {
        cid_c.say("g", &format!("lost {n}")).await;
        if n % 10 == 9 {
            ann_a.say("g", &format!("heard {n}")).await;
        }
    }
    let stored = stored_texts(&cluster, "g").await;
    assert_eq!(stored.len(), ROUNDS + ROUNDS / 10);
    for (who, peer) in [("ann", &mut ann_a), ("bob", &mut bob_b)] {
        let got = read_texts(peer, "g", stored.len()).await;
        let (delivered, lost, doubled) = counts(&got, &stored);
        println!("{who}: delivered {delivered}, lost {lost}, doubled {doubled}");
        assert_eq!(got, stored, "{who} got everything once, in order");
    }
    let filled = entries_filled(&cluster, &["a", "b"]).await - filled_before;
    println!("entries filled from the store (pyconchat_bus_entries_filled_total): {filled}");
    // On a and on b, each of cid's messages was a gap.
    assert!(filled >= 2.0 * ROUNDS as f64, "filled {filled}");

    // A lost last word: no later entry shows the gap and c's heartbeats
    // are lost too; the nodes' periodic check of their heads against the
    // store delivers it.
    let said = std::time::Instant::now();
    let last = cid_c.say("g", "the last word").await;
    for (who, peer) in [("ann", &mut ann_a), ("bob", &mut bob_b)] {
        let got = read_texts(peer, "g", 1).await;
        assert_eq!(got, [(last, "the last word".to_owned())], "{who}");
    }
    println!(
        "a lost last message reached both nodes {:?} after it was committed",
        said.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bus_restart_under_load_loses_and_doubles_nothing() {
    let mut nats = NatsServer::start();
    let cluster = Cluster::on_bus(2, without_rate_limits(), &nats.url()).await;
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let (a, b) = (cluster.node("a").addr, cluster.node("b").addr);
    let mut ann_a = Peer::connect_to(a, &ann, Some("r"), &[]).await;
    let mut bob_b = Peer::connect_to(b, &bob, Some("r"), &[]).await;
    let_in(&mut ann_a, "r", "bob").await;
    approved(&mut bob_b, "r").await;

    const MESSAGES: usize = 600;
    let talk = tokio::spawn(async move {
        for n in 0..MESSAGES {
            bob_b.say("r", &format!("r{n}")).await;
        }
        bob_b
    });
    let mut got = read_texts(&mut ann_a, "r", 100).await;
    nats.kill();
    let bus = cluster.node("a").bus.clone();
    wait_until("node a sees the bus go", || !bus.is_reachable()).await;
    nats.start_again();
    wait_until("node a is back on the bus", || bus.is_reachable()).await;
    let _bob_b = talk.await.expect("bob's task");
    let stored = stored_texts(&cluster, "r").await;
    let have: HashSet<Seq> = got.iter().map(|(s, _)| *s).collect();
    got.extend(read_texts(&mut ann_a, "r", MESSAGES - have.len()).await);
    let (delivered, lost, doubled) = counts(&got, &stored);
    println!(
        "across a bus restart: delivered {delivered}, lost {lost}, doubled {doubled}, filled {}",
        entries_filled(&cluster, &["a", "b"]).await
    );
    assert_eq!(got, stored);
}

/// A node in a process of its own, killed when dropped.
struct Process(Child);

impl Process {
    /// SIGKILL: the node ends at once, telling nobody.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a node in a process of its own talks to clients.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Plaintext,
    /// TLS with the certificate the cluster keeps in its database.
    Tls,
}

/// `pyconchat serve` as node `name` of the cluster, a process of its own
/// with a data dir of its own.
fn serve_process(
    cluster: &Cluster,
    name: &str,
    data_dir: &std::path::Path,
    wire: Wire,
) -> (Process, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyconchat"));
    command.arg("serve");
    if wire == Wire::Plaintext {
        command.arg("--plaintext");
    }
    command
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--store", &cluster.database_url()])
        .args(["--bus", &cluster.url, "--node-name", name])
        .env("PYCONCHAT_CLUSTER_NAMESPACE", &cluster.namespace)
        .env("PYCONCHAT_SERVER_MESSAGES_PER_SECOND", "1000000")
        .env("PYCONCHAT_SERVER_MESSAGE_BURST", "1000000")
        .env("PYCONCHAT_SERVER_REQUESTS_PER_SECOND", "1000000")
        .env("PYCONCHAT_SERVER_REQUEST_BURST", "1000000");
    let (child, address) = common::spawn_serve(&mut command);
    (Process(child), address.parse().expect("a socket address"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_goes_offline_within_the_bound_and_its_members_resume_elsewhere() {
    let cluster = Cluster::start(0, Limits::default()).await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut node_a, a) = serve_process(&cluster, "a", dirs.0.path(), Wire::Plaintext);
    let (_node_b, b) = serve_process(&cluster, "b", dirs.1.path(), Wire::Plaintext);
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let mut bob_b = Peer::connect_to(b, &bob, Some("k"), &[]).await;
    let mut ann_a = Peer::connect_to(a, &ann, Some("k"), &[]).await;
    let_in(&mut bob_b, "k", "ann").await;
    approved(&mut ann_a, "k").await;
    online_becomes(&mut bob_b, "k", &["ann", "bob"]).await;
    for n in 0..100 {
        bob_b.say("k", &format!("k{n}")).await;
    }
    let mut got = read_texts(&mut ann_a, "k", 60).await;

    node_a.kill();
    // ann's connection is cut, mid-stream, without a word.
    while let Some(event) = ann_a.next_event().await {
        if let Event::Message { entry, .. } = event
            && matches!(entry.body, Body::Text { .. })
        {
            got.push((entry.seq, text_of(&entry)));
        }
    }
    // Her node's heartbeats stop; after the expiry she is offline for bob.
    let killed = std::time::Instant::now();
    online_becomes(&mut bob_b, "k", &["bob"]).await;
    println!(
        "ann shown offline {:?} after her node was killed (bound: {:?})",
        killed.elapsed(),
        presence::EXPIRY + presence::HEARTBEAT
    );

    let last = got.last().map_or(0, |(seq, _)| *seq);
    let mut ann_b = Peer::connect_to(b, &ann, None, &[("k", last)]).await;
    let stored = stored_texts(&cluster, "k").await;
    got.extend(read_texts(&mut ann_b, "k", stored.len() - got.len()).await);
    let (delivered, lost, doubled) = counts(&got, &stored);
    println!("ann across a killed node: delivered {delivered}, lost {lost}, doubled {doubled}");
    assert_eq!(got, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_ride_out_a_postgresql_restart_without_gap_or_duplicate() {
    let postgres = Postgres::start_own().await;
    let database = Database::migrated_on(&postgres.url());
    let cluster = Cluster::on(2, Limits::default(), &services::nats_url(), database).await;
    let (a, b) = (cluster.node("a").address(), cluster.node("b").address());
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let mut admin = Session::connect(alice.options_at(a, "rust")).await.unwrap();
    let mut member = Session::connect(bob.options_at(b, "rust")).await.unwrap();
    // bob asked on b; the request reaches alice on a over the bus.
    admin
        .wait_for(|e| match e {
            ClientEvent::Server(Event::JoinRequested { request, .. }) => {
                (request.name == "bob").then_some(())
            }
            _ => None,
        })
        .await;
    common::approve(&admin.client, "rust", "bob").await;
    admin.say("before").await;
    member.read_until(&[("rust", "before")]).await;

    postgres.stop_from_async().await;
    for (who, session) in [("alice on a", &admin), ("bob on b", &member)] {
        let refused = session
            .client
            .send_message("rust", "during")
            .await
            .expect_err("nothing is saved while the database is down");
        assert_eq!(
            refused.code(),
            Some(ErrorCode::Unavailable),
            "{who}: {refused:?}"
        );
    }

    postgres.start_again_from_async().await;
    admin.send_until_accepted("rust", "after a").await;
    member.send_until_accepted("rust", "after b").await;
    let texts = admin.read_until(&[("rust", "after b")]).await;
    assert_eq!(
        texts["rust"][1..],
        ["before", "after a", "after b"],
        "after bob joined: {texts:?}"
    );
    let texts = member.read_until(&[("rust", "after b")]).await;
    assert_eq!(texts["rust"], ["after a", "after b"], "{texts:?}");
    let log: Vec<Seq> = cluster.log("rust").await.iter().map(|e| e.seq).collect();
    assert_eq!(log, (1..=log.len() as Seq).collect::<Vec<_>>(), "dense");
    println!(
        "across a PostgreSQL restart under two nodes: {} entries, no gap",
        log.len()
    );
}

/// Names in a directory, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `user` on the node at `address` opening `conv`, as the client library
/// connects.
async fn session_at(user: &User, address: SocketAddr, conv: &str) -> Session {
    Session::connect(user.options_at(address.to_string(), conv))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_sent_through_one_node_is_fetched_through_another_byte_for_byte() {
    let cluster = Cluster::start(0, Limits::default()).await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_node_a, a) = serve_process(&cluster, "a", dirs.0.path(), Wire::Plaintext);
    let (_node_b, b) = serve_process(&cluster, "b", dirs.1.path(), Wire::Plaintext);
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let ann_a = session_at(&ann, a, "k").await;
    let mut asking = session_at(&bob, b, "k").await;
    common::approve(&ann_a.client, "k", "bob").await;
    asking
        .wait_for(|e| matches!(e, ClientEvent::Server(Event::RequestApproved { .. })).then_some(()))
        .await;
    drop(asking);
    let mut bob_b = session_at(&bob, b, "k").await;

    let work = tempfile::tempdir().unwrap();
    let mut data = vec![0; 3 * 1024 * 1024 + 1000];
    blake3::Hasher::new()
        .update(b"across nodes")
        .finalize_xof()
        .fill(&mut data);
    let path = work.path().join("slides.pdf");
    std::fs::write(&path, &data).unwrap();
    ann_a
        .client
        .send_file("k", &path, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    let file = loop {
        if let Body::File { file } = bob_b.entry().await.body {
            break file;
        }
    };
    // The contents are in the database, not on node a's disk.
    assert_eq!(listing(&dirs.0.path().join("files")), ["partial"]);
    let rows = cluster
        .database()
        .number("SELECT count(*) FROM file_chunks");
    assert_eq!(rows, 13, "3 MiB and a bit in rows of 256 KiB");

    let saved = bob_b
        .client
        .fetch_file(
            &file,
            &work.path().join("bob"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .unwrap();
    let fetched = std::fs::read(saved).unwrap();
    assert_eq!(blake3::hash(&fetched).as_bytes().as_slice(), file.blake3);
    assert_eq!(fetched, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_with_tls_on_one_database_present_one_certificate() {
    let cluster = Cluster::start(0, Limits::default()).await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut node_a, a) = serve_process(&cluster, "a", dirs.0.path(), Wire::Tls);
    let (_node_b, b) = serve_process(&cluster, "b", dirs.1.path(), Wire::Tls);
    let client_dir = tempfile::tempdir().unwrap();
    let pins = KnownServers::new(client_dir.path().join(KnownServers::FILE_NAME));
    let mut options = User::new("ann").options_at(format!("{a},{b}"), "k");
    options.transport = Transport::Tls {
        known_servers: Some(pins.clone()),
    };
    let mut ann = Session::connect(options).await.unwrap();
    let pinned = pins.get(&a.to_string()).unwrap().expect("pinned on a");
    // A client that knows the cluster by its certificate: b must present
    // the one pinned on a.
    pins.pin(&b.to_string(), &pinned).unwrap();
    node_a.kill();
    let resumed = ann
        .wait_for(|e| match e {
            ClientEvent::Reconnected(_) => Some(Ok(())),
            ClientEvent::Closed(reason) => Some(Err(format!("{reason:?}"))),
            _ => None,
        })
        .await;
    assert_eq!(
        resumed,
        Ok(()),
        "ann reconnects to b under the pin made on a"
    );
    assert_eq!(pins.get(&b.to_string()).unwrap(), Some(pinned));
    for dir in [&dirs.0, &dirs.1] {
        assert!(!dir.path().join(tls::CERT_FILE).exists());
    }
}

#[test]
fn a_drained_node_moves_its_terminal_clients_to_the_next_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = runtime.block_on(Cluster::start(0, Limits::default()));
    let root = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (root.path().join("a"), root.path().join("b"));
    let (node_a, a) = serve_process(&cluster, "a", &a_dir, Wire::Tls);
    let (_node_b, b) = serve_process(&cluster, "b", &b_dir, Wire::Tls);
    // An empty config file, so a developer's own config does not leak in.
    let config = root.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let args = |name: &str, servers: String| -> Vec<String> {
        let data = root.path().join(name);
        [
            "--config",
            config.to_str().unwrap(),
            "--server",
            &servers,
            "--name",
            name,
            "--group",
            "rust",
            "--data-dir",
            data.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let tmux = Tmux::new(root.path());
    let downloads = root.path().join("downloads");

    tmux.join(
        "ann",
        root.path(),
        &downloads,
        &args("ann", format!("{a},{b}")),
    );
    tmux.wait_for("ann", &["ann (admin)", &format!("│ {a} "), "● connected"]);
    tmux.join("bob", root.path(), &downloads, &args("bob", b.to_string()));
    tmux.wait_for("bob", &["Waiting for approval"]);
    tmux.wait_for("ann", &["bob asks to join"]);
    tmux.keys("ann", &["F4", "M-a"]);
    tmux.wait_for("ann", &["Let bob into #rust?"]);
    tmux.keys("ann", &["y"]);
    tmux.wait_for("bob", &["ann let you into #rust"]);
    tmux.say("ann", "before the drain 🚚");
    tmux.wait_for("bob", &["before the drain 🚚"]);

    common::sigterm(&node_a.0);
    let screen = tmux.wait_for(
        "ann",
        &[
            "the server is shutting down; moving",
            &format!("reconnected to {b}"),
            &format!("│ {b} "),
        ],
    );
    assert!(!screen.contains("lost the connection"), "{screen}");
    tmux.say("ann", "after the drain");
    let screen = tmux.wait_for("bob", &["after the drain"]);
    assert_eq!(screen.matches("before the drain").count(), 1, "{screen}");
}
