//! Sign-up limits over real TCP: one address may create only so many new
//! names and groups, is told when to try again, and leaves nothing behind;
//! names and groups that exist are never limited, and the limits can be
//! lifted.

mod common;

use common::{Raw, TestServer, User, without_rate_limits};
use pyconchat::{
    protocol::{ErrorCode, JoinStatus, ServerFrame},
    server::Limits,
    store::Store,
};

/// Says hello as `user` to `group` and expects a welcome with `status`.
async fn welcomed(server: &TestServer, user: &User, group: &str, status: JoinStatus) {
    match Raw::connect(server).await.hello(user, group).await {
        ServerFrame::Welcome(welcome) => {
            let opened = welcome.conversations.iter().find(|c| c.id == group);
            assert_eq!(opened.map(|c| c.status), Some(status), "{}", user.name);
        }
        other => panic!("{} was not welcomed: {other:?}", user.name),
    }
}

/// Says hello as `user` to `group` and expects `rate_limited`; returns its message.
async fn rate_limited(server: &TestServer, user: &User, group: &str) -> String {
    match Raw::connect(server).await.hello(user, group).await {
        ServerFrame::Error(error) if error.code == ErrorCode::RateLimited => error.message,
        other => panic!("{} was not refused: {other:?}", user.name),
    }
}

fn stored(server: &TestServer, user: &User) -> bool {
    let hash = blake3::hash(user.identity.secret());
    server
        .store()
        .verify_name(&user.name, hash.as_bytes())
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn new_names_beyond_the_burst_are_refused_and_not_stored() {
    let server = TestServer::with_limits(Limits {
        new_names_per_minute: 1,
        new_name_burst: 3,
        ..Limits::default()
    })
    .await;
    let users: Vec<User> = (0..4).map(|i| User::new(&format!("u{i}"))).collect();
    welcomed(&server, &users[0], "room", JoinStatus::Created).await;
    for user in &users[1..3] {
        welcomed(&server, user, "room", JoinStatus::Pending).await;
    }
    let message = rate_limited(&server, &users[3], "room").await;
    assert!(
        message.starts_with("too many new names from your address; try again in ")
            && message.ends_with(" s"),
        "{message}"
    );
    assert!(!stored(&server, &users[3]), "a refused name is not stored");
    let requests = server.store().load_group("room").unwrap().unwrap().requests;
    assert_eq!(requests.len(), 2, "and asks nothing: {requests:?}");

    // Names that exist are never limited.
    welcomed(&server, &users[0], "room", JoinStatus::Admin).await;
    welcomed(&server, &users[1], "room", JoinStatus::Pending).await;
    welcomed(&server, &users[2], "other", JoinStatus::Created).await;
}

#[tokio::test]
async fn new_groups_beyond_the_burst_are_refused_and_not_stored() {
    let server = TestServer::with_limits(Limits {
        new_groups_per_minute: 1,
        new_group_burst: 2,
        ..Limits::default()
    })
    .await;
    let ann = User::new("ann");
    welcomed(&server, &ann, "g1", JoinStatus::Created).await;
    welcomed(&server, &ann, "g2", JoinStatus::Created).await;
    let message = rate_limited(&server, &ann, "g3").await;
    assert!(
        message.starts_with("too many new groups from your address; try again in "),
        "{message}"
    );
    assert_eq!(server.store().load_group("g3").unwrap(), None);

    // Groups that exist are never limited, for their members or newcomers.
    welcomed(&server, &ann, "g1", JoinStatus::Admin).await;
    welcomed(&server, &User::new("bob"), "g2", JoinStatus::Pending).await;
    // A newcomer whose own group is refused keeps the name it claimed.
    let cat = User::new("cat");
    rate_limited(&server, &cat, "g4").await;
    assert!(stored(&server, &cat));
}

#[tokio::test]
async fn the_limits_can_be_lifted() {
    let defaults = Limits::default();
    let (names, groups) = (defaults.new_name_burst, defaults.new_group_burst);
    // One address gets the default burst of names (into rooms of 100,
    // under the cap on pending requests), and no more: at one a minute,
    // none comes back while the test runs.
    let limited = TestServer::with_limits(Limits {
        new_names_per_minute: 1,
        ..Limits::default()
    })
    .await;
    for i in 0..names {
        let status = if i % 100 == 0 {
            JoinStatus::Created
        } else {
            JoinStatus::Pending
        };
        let user = User::new(&format!("n{i}"));
        welcomed(&limited, &user, &format!("room{}", i / 100), status).await;
    }
    rate_limited(&limited, &User::new("one-more"), "room0").await;

    let lifted = TestServer::with_limits(without_rate_limits()).await;
    for i in 0..=names.max(groups) {
        let user = User::new(&format!("n{i}"));
        welcomed(&lifted, &user, &format!("g{i}"), JoinStatus::Created).await;
    }
}
