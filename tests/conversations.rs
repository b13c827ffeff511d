//! One connection holds every conversation of its user: several groups,
//! joining and leaving at runtime, direct messages, history and search
//! bounded by membership, and read positions shared by a user's connections.
//! All over real TCP against a real server.

mod common;

use common::{Peer, TestServer, User, text_of, without_rate_limits};
use pyconchat::protocol::{
    Body, ConvKind, ErrorCode, Event, JoinStatus, ReplyData, Request, direct_id,
};

fn join(group: &str) -> Request {
    Request::JoinGroup {
        group: group.to_owned(),
    }
}

fn approve(conv: &str, name: &str) -> Request {
    Request::ApproveRequest {
        conv: conv.to_owned(),
        name: name.to_owned(),
    }
}

fn status_of(reply: ReplyData) -> JoinStatus {
    match reply {
        ReplyData::Conversation { conversation } => conversation.status,
        other => panic!("expected a conversation, got {other:?}"),
    }
}

/// ann runs `rust` and `go`; bob is a member of `rust` only.
async fn two_groups(server: &TestServer) -> (User, Peer, User, Peer) {
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let mut a = Peer::connect(server, &ann, Some("rust"), &[]).await;
    assert_eq!(status_of(a.ok(join("go")).await), JoinStatus::Created);
    let mut b = Peer::connect(server, &bob, Some("rust"), &[]).await;
    assert_eq!(b.welcome.conversations[0].status, JoinStatus::Pending);
    a.wait_for(|e| matches!(e, Event::JoinRequested { conv, .. } if conv == "rust").then_some(()))
        .await;
    a.ok(approve("rust", "bob")).await;
    b.wait_for(|e| {
        matches!(e, Event::RequestApproved { conv, .. } if conv == "rust").then_some(())
    })
    .await;
    (ann, a, bob, b)
}

#[tokio::test]
async fn one_connection_carries_several_groups_each_event_named() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (_ann, mut a, _bob, mut b) = two_groups(&server).await;
    assert_eq!(a.conversations(), ["rust"]);
    a.say("go", "only for go").await;
    b.say("rust", "hello rust").await;
    assert_eq!(a.texts("rust", 1).await, ["hello rust"]);
    assert_eq!(a.texts("go", 1).await, ["only for go"]);
    assert_eq!(b.texts("rust", 1).await, ["hello rust"]);
    b.assert_no_entry().await;
    let refused = b.ask(Request::SendMessage {
        conv: "go".into(),
        text: "let me in".into(),
    });
    assert_eq!(refused.await.unwrap_err().code, ErrorCode::NotMember);
}

#[tokio::test]
async fn resumes_each_conversation_across_a_restart_without_gap_or_duplicate() {
    let mut server = TestServer::with_limits(without_rate_limits()).await;
    let (ann, mut a, bob, mut b) = two_groups(&server).await;
    let rust_seen = b.say("rust", "r1").await;
    let go_seen = a.say("go", "g1").await;
    a.texts("rust", 1).await;
    a.texts("go", 1).await;
    a.close().await;
    b.close().await;
    server.restart().await;
    let mut b = Peer::connect(&server, &bob, None, &[]).await;
    b.say("rust", "r2").await;
    b.close().await;
    let mut a = Peer::connect(&server, &ann, None, &[("rust", rust_seen), ("go", go_seen)]).await;
    assert_eq!(a.conversations(), ["go", "rust"]);
    assert_eq!(a.texts("rust", 1).await, ["r2"]);
    a.assert_no_entry().await;
}

