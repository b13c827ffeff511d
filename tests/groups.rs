//! The group rules, over real TCP: create, request, approve, reject, kick,
//! change admin, who is admin, members, identity.

mod common;

use std::time::Duration;

use common::{Session, TestServer, User};
use pyconchat::{
    client::ClientEvent,
    protocol::{Body, ErrorCode, Event, JoinStatus, ReplyData, Request, Role},
    server::Limits,
};

/// alice creates `group`; bob asks to join and alice approves.
async fn admin_and_member(server: &TestServer, group: &str) -> (Session, Session) {
    admin_and_member_as(server, group, &User::new("alice"), &User::new("bob")).await
}

async fn admin_and_member_as(
    server: &TestServer,
    group: &str,
    alice: &User,
    bob: &User,
) -> (Session, Session) {
    let mut admin = alice.join(server, group).await;
    let pending = bob.join(server, group).await;
    drop(pending);
    common::approve(&admin.client, &admin.group, "bob").await;
    let member = bob.join(server, group).await;
    assert_eq!(member.status(), JoinStatus::Member);
    admin
        .wait_for(|e| {
            matches!(e, ClientEvent::Server(Event::MemberOnline { name, .. }) if name == "bob")
                .then_some(())
        })
        .await;
    (admin, member)
}

/// Moves the server's clock forward without waiting (the server runs on
/// this test's runtime, so it shares the clock).
async fn pass_time(duration: Duration) {
    tokio::time::pause();
    tokio::time::advance(duration).await;
    tokio::time::resume();
}

fn code(result: Result<ReplyData, pyconchat::client::ClientError>) -> ErrorCode {
    result
        .expect_err("the request fails")
        .code()
        .expect("a server error")
}

#[tokio::test]
async fn joining_a_new_group_creates_it_with_the_joiner_as_admin() {
    let server = TestServer::start().await;
    let mut alice = User::new("alice").join(&server, "rust").await;
    assert_eq!(alice.status(), JoinStatus::Created);
    let snapshot = alice.snapshot().cloned().unwrap();
    assert_eq!(snapshot.admin, "alice");
    assert_eq!(snapshot.members.len(), 1);
    assert_eq!(alice.entry().await.body, Body::GroupCreated);
    assert_eq!(alice.client.who_admin(&alice.group).await.unwrap(), "alice");
}

#[tokio::test]
async fn a_join_request_waits_for_the_admin_who_approves_it() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let mut admin = alice.join(&server, "rust").await;
    admin
        .client
        .send_message(&admin.group, "before bob")
        .await
        .unwrap();

    let mut pending = bob.join(&server, "rust").await;
    assert_eq!(pending.status(), JoinStatus::Pending);
    assert!(pending.snapshot().is_none());

    let request = admin
        .wait_for(|e| match e {
            ClientEvent::Server(Event::JoinRequested { request, .. }) => Some(request.clone()),
            _ => None,
        })
        .await;
    assert_eq!(request.name, "bob");
    match admin
        .client
        .request(Request::ViewRequests {
            conv: admin.group.clone(),
        })
        .await
        .unwrap()
    {
        ReplyData::Requests { requests } => assert_eq!(requests, vec![request]),
        other => panic!("{other:?}"),
    }

    // Pending users can do nothing in the group.
    assert_eq!(
        code(
            pending
                .client
                .request(Request::SendMessage {
                    conv: "rust".into(),
                    text: "hi".into()
                })
                .await
        ),
        ErrorCode::Pending
    );
    assert_eq!(
        code(
            pending
                .client
                .request(Request::AllMembers {
                    conv: pending.group.clone()
                })
                .await
        ),
        ErrorCode::Pending
    );

    common::approve(&admin.client, &admin.group, "bob").await;
    let (by, snapshot) = pending
        .wait_for(|e| match e {
            ClientEvent::Server(Event::RequestApproved { by, snapshot, .. }) => {
                Some((by.clone(), snapshot.clone()))
            }
            _ => None,
        })
        .await;
    assert_eq!(by, "alice");
    assert!(snapshot.members.iter().any(|m| m.name == "bob"));
    // The new member receives the recent history, then the join itself.
    assert_eq!(
        pending.texts(3).await,
        [
            "GroupCreated",
            "before bob",
            "MemberJoined { name: \"bob\" }"
        ]
    );
    let joined = admin.entry().await;
    assert_eq!(joined.body, Body::MemberJoined { name: "bob".into() });
    assert_eq!(joined.from, "alice");

    pending
        .client
        .send_message(&pending.group, "hi all")
        .await
        .unwrap();
    assert_eq!(admin.texts(1).await, ["hi all"]);
}

