//! What a member may read, over real TCP: the log after the point their
//! current membership was granted, on every path (resume with any
//! `last_seq`, catch-up on approval, file fetch), also after being kicked
//! and let back in.

mod common;

use common::{Raw, Session, TestServer, User};
use pyconchat::{
    client::{ClientEvent, TransferError},
    protocol::{
        Body, ClientFrame, ErrorCode, Event, FileInfo, Hello, JoinStatus, PROTOCOL_VERSION,
        ReplyData, Request, Seq, ServerFrame,
    },
    server::Limits,
};
use tokio_util::sync::CancellationToken;

/// History a newly approved member gets in these tests.
const HISTORY: u64 = 3;

async fn server() -> TestServer {
    TestServer::with_limits(Limits {
        history_on_join: HISTORY,
        ..common::without_rate_limits()
    })
    .await
}

async fn post(admin: &Session, count: usize) {
    for i in 0..count {
        admin
            .client
            .send_message(&admin.group, format!("m{i}"))
            .await
            .unwrap();
    }
}

/// `user` asks to join `group` and `admin` approves; returns the seq of
/// the entry that says so.
async fn let_in(server: &TestServer, admin: &mut Session, user: &User, group: &str) -> Seq {
    let pending = user.join(server, group).await;
    assert_eq!(pending.status(), JoinStatus::Pending);
    drop(pending);
    common::approve(&admin.client, &admin.group, &user.name).await;
    let name = user.name.clone();
    admin
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Message { entry, .. }) => {
                matches!(&entry.body, Body::MemberJoined { name: n } if *n == name)
                    .then_some(entry.seq)
            }
            _ => None,
        })
        .await
}