#[tokio::test]
async fn groups_are_joined_and_left_without_reconnecting() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (_ann, mut a, _bob, mut b) = two_groups(&server).await;
    assert_eq!(status_of(b.ok(join("go")).await), JoinStatus::Pending);
    let pending = b.ask(Request::SendMessage {
        conv: "go".into(),
        text: "early".into(),
    });
    assert_eq!(pending.await.unwrap_err().code, ErrorCode::Pending);
    a.wait_for(|e| matches!(e, Event::JoinRequested { conv, .. } if conv == "go").then_some(()))
        .await;
    a.ok(approve("go", "bob")).await;
    b.wait_for(|e| matches!(e, Event::RequestApproved { conv, .. } if conv == "go").then_some(()))
        .await;
    a.say("go", "welcome bob").await;
    assert_eq!(b.texts("go", 1).await, ["welcome bob"]);

    b.ok(Request::LeaveGroup { group: "go".into() }).await;
    b.wait_for(|e| matches!(e, Event::ConversationRemoved { conv } if conv == "go").then_some(()))
        .await;
    let left = a
        .wait_for(|e| match e {
            Event::Message { conv, entry } if conv == "go" && entry.from == "bob" => {
                Some(entry.body.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(left, Body::MemberLeft { name: "bob".into() });
    a.say("go", "after bob").await;
    b.assert_no_entry().await;

    let admin_leaves = a.ask(Request::LeaveGroup {
        group: "rust".into(),
    });
    assert_eq!(
        admin_leaves.await.unwrap_err().code,
        ErrorCode::InvalidTarget
    );
    a.ok(Request::LeaveGroup { group: "go".into() }).await;
    let cid = User::new("cid");
    let mut c = Peer::connect(&server, &cid, Some("go"), &[]).await;
    assert_eq!(
        c.welcome.conversations[0].status,
        JoinStatus::Created,
        "the last member leaving closed the group"
    );
    let fresh = c.entry("go").await;
    assert_eq!((fresh.seq, fresh.body), (1, Body::GroupCreated));
    c.assert_no_entry().await;
}

#[tokio::test]
async fn direct_messages_are_durable_and_only_between_people_who_share_a_group() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (_ann, mut a, bob, mut b) = two_groups(&server).await;
    let dm = direct_id("ann", "bob");
    match a.ok(Request::OpenDirect { name: "bob".into() }).await {
        ReplyData::Conversation { conversation } => {
            assert_eq!(
                (conversation.id.as_str(), conversation.kind),
                (dm.as_str(), ConvKind::Direct)
            );
        }
        other => panic!("{other:?}"),
    }
    b.wait_for(|e| match e {
        Event::ConversationAdded { conversation } if conversation.id == dm => Some(()),
        _ => None,
    })
    .await;
    a.say(&dm, "psst").await;
    assert_eq!(b.texts(&dm, 1).await, ["psst"]);

    b.close().await;
    a.say(&dm, "while you were out").await;
    let mut b = Peer::connect(&server, &bob, None, &[]).await;
    assert!(b.conversations().contains(&dm));
    assert_eq!(b.texts(&dm, 1).await, ["while you were out"]);
    b.assert_no_entry().await;

    let stranger = User::new("cid");
    let mut c = Peer::connect(&server, &stranger, Some("elsewhere"), &[]).await;
    let refused = c.ask(Request::OpenDirect { name: "ann".into() }).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::NoSuchUser);
    let to_self = a.ask(Request::OpenDirect { name: "ann".into() }).await;
    assert_eq!(to_self.unwrap_err().code, ErrorCode::InvalidTarget);
    let admin = a.ask(Request::KickMember {
        conv: dm.clone(),
        name: "bob".into(),
    });
    assert_eq!(admin.await.unwrap_err().code, ErrorCode::InvalidTarget);
}

#[tokio::test]
async fn ignoring_someone_stops_their_direct_messages_without_telling_them() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (_ann, mut a, bob, mut b) = two_groups(&server).await;
    let dm = direct_id("ann", "bob");
    a.ok(Request::OpenDirect { name: "bob".into() }).await;
    assert_eq!(b.entry(&dm).await.body, Body::GroupCreated);
    b.ok(Request::Ignore { name: "ann".into() }).await;
    b.wait_for(|e| matches!(e, Event::ConversationRemoved { conv } if *conv == dm).then_some(()))
        .await;
    a.say(&dm, "are you there?").await;
    a.say("rust", "in the group").await;
    assert_eq!(b.texts("rust", 1).await, ["in the group"]);
    b.assert_no_entry().await;
    match b.ok(Request::ListIgnored).await {
        ReplyData::Names { names } => assert_eq!(names, ["ann"]),
        other => panic!("{other:?}"),
    }
    b.close().await;
    let mut b = Peer::connect(&server, &bob, None, &[]).await;
    assert_eq!(
        b.conversations(),
        ["rust"],
        "an ignored person's conversation is hidden"
    );
    let refused = b.ask(Request::OpenDirect { name: "ann".into() }).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidTarget);
    let refused = b.ask(Request::SendMessage {
        conv: dm.clone(),
        text: "only while ignoring".into(),
    });
    assert_eq!(refused.await.unwrap_err().code, ErrorCode::InvalidTarget);
    b.ok(Request::Unignore { name: "ann".into() }).await;
    b.wait_for(|e| match e {
        Event::ConversationAdded { conversation } if conversation.id == dm => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        b.texts(&dm, 1).await,
        ["are you there?"],
        "nothing was lost"
    );
}

