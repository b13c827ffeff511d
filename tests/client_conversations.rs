//! The client library with several conversations on one connection,
//! against a real server: each resumes after a restart with no gap and no
//! duplicate, and a kick ends one conversation, not the connection.

mod common;

use common::{Session, TestServer, User, without_rate_limits};
use pyconchat::{
    client::ClientEvent,
    protocol::{Event, JoinStatus, Request},
};

/// alice runs "rust" and "go"; bob is in both. Returns their sessions.
async fn two_groups(server: &TestServer, alice: &User, bob: &User) -> (Session, Session) {
    let admin = alice.join(server, "rust").await;
    let go = admin.client.join_group("go").await.unwrap();
    assert_eq!(go.status, JoinStatus::Created);
    let member = bob.join(server, "rust").await;
    common::approve(&admin.client, "rust", "bob").await;
    let asked = member.client.join_group("go").await.unwrap();
    assert_eq!(asked.status, JoinStatus::Pending);
    common::approve(&admin.client, "go", "bob").await;
    (admin, member)
}

#[tokio::test]
async fn every_conversation_resumes_after_a_restart_without_gap_or_duplicate() {
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let (mut admin, mut member) = two_groups(&server, &alice, &bob).await;
    for (conv, text) in [("rust", "r1"), ("go", "g1")] {
        admin.client.send_message(conv, text).await.unwrap();
    }
    member.read_until(&[("rust", "r1"), ("go", "g1")]).await;

    server.restart().await;
    for session in [&mut admin, &mut member] {
        session
            .wait_for(|e| matches!(e, ClientEvent::Reconnected(_)).then_some(()))
            .await;
        if session.welcome.name == "alice" {
            for (conv, text) in [("rust", "r2"), ("go", "g2"), ("rust", "r3")] {
                session.client.send_message(conv, text).await.unwrap();
            }
        }
    }
    let texts = member.read_until(&[("rust", "r3"), ("go", "g2")]).await;
    assert_eq!(texts["rust"], ["r2", "r3"], "{texts:?}");
    assert_eq!(texts["go"], ["g2"], "{texts:?}");
}

#[tokio::test]
async fn a_kick_ends_one_conversation_and_the_connection_goes_on() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let (admin, mut member) = two_groups(&server, &alice, &bob).await;
    let kick = Request::KickMember {
        conv: "go".into(),
        name: "bob".into(),
    };
    admin.client.request(kick).await.unwrap();
    let by = member
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Kicked { conv, by }) if conv == "go" => Some(by.clone()),
            _ => None,
        })
        .await;
    assert_eq!(by, "alice");
    member
        .client
        .send_message("rust", "still here")
        .await
        .unwrap();
    let refused = member.client.send_message("go", "let me back").await;
    assert!(refused.is_err(), "{refused:?}");
    // Asked again, on the same connection.
    let again = member.client.join_group("go").await.unwrap();
    assert_eq!(again.status, JoinStatus::Pending);
}
