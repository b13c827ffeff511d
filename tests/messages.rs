//! Message delivery: live fan-out, offline catch-up, restarts, slow
//! readers and limits. Every case checks order and exactly-once delivery.

mod common;

use common::{Raw, Session, TestServer, User, text_of, without_rate_limits};
use futures::{StreamExt, stream};
use pyconchat::{
    client::ClientEvent,
    protocol::{Body, ErrorCode, Event, ServerFrame},
    server::Limits,
};

/// alice creates `rust`, then approves each of `others`.
async fn group_of(server: &TestServer, alice: &User, others: &[&User]) -> Session {
    let admin = alice.join(server, "rust").await;
    for user in others {
        drop(user.join(server, "rust").await);
        common::approve(&admin.client, &admin.group, &user.name).await;
    }
    admin
}

/// Sends `texts` with up to 64 requests in flight; returns their sequence numbers.
async fn send_all(session: &Session, texts: impl IntoIterator<Item = String>) -> Vec<u64> {
    stream::iter(texts)
        .map(|text| {
            let (client, group) = (session.client.clone(), session.group.clone());
            async move { client.send_message(group, text).await.unwrap() }
        })
        .buffered(64)
        .collect()
        .await
}

/// Reads log entries until one with `text` arrives.
async fn skip_to(session: &mut Session, text: &str) {
    while text_of(&session.entry().await) != text {}
}

#[tokio::test]
async fn online_members_get_every_message_in_order() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let mut admin = group_of(&server, &alice, &[&bob]).await;
    let mut member = bob.join(&server, "rust").await;
    skip_to(&mut member, "MemberJoined { name: \"bob\" }").await;
    skip_to(&mut admin, "MemberJoined { name: \"bob\" }").await;

    let texts: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let seqs = send_all(&admin, texts.clone()).await;
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {seqs:?}"
    );
    let expected: Vec<_> = seqs.iter().copied().zip(texts.iter().cloned()).collect();
    for session in [&mut admin, &mut member] {
        let mut received = Vec::new();
        while received.len() < texts.len() {
            let entry = session.entry().await;
            received.push((entry.seq, text_of(&entry)));
        }
        assert_eq!(received, expected);
    }
}

#[tokio::test]
async fn a_member_who_was_away_gets_what_they_missed_once_in_order() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin = group_of(&server, &alice, &[&bob]).await;
    let mut member = bob.join(&server, "rust").await;
    admin
        .client
        .send_message(&admin.group, "seen")
        .await
        .unwrap();
    skip_to(&mut member, "seen").await;
    member.client.disconnect().await.unwrap();

    let missed: Vec<String> = (0..30).map(|i| format!("missed {i}")).collect();
    send_all(&admin, missed.clone()).await;

    // A fresh connection with no resume point: the server's cursor decides.
    let mut back = bob.join(&server, "rust").await;
    assert_eq!(back.texts(30).await, missed);
    back.assert_nothing_more().await;
}

#[tokio::test]
async fn the_client_resumes_after_a_server_restart_without_gaps_or_duplicates() {
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    drop(group_of(&server, &alice, &[&bob]).await);
    let mut admin = alice.join(&server, "rust").await;
    let mut member = bob.join(&server, "rust").await;
    skip_to(&mut member, "MemberJoined { name: \"bob\" }").await;
    send_all(&admin, (0..10).map(|i| format!("before {i}"))).await;
    skip_to(&mut member, "before 9").await;

    server.restart().await;
    for session in [&mut admin, &mut member] {
        session
            .wait_for(|e| matches!(e, ClientEvent::Server(Event::ServerShutdown)).then_some(()))
            .await;
        session
            .wait_for(|e| matches!(e, ClientEvent::Reconnected(_)).then_some(()))
            .await;
    }
    let after: Vec<String> = (0..10).map(|i| format!("after {i}")).collect();
    send_all(&admin, after.clone()).await;
    assert_eq!(member.texts(10).await, after);
    member.assert_nothing_more().await;
}