/// Connects `user` by hand saying it has seen the log up to `last_seq`,
/// and returns the seqs of the entries served up to `head`.
async fn resume(
    server: &TestServer,
    user: &User,
    group: &str,
    last_seq: Seq,
    head: Seq,
) -> Vec<Seq> {
    let mut raw = Raw::connect(server).await;
    raw.send(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: user.name.clone(),
        secret: user.identity.secret().to_vec(),
        group: Some(group.into()),
        last_seq: [(group.to_owned(), last_seq)].into(),
        compact: false,
    }))
    .await;
    assert!(matches!(raw.read().await, Some(ServerFrame::Welcome(_))));
    let mut seqs = Vec::new();
    while seqs.last() != Some(&head) {
        match raw.read().await.expect("the log up to the head") {
            ServerFrame::Event(Event::Message { entry, .. }) => seqs.push(entry.seq),
            ServerFrame::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    seqs
}

#[tokio::test]
async fn resuming_from_zero_serves_only_what_the_grant_allows() {
    let server = server().await;
    let alice_user = User::new("alice");
    let mut alice = alice_user.join(&server, "g").await;
    post(&alice, 10).await; // seqs 2..=11 after group_created
    let bob = User::new("bob");
    let joined = let_in(&server, &mut alice, &bob, "g").await;
    assert_eq!(joined, 12);

    let floor = joined - 1 - HISTORY;
    let expected: Vec<Seq> = (floor + 1..=joined).collect();
    for last_seq in [0, 1, floor - 1] {
        assert_eq!(
            resume(&server, &bob, "g", last_seq, joined).await,
            expected,
            "resuming after {last_seq}"
        );
    }
    assert_eq!(resume(&server, &bob, "g", 10, joined).await, [11, 12]);
    // The creator may read everything.
    drop(alice);
    assert_eq!(
        resume(&server, &alice_user, "g", 0, joined).await,
        (1..=joined).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_member_let_back_in_reads_from_the_new_grant_only() {
    let server = server().await;
    let mut alice = User::new("alice").join(&server, "g").await;
    post(&alice, 10).await;
    let bob = User::new("bob");
    let_in(&server, &mut alice, &bob, "g").await;
    alice
        .client
        .request(Request::KickMember {
            conv: alice.group.clone(),
            name: "bob".into(),
        })
        .await
        .unwrap();
    post(&alice, 10).await; // said while bob was out
    let joined = let_in(&server, &mut alice, &bob, "g").await;

    let expected: Vec<Seq> = (joined - HISTORY..=joined).collect();
    assert_eq!(resume(&server, &bob, "g", 0, joined).await, expected);
    // The old grant does not come back either.
    assert_eq!(resume(&server, &bob, "g", 12, joined).await, expected);
}

#[tokio::test]
async fn files_shared_before_the_grant_cannot_be_fetched() {
    let server = server().await;
    let work = tempfile::tempdir().unwrap();
    let Shared {
        bob, early, recent, ..
    } = files_around_a_grant(&server, work.path()).await;

    let bob = bob.join(&server, "g").await;
    let downloads = work.path().join("downloads");
    let refused = bob
        .client
        .fetch_file(&early, &downloads, |_| {}, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, TransferError::Client(e) if e.code() == Some(ErrorCode::FileUnavailable)),
        "{refused}"
    );
    let saved = bob
        .client
        .fetch_file(&recent, &downloads, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(saved).unwrap(),
        "recent.txt".repeat(100).as_bytes()
    );
}

#[tokio::test]
async fn history_pages_back_to_the_grant_and_no_further() {
    let server = server().await;
    let mut alice = User::new("alice").join(&server, "g").await;
    post(&alice, 10).await;
    let bob = User::new("bob");
    let joined = let_in(&server, &mut alice, &bob, "g").await;
    post(&alice, 5).await; // seqs 13..=17
    let bob = bob.join(&server, "g").await;
    let page = |before, limit| history(&bob, before, limit);

    assert_eq!(page(18, 3).await, [15, 16, 17]);
    assert_eq!(page(15, 3).await, [12, 13, 14]);
    let floor = joined - 1 - HISTORY;
    assert_eq!(page(12, 100).await, (floor + 1..12).collect::<Vec<_>>());
    assert!(
        page(floor + 1, 100).await.is_empty(),
        "nothing before the grant"
    );
    assert!(page(1, 100).await.is_empty());
    assert_eq!(page(u64::MAX, 2).await, [16, 17], "from the end");
    // The creator pages back to the very start.
    assert_eq!(history(&alice, 4, 100).await, [1, 2, 3]);
}

#[tokio::test]
async fn a_history_page_fits_in_a_frame() {
    let server = server().await;
    let alice = User::new("alice").join(&server, "g").await;
    let long = "x".repeat(server.limits.max_message_bytes);
    let sends = (0..100).map(|_| alice.client.send_message(&alice.group, long.clone()));
    futures::future::try_join_all(sends).await.unwrap();
    let page = history(&alice, u64::MAX, 200).await;
    assert!(!page.is_empty() && page.len() < 100, "{}", page.len());
    assert_eq!(page.last(), Some(&101), "the newest entries come first");
}

#[tokio::test]
async fn the_file_list_holds_what_the_member_may_fetch() {
    let server = server().await;
    let work = tempfile::tempdir().unwrap();
    let Shared {
        alice,
        bob,
        early,
        recent,
    } = files_around_a_grant(&server, work.path()).await;
    let mut other = User::new("carol").join(&server, "elsewhere").await;
    share(&mut other, work.path(), "elsewhere.txt").await;

    let listed = |session: &Session| {
        let (client, conv) = (session.client.clone(), session.group.clone());
        async move {
            match client.request(Request::ListFiles { conv }).await.unwrap() {
                ReplyData::Files { files } => files.into_iter().map(|f| f.file).collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(listed(&alice).await, [early, recent.clone()]);
    let bob = bob.join(&server, "g").await;
    assert_eq!(listed(&bob).await, [recent]);
}

/// alice's group with a file shared long before bob is let in and one
/// shared within the history he is given.
struct Shared {
    alice: Session,
    bob: User,
    early: FileInfo,
    recent: FileInfo,
}

async fn files_around_a_grant(server: &TestServer, dir: &std::path::Path) -> Shared {
    let mut alice = User::new("alice").join(server, "g").await;
    let early = share(&mut alice, dir, "early.txt").await;
    post(&alice, 10).await;
    let recent = share(&mut alice, dir, "recent.txt").await;
    let bob = User::new("bob");
    let_in(server, &mut alice, &bob, "g").await;
    Shared {
        alice,
        bob,
        early,
        recent,
    }
}

/// The seqs of the history page `before`/`limit` as `session` sees it.
async fn history(session: &Session, before: Seq, limit: u32) -> Vec<Seq> {
    match session
        .client
        .request(Request::History {
            conv: session.group.clone(),
            before,
            limit,
        })
        .await
        .unwrap()
    {
        ReplyData::History { entries } => entries.into_iter().map(|e| e.seq).collect(),
        other => panic!("{other:?}"),
    }
}

/// Shares a file named `name` (its contents: the name, 100 times) and
/// returns it as announced.
async fn share(sender: &mut Session, dir: &std::path::Path, name: &str) -> FileInfo {
    let path = dir.join(name);
    std::fs::write(&path, name.repeat(100)).unwrap();
    sender
        .client
        .send_file(&sender.group, &path, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    sender
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Message { entry, .. }) => match &entry.body {
                Body::File { file } => Some(file.clone()),
                _ => None,
            },
            _ => None,
        })
        .await
}