#[tokio::test]
async fn a_rejected_user_is_told_and_may_ask_again_after_a_pause() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin = alice.join(&server, "rust").await;
    let mut pending = bob.join(&server, "rust").await;
    admin
        .client
        .request(Request::RejectRequest {
            conv: admin.group.clone(),
            name: "bob".into(),
        })
        .await
        .unwrap();
    let rejected = pending
        .wait_for(|e| match e {
            ClientEvent::Server(Event::RequestRejected { conv, by }) => {
                Some((conv.clone(), by.clone()))
            }
            _ => None,
        })
        .await;
    assert_eq!(rejected, ("rust".into(), "alice".into()));
    match admin
        .client
        .request(Request::ViewRequests {
            conv: admin.group.clone(),
        })
        .await
        .unwrap()
    {
        ReplyData::Requests { requests } => assert!(requests.is_empty()),
        other => panic!("{other:?}"),
    }
    // Asking again at once is refused, so a rejected user cannot flood the admin.
    let error = bob.refused(&server, "rust").await;
    assert_eq!(error.code(), Some(ErrorCode::RateLimited));
    assert!(error.to_string().contains("ask again in 60 s"), "{error}");
    // Just before the cooldown ends the answer is still no...
    let cooldown = server.limits.rejoin_cooldown;
    pass_time(cooldown - Duration::from_secs(2)).await;
    let error = bob.refused(&server, "rust").await;
    assert!(error.to_string().contains("ask again in 2 s"), "{error}");
    // ...and after it, yes.
    pass_time(Duration::from_secs(2)).await;
    let again = bob.join(&server, "rust").await;
    assert_eq!(again.status(), JoinStatus::Pending);
}

#[tokio::test]
async fn a_group_holds_a_bounded_number_of_requests() {
    let server = TestServer::with_limits(Limits {
        max_pending_requests: 2,
        ..Limits::default()
    })
    .await;
    let _admin = User::new("alice").join(&server, "rust").await;
    for name in ["b1", "b2"] {
        drop(User::new(name).join(&server, "rust").await);
    }
    let error = User::new("b3").refused(&server, "rust").await;
    assert_eq!(error.code(), Some(ErrorCode::RateLimited));
}

#[tokio::test]
async fn requests_survive_both_sides_being_away() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    alice
        .join(&server, "rust")
        .await
        .client
        .disconnect()
        .await
        .unwrap();
    bob.join(&server, "rust")
        .await
        .client
        .disconnect()
        .await
        .unwrap();

    // The admin learns of the request on their next login.
    let admin = alice.join(&server, "rust").await;
    let requests = admin.snapshot().unwrap().requests.clone();
    assert_eq!(
        requests.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    common::approve(&admin.client, &admin.group, "bob").await;

    // The requester comes back as a member.
    let member = bob.join(&server, "rust").await;
    assert_eq!(member.status(), JoinStatus::Member);
}

#[tokio::test]
async fn admin_only_requests_are_refused_to_members() {
    let server = TestServer::start().await;
    let (_admin, member) = admin_and_member(&server, "rust").await;
    drop(User::new("carol").join(&server, "rust").await);
    for request in [
        Request::ViewRequests {
            conv: "rust".into(),
        },
        Request::ApproveRequest {
            conv: "rust".into(),
            name: "carol".into(),
        },
        Request::RejectRequest {
            conv: "rust".into(),
            name: "carol".into(),
        },
        Request::KickMember {
            conv: "rust".into(),
            name: "alice".into(),
        },
        Request::ChangeAdmin {
            conv: "rust".into(),
            name: "bob".into(),
        },
    ] {
        assert_eq!(
            code(member.client.request(request.clone()).await),
            ErrorCode::NotAdmin,
            "{request:?}"
        );
    }
    assert_eq!(
        member.client.who_admin(&member.group).await.unwrap(),
        "alice"
    );
}