#[tokio::test]
async fn the_servers_cursor_survives_a_restart() {
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    drop(group_of(&server, &alice, &[&bob]).await);
    let mut member = bob.join(&server, "rust").await;
    skip_to(&mut member, "MemberJoined { name: \"bob\" }").await;
    member.client.disconnect().await.unwrap();
    let admin = alice.join(&server, "rust").await;
    send_all(&admin, (0..5).map(|i| format!("while away {i}"))).await;
    drop(admin);

    server.restart().await;
    let mut back = bob.join(&server, "rust").await;
    assert_eq!(
        back.texts(5).await,
        (0..5)
            .map(|i| format!("while away {i}"))
            .collect::<Vec<_>>()
    );
    back.assert_nothing_more().await;
}

#[tokio::test]
async fn a_new_member_gets_the_configured_amount_of_history() {
    let server = TestServer::with_limits(Limits {
        history_on_join: 3,
        ..without_rate_limits()
    })
    .await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin = alice.join(&server, "rust").await;
    send_all(&admin, (0..10).map(|i| format!("old {i}"))).await;
    drop(bob.join(&server, "rust").await);
    common::approve(&admin.client, &admin.group, "bob").await;
    let mut member = bob.join(&server, "rust").await;
    assert_eq!(
        member.texts(4).await,
        ["old 7", "old 8", "old 9", "MemberJoined { name: \"bob\" }"]
    );
    member.assert_nothing_more().await;
}

#[tokio::test]
async fn message_limits_are_enforced_with_a_clear_error() {
    let server = TestServer::with_limits(Limits {
        max_message_bytes: 100,
        ..without_rate_limits()
    })
    .await;
    let mut admin = User::new("alice").join(&server, "rust").await;
    let error = admin
        .client
        .send_message(&admin.group, "x".repeat(101))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::MessageTooLarge));
    assert!(error.to_string().contains("limit is 100 bytes"), "{error}");
    let error = admin
        .client
        .send_message(&admin.group, " \n ")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::EmptyMessage));
    // A multi-line message is one message.
    admin
        .client
        .send_message(&admin.group, "x".repeat(100))
        .await
        .unwrap();
    admin
        .client
        .send_message(&admin.group, "line 1\nline 2")
        .await
        .unwrap();
    skip_to(&mut admin, &"x".repeat(100)).await;
    assert_eq!(admin.texts(1).await, ["line 1\nline 2"]);
}

#[tokio::test]
async fn a_member_who_falls_behind_is_dropped_and_catches_up_without_gaps() {
    // Room for the sender's 64 requests in flight (an event and a reply
    // each), far too little for a member who stops reading.
    let server = TestServer::with_limits(Limits {
        outbound_queue: 256,
        ..without_rate_limits()
    })
    .await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    drop(group_of(&server, &alice, &[&bob]).await);
    let admin = alice.join(&server, "rust").await;
    let mut member = bob.join(&server, "rust").await;
    skip_to(&mut member, "MemberJoined { name: \"bob\" }").await;

    // While bob's events sit unread, his client stops reading its socket,
    // the server's queue for him fills, and the server drops him.
    let sender = admin.client.clone();
    let drain = tokio::spawn(async move {
        let mut admin = admin;
        while admin.events.recv().await.is_some() {}
    });
    let pad = "y".repeat(4096);
    let texts: Vec<String> = (0..4000).map(|i| format!("{i} {pad}")).collect();
    let sent = stream::iter(texts.clone())
        .map(|text| {
            let client = sender.clone();
            async move { client.send_message("rust", text).await.unwrap() }
        })
        .buffered(64)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(sent.len(), texts.len());

    let mut received = Vec::new();
    let mut reconnects = 0;
    while received.len() < texts.len() {
        match member.next().await {
            ClientEvent::Server(Event::Message { entry, .. }) => received.push(text_of(&entry)),
            ClientEvent::Reconnected(_) => reconnects += 1,
            _ => {}
        }
    }
    assert!(
        reconnects >= 1,
        "bob was never dropped; the test sent too little"
    );
    assert!(received == texts, "every message exactly once, in order");
    member.assert_nothing_more().await;
    drain.abort();
}