#[tokio::test]
async fn a_member_reads_only_from_their_grant_on_every_path() {
    let limits = pyconchat::server::Limits {
        history_on_join: 5,
        ..without_rate_limits()
    };
    let server = TestServer::with_limits(limits).await;
    let (ann, bob) = (User::new("ann"), User::new("bob"));
    let mut a = Peer::connect(&server, &ann, Some("rust"), &[]).await;
    for i in 0..30 {
        a.say("rust", &format!("early secret {i}")).await;
    }
    let mut b = Peer::connect(&server, &bob, Some("rust"), &[]).await;
    a.ok(approve("rust", "bob")).await;
    b.wait_for(|e| matches!(e, Event::RequestApproved { .. }).then_some(()))
        .await;
    a.say("rust", "late news").await;
    b.close().await;

    // Resuming from the very start still begins at the grant.
    let mut b = Peer::connect(&server, &bob, None, &[("rust", 0)]).await;
    let first = b.entry("rust").await;
    assert!(first.seq > 26, "resumed at {}", first.seq);

    let history = b
        .ok(Request::History {
            conv: "rust".into(),
            before: first.seq,
            limit: 200,
        })
        .await;
    let ReplyData::History { entries } = history else {
        panic!("{history:?}")
    };
    assert!(entries.iter().all(|e| e.seq > 26), "{entries:?}");
    assert_eq!(entries.len() as u64, first.seq - 27);

    let search = |text: &str| Request::Search {
        text: text.to_owned(),
        limit: 50,
    };
    let ReplyData::SearchHits { hits } = b.ok(search("early secret")).await else {
        panic!()
    };
    assert!(
        hits.iter().all(|h| h.entry.seq > 26),
        "search showed what the grant does not: {hits:?}"
    );
    assert_eq!(hits.len(), 5, "the five early messages inside the grant");
    let ReplyData::SearchHits { hits } = b.ok(search("late")).await else {
        panic!()
    };
    assert_eq!(hits.len(), 1);
    assert_eq!(text_of(&hits[0].entry), "late news");
    let ReplyData::SearchHits { hits } = a.ok(search("secret early")).await else {
        panic!()
    };
    assert_eq!(hits.len(), 30, "the admin reads everything");
    assert!(
        hits.windows(2).all(|w| w[0].entry.seq > w[1].entry.seq),
        "newest first"
    );
    let hostile = a.ok(search("\"secret\" OR NEAR(early * -")).await;
    assert!(matches!(hostile, ReplyData::SearchHits { .. }));
}

#[tokio::test]
async fn read_positions_follow_the_user_across_connections() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (_ann, mut a, bob, mut b) = two_groups(&server).await;
    let mut b2 = Peer::connect(&server, &bob, None, &[]).await;
    a.say("rust", "one").await;
    a.say("rust", "two @bob").await;
    let last = a.say("rust", "three").await;
    assert_eq!(b.texts("rust", 3).await.len(), 3);
    assert_eq!(b2.texts("rust", 3).await.len(), 3);

    let fresh = Peer::connect(&server, &bob, None, &[]).await;
    let rust = &fresh.welcome.conversations[0];
    assert_eq!((rust.unread, rust.mentions), (3, 1));
    fresh.close().await;

    b.ok(Request::MarkRead {
        conv: "rust".into(),
        seq: last - 1,
    })
    .await;
    let seq = b2
        .wait_for(|e| match e {
            Event::ReadUpTo { conv, seq } if conv == "rust" => Some(*seq),
            _ => None,
        })
        .await;
    assert_eq!(seq, last - 1);
    let fresh = Peer::connect(&server, &bob, None, &[]).await;
    let rust = &fresh.welcome.conversations[0];
    assert_eq!((rust.read, rust.unread, rust.mentions), (last - 1, 1, 0));
    b.ok(Request::MarkRead {
        conv: "rust".into(),
        seq: 1,
    })
    .await;
    match b.ok(Request::ListConversations).await {
        ReplyData::Conversations { conversations } => {
            assert_eq!(
                conversations[0].read,
                last - 1,
                "read positions never move back"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_old_client_is_told_to_update() {
    let server = TestServer::start().await;
    let mut raw = common::Raw::connect(&server).await;
    #[derive(serde::Serialize)]
    struct OldHello {
        #[serde(rename = "type")]
        kind: &'static str,
        version: u32,
        name: &'static str,
        #[serde(with = "serde_bytes")]
        secret: Vec<u8>,
        group: &'static str,
        last_seq: Option<u64>,
    }
    let hello = OldHello {
        kind: "hello",
        version: 1,
        name: "ann",
        secret: vec![7; 32],
        group: "rust",
        last_seq: Some(3),
    };
    raw.send_payload(&rmp_serde::to_vec_named(&hello).unwrap())
        .await;
    match raw.last_words().await {
        Some(pyconchat::protocol::ServerFrame::Error(error)) => {
            assert_eq!(error.code, ErrorCode::VersionMismatch);
            assert!(error.message.contains("version 2"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
}