#[tokio::test]
async fn errors_quote_a_short_prefix_of_a_huge_name_and_the_connection_goes_on() {
    let server = TestServer::start().await;
    let (admin, _member) = admin_and_member(&server, "rust").await;
    // A name almost as long as a frame may be: echoed whole, the reply
    // would be over the server's own frame limit.
    let huge = "z".repeat(server.limits.max_frame_bytes - 200);
    for request in [
        Request::KickMember {
            conv: "rust".into(),
            name: huge.clone(),
        },
        Request::ChangeAdmin {
            conv: "rust".into(),
            name: huge.clone(),
        },
        Request::ApproveRequest {
            conv: "rust".into(),
            name: huge.clone(),
        },
        Request::RejectRequest {
            conv: "rust".into(),
            name: huge.clone(),
        },
    ] {
        let error = admin.client.request(request).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::NoSuchUser), "{error}");
        let shown = error.to_string();
        assert!(shown.len() < 300, "{} bytes", shown.len());
        assert!(shown.contains(&format!("{}…", "z".repeat(64))), "{shown}");
    }
    assert_eq!(admin.client.who_admin(&admin.group).await.unwrap(), "alice");
}

#[tokio::test]
async fn admin_requests_check_their_target() {
    let server = TestServer::start().await;
    let (admin, _member) = admin_and_member(&server, "rust").await;
    let c = &admin.client;
    assert_eq!(
        code(
            c.request(Request::KickMember {
                conv: "rust".into(),
                name: "alice".into()
            })
            .await
        ),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(
            c.request(Request::ChangeAdmin {
                conv: "rust".into(),
                name: "alice".into()
            })
            .await
        ),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(
            c.request(Request::KickMember {
                conv: "rust".into(),
                name: "zed".into()
            })
            .await
        ),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        code(
            c.request(Request::ChangeAdmin {
                conv: "rust".into(),
                name: "zed".into()
            })
            .await
        ),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        code(
            c.request(Request::ApproveRequest {
                conv: "rust".into(),
                name: "bob".into()
            })
            .await
        ),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        code(
            c.request(Request::RejectRequest {
                conv: "rust".into(),
                name: "zed".into()
            })
            .await
        ),
        ErrorCode::NoSuchUser
    );
}

#[tokio::test]
async fn a_kicked_member_is_told_who_did_it_and_may_ask_again() {
    let server = TestServer::start().await;
    let (mut admin, mut member) = admin_and_member(&server, "rust").await;
    admin
        .client
        .request(Request::KickMember {
            conv: admin.group.clone(),
            name: "bob".into(),
        })
        .await
        .unwrap();
    let by = member
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Kicked { by, .. }) => Some(by.clone()),
            _ => None,
        })
        .await;
    assert_eq!(by, "alice");
    let refused = member
        .client
        .send_message(&member.group, "still here?")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::NotMember));

    let kicked = admin
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Message { entry, .. })
                if matches!(entry.body, Body::MemberKicked { .. }) =>
            {
                Some(entry.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(kicked.body, Body::MemberKicked { name: "bob".into() });
    assert_eq!(
        common::names(admin.client.members(&admin.group).await.unwrap()),
        ["alice"]
    );
}

#[tokio::test]
async fn kicked_then_requesting_again_goes_through_the_admin() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin = alice.join(&server, "rust").await;
    drop(bob.join(&server, "rust").await);
    common::approve(&admin.client, &admin.group, "bob").await;
    admin
        .client
        .request(Request::KickMember {
            conv: admin.group.clone(),
            name: "bob".into(),
        })
        .await
        .unwrap();
    let again = bob.join(&server, "rust").await;
    assert_eq!(again.status(), JoinStatus::Pending);
    assert_eq!(
        code(
            again
                .client
                .request(Request::SendMessage {
                    conv: "rust".into(),
                    text: "x".into()
                })
                .await
        ),
        ErrorCode::Pending
    );
}

