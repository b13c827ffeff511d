//! One server on PostgreSQL, over real TCP with real frames: the seed's
//! story (a group created, a join request approved, a second group, a
//! direct message found again by search, a kick) and a restart on the same
//! schema, from which every conversation resumes without gap or duplicate.

mod common;

use std::collections::BTreeMap;

use common::{Session, TestServer, User, text_of};
use pyconchat::{
    client::ClientEvent,
    protocol::{Body, ConvId, Event, JoinStatus, LogEntry, Request},
};

/// The next log entry of any conversation, with its conversation.
async fn next_entry(session: &mut Session) -> (ConvId, LogEntry) {
    session
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Message { conv, entry }) => {
                Some((conv.clone(), entry.clone()))
            }
            _ => None,
        })
        .await
}

/// Reads entries until `last` arrives in every conversation it names;
/// returns the texts per conversation, checking that sequence numbers go
/// up by one in each: no gap, no duplicate.
async fn read_until(session: &mut Session, last: &[(&str, &str)]) -> BTreeMap<ConvId, Vec<String>> {
    let mut texts: BTreeMap<ConvId, Vec<String>> = BTreeMap::new();
    let mut newest: BTreeMap<ConvId, u64> = BTreeMap::new();
    while !last.iter().all(|(conv, text)| {
        texts
            .get(*conv)
            .is_some_and(|t| t.last().is_some_and(|l| l == text))
    }) {
        let (conv, entry) = next_entry(session).await;
        if let Some(before) = newest.insert(conv.clone(), entry.seq) {
            assert_eq!(entry.seq, before + 1, "{conv}: {entry:?} after {before}");
        }
        texts.entry(conv).or_default().push(text_of(&entry));
    }
    texts
}

#[tokio::test]
async fn the_story_on_postgresql_and_a_restart_without_gap_or_duplicate() {
    let mut server = TestServer::on_postgres().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let mut admin = alice.join(&server, "rust").await;
    assert_eq!(admin.status(), JoinStatus::Created);
    let mut member = bob.join(&server, "rust").await;
    assert_eq!(member.status(), JoinStatus::Pending);
    common::approve(&admin.client, "rust", "bob").await;
    admin.say("hello bob").await;
    read_until(&mut member, &[("rust", "hello bob")]).await;
    member.say("hi alice").await;
    read_until(&mut admin, &[("rust", "hi alice")]).await;

    let go = admin.client.join_group("go").await.unwrap();
    assert_eq!(go.status, JoinStatus::Created);
    let asked = member.client.join_group("go").await.unwrap();
    assert_eq!(asked.status, JoinStatus::Pending);
    common::approve(&admin.client, "go", "bob").await;
    admin.client.send_message("go", "g1").await.unwrap();
    let direct = member.client.open_direct("alice").await.unwrap();
    member
        .client
        .send_message(&direct.id, "psst: the Café at noon")
        .await
        .unwrap();
    read_until(
        &mut member,
        &[
            ("rust", "hi alice"),
            ("go", "g1"),
            (&direct.id, "psst: the Café at noon"),
        ],
    )
    .await;
    let hits = admin.client.search("CAFE noon", 10).await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].conv, direct.id);
    assert_eq!(
        hits[0].entry.body,
        Body::Text {
            text: "psst: the Café at noon".into()
        }
    );

    server.restart().await;
    for session in [&mut admin, &mut member] {
        session
            .wait_for(|e| matches!(e, ClientEvent::Reconnected(_)).then_some(()))
            .await;
    }
    for (conv, text) in [("rust", "r2"), ("go", "g2"), ("rust", "r3")] {
        admin.client.send_message(conv, text).await.unwrap();
    }
    let texts = read_until(&mut member, &[("rust", "r3"), ("go", "g2")]).await;
    assert_eq!(texts["rust"], ["r2", "r3"], "{texts:?}");
    assert_eq!(texts["go"], ["g2"], "{texts:?}");

    let kick = Request::KickMember {
        conv: "go".into(),
        name: "bob".into(),
    };
    admin.client.request(kick).await.unwrap();
    member
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Kicked { conv, by }) if conv == "go" => Some(by.clone()),
            _ => None,
        })
        .await;
    assert!(
        member
            .client
            .send_message("go", "let me back")
            .await
            .is_err()
    );
    member
        .client
        .send_message("rust", "still here")
        .await
        .unwrap();
    read_until(&mut admin, &[("rust", "still here")]).await;
}