#[tokio::test]
async fn a_reader_that_stalls_is_dropped_and_others_carry_on() {
    let server = TestServer::with_limits(Limits {
        outbound_queue: 16,
        ..without_rate_limits()
    })
    .await;
    let (alice, bob, carol) = (User::new("alice"), User::new("bob"), User::new("carol"));
    let admin = group_of(&server, &alice, &[&bob, &carol]).await;
    let mut member = bob.join(&server, "rust").await;
    let mut stalled = Raw::connect(&server).await;
    assert!(matches!(
        stalled.hello(&carol, "rust").await,
        ServerFrame::Welcome(_)
    ));

    // Carol never reads again. Send enough to fill her socket and queue.
    let big = "x".repeat(8 * 1024);
    let count = 1500;
    let sender = admin.client.clone();
    let drain = tokio::spawn(async move {
        let mut admin = admin;
        while admin.events.recv().await.is_some() {}
    });
    let texts: Vec<String> = (0..count).map(|i| format!("{i} {big}")).collect();
    let sending = tokio::spawn({
        let texts = texts.clone();
        async move {
            for text in texts {
                sender.send_message("rust", text).await.unwrap();
            }
            sender
        }
    });
    let mut received = 0;
    while received < count {
        let entry = member.entry().await;
        if let Body::Text { text } = entry.body {
            assert_eq!(text, texts[received]);
            received += 1;
        }
    }
    let sender = sending.await.unwrap();
    let online: Vec<_> = common::names(sender.online_members("rust").await.unwrap());
    assert_eq!(online, ["alice", "bob"], "the stalled reader was dropped");
    drain.abort();
    drop(stalled);
}

#[tokio::test]
async fn shutdown_tells_clients_and_keeps_everything() {
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let alice = User::new("alice");
    let mut admin = alice.join(&server, "rust").await;
    admin
        .client
        .send_message(&admin.group, "durable")
        .await
        .unwrap();
    server.stop().await;
    admin
        .wait_for(|e| matches!(e, ClientEvent::Server(Event::ServerShutdown)).then_some(()))
        .await;
    admin
        .wait_for(|e| matches!(e, ClientEvent::Reconnecting { .. }).then_some(()))
        .await;
    drop(admin);

    server.restart().await;
    let mut options = alice.options(&server, "rust");
    options.last_seq = [("rust".to_owned(), 0)].into();
    let mut again = Session::connect(options).await.unwrap();
    assert_eq!(again.texts(2).await, ["GroupCreated", "durable"]);
}

#[tokio::test]
async fn a_full_disk_refuses_the_write_and_loses_nothing() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let alice = User::new("alice");
    let mut admin = alice.join(&server, "rust").await;
    admin
        .client
        .send_message(&admin.group, "kept")
        .await
        .unwrap();
    skip_to(&mut admin, "kept").await;

    // Capped at (at most) its current size, the database refuses the next
    // commit exactly as it would on a full disk.
    server.cap_database(1);

    let big = "z".repeat(8 * 1024);
    let error = admin
        .client
        .send_message(&admin.group, big)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(pyconchat::protocol::ErrorCode::Internal));
    assert!(error.to_string().contains("full"), "{error}");
    // Still connected, still readable, and nothing half-written appears.
    assert_eq!(admin.client.who_admin(&admin.group).await.unwrap(), "alice");
    server.cap_database(0);
    admin
        .client
        .send_message(&admin.group, "after")
        .await
        .unwrap();
    assert_eq!(admin.texts(1).await, ["after"]);
}