#[tokio::test]
async fn the_admin_role_moves_to_a_member_and_everyone_is_told() {
    let server = TestServer::start().await;
    let carol = User::new("carol");
    let (mut admin, mut member) = admin_and_member(&server, "rust").await;
    drop(carol.join(&server, "rust").await);
    admin
        .client
        .request(Request::ChangeAdmin {
            conv: admin.group.clone(),
            name: "bob".into(),
        })
        .await
        .unwrap();

    for session in [&mut admin, &mut member] {
        let entry = session
            .wait_for(|e| match e {
                ClientEvent::Server(Event::Message { entry, .. })
                    if matches!(entry.body, Body::AdminChanged { .. }) =>
                {
                    Some(entry.clone())
                }
                _ => None,
            })
            .await;
        assert_eq!(
            (entry.from.as_str(), entry.body),
            ("alice", Body::AdminChanged { to: "bob".into() })
        );
    }
    // The new admin hears of the waiting request.
    let request = member
        .wait_for(|e| match e {
            ClientEvent::Server(Event::JoinRequested { request, .. }) => Some(request.name.clone()),
            _ => None,
        })
        .await;
    assert_eq!(request, "carol");
    assert_eq!(admin.client.who_admin(&admin.group).await.unwrap(), "bob");
    assert_eq!(
        code(
            admin
                .client
                .request(Request::KickMember {
                    conv: admin.group.clone(),
                    name: "bob".into()
                })
                .await
        ),
        ErrorCode::NotAdmin
    );
    let roles: Vec<_> = member
        .client
        .members(&member.group)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.role))
        .collect();
    assert_eq!(
        roles,
        [("alice".into(), Role::Member), ("bob".into(), Role::Admin)]
    );
    member
        .client
        .request(Request::KickMember {
            conv: member.group.clone(),
            name: "alice".into(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn online_members_are_a_subset_of_all_members() {
    let server = TestServer::start().await;
    let (mut admin, member) = admin_and_member(&server, "rust").await;
    let online = |members: Vec<pyconchat::protocol::MemberInfo>| {
        members.into_iter().map(|m| m.name).collect::<Vec<_>>()
    };
    assert_eq!(
        online(admin.client.online_members(&admin.group).await.unwrap()),
        ["alice", "bob"]
    );

    member.client.disconnect().await.unwrap();
    admin
        .wait_for(|e| {
            matches!(e, ClientEvent::Server(Event::MemberOffline { name, .. }) if name == "bob")
                .then_some(())
        })
        .await;
    assert_eq!(
        online(admin.client.online_members(&admin.group).await.unwrap()),
        ["alice"]
    );
    let all = admin.client.members(&admin.group).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|m| (m.name.as_str(), m.online))
            .collect::<Vec<_>>(),
        [("alice", true), ("bob", false)]
    );
}

#[tokio::test]
async fn disconnect_keeps_membership_and_coming_back_is_immediate() {
    let server = TestServer::start().await;
    let alice = User::new("alice");
    let (admin, member) = admin_and_member_as(&server, "rust", &alice, &User::new("bob")).await;
    member.client.disconnect().await.unwrap();
    admin.client.disconnect().await.unwrap();
    let back = alice.join(&server, "rust").await;
    assert_eq!(back.status(), JoinStatus::Admin);
}

#[tokio::test]
async fn nobody_can_take_a_name_that_is_pinned_to_someone_else() {
    let server = TestServer::start().await;
    let alice = User::new("alice");
    let _admin = alice.join(&server, "rust").await;
    let impostor = User::new("alice");
    let error = impostor.refused(&server, "rust").await;
    assert_eq!(error.code(), Some(ErrorCode::NameTaken));
    // Also in another group: names belong to the server, not the group.
    let error = impostor.refused(&server, "other").await;
    assert_eq!(error.code(), Some(ErrorCode::NameTaken));
}

#[tokio::test]
async fn two_connections_under_one_name_are_both_online() {
    let server = TestServer::start().await;
    let alice = User::new("alice");
    let mut first = alice.join(&server, "rust").await;
    let mut second = alice.join(&server, "rust").await;
    assert_eq!(second.status(), JoinStatus::Admin);
    first.entry().await;
    second.entry().await;
    second.say("from the second").await;
    assert_eq!(first.texts(1).await, ["from the second"]);
    assert_eq!(second.texts(1).await, ["from the second"]);
    first.say("from the first").await;
    assert_eq!(second.texts(1).await, ["from the first"]);
}

#[tokio::test]
async fn bad_names_and_groups_are_refused_with_the_rule() {
    let server = TestServer::start().await;
    let error = User::new("no spaces").refused(&server, "rust").await;
    assert_eq!(error.code(), Some(ErrorCode::InvalidName));
    assert!(error.to_string().contains("may contain only"), "{error}");
    let error = User::new("ann").refused(&server, "two words").await;
    assert_eq!(error.code(), Some(ErrorCode::InvalidGroup));
    let error = User::new(&"n".repeat(33))
        .try_join(&server, "rust")
        .await
        .err()
        .unwrap();
    assert_eq!(error.code(), Some(ErrorCode::InvalidName));
}
