//! The connection's story through `update`: connecting, waiting, being let
//! in, turned down, removed and let back in, reconnecting.

use std::time::Duration;

use crossterm::event::KeyCode;

use crate::{
    protocol::{Body, Event, JoinStatus, ReplyData, Seq},
    tui::{
        action::{Effect, Failure, Purpose, RequestError, Target},
        app::Conn,
        event::AppEvent,
        fixtures::{self, *},
        model::{conversation::Standing, timeline::ItemKind, transfer::FileState},
        update::start,
    },
};

/// The member "rust" removed by alice at `seq`, and let back in after it.
fn removed_and_let_back(seq: Seq) -> [AppEvent; 2] {
    let name = "rust".to_owned();
    [
        entry(seq, "alice", Body::MemberKicked { name: name.clone() }),
        entry(seq + 1, "alice", Body::MemberJoined { name }),
    ]
}

#[test]
fn connection_state_follows_the_client() {
    let mut app = chat_as_member();
    update(&mut app, connection_lost(1, Duration::from_secs(2), "gone"));
    assert_eq!(app.reconnect_in(), Some(2));
    assert!(app.next_tick().is_some(), "the countdown needs a timer");
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.starts_with("lost the connection to the server"))
    );
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 4);
    update(&mut app, reconnected(snap));
    assert_eq!(app.conn, Conn::Connected);
    assert_eq!(app.next_tick(), None, "no timer when idle");
}

#[test]
fn a_server_shutting_down_moves_the_client_to_the_next_one() {
    let mut app = chat_as_member();
    app.target.server = "127.0.0.1:7667,127.0.0.1:7668".into();
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 4);
    update(&mut app, server_shutting_down(Duration::from_secs(1)));
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e.starts_with("the server is shutting down; moving to the next server")),
        "{:?}",
        last_kind(&app)
    );
    update(&mut app, reconnected_to("127.0.0.1:7668", snap));
    assert_eq!(app.conn, Conn::Connected);
    assert!(
        matches!(last_kind(&app), ItemKind::Info(i) if i == "reconnected to 127.0.0.1:7668"),
        "{:?}",
        last_kind(&app)
    );
    let screen = render(&app, 100, 24).backend().to_string();
    assert!(
        screen.contains("│ 127.0.0.1:7668 "),
        "the status bar names the node in use"
    );
    assert!(!screen.contains("7667,"), "not the whole list");
}

#[test]
fn pending_then_approved_or_rejected() {
    let mut app = fixtures::app("bob", "rust");
    assert_eq!(
        start(&mut app, true),
        vec![Effect::Connect(Target {
            server: "127.0.0.1:7667".into(),
            name: "bob".into(),
            group: "rust".into()
        })]
    );
    assert_eq!(
        update(&mut app, welcome("bob", JoinStatus::Pending, None)),
        vec![Effect::SaveSession]
    );
    assert!(chat(&app).lone_waiting().is_some(), "the waiting screen");
    update(
        &mut app,
        server(Event::RequestApproved {
            conv: "rust".into(),
            by: "alice".into(),
            snapshot: snapshot("alice", &[("alice", true), ("bob", true)], &[], 2),
        }),
    );
    assert!(chat(&app).lone_waiting().is_none(), "the chat");
    assert_eq!(shown(&app).standing, Standing::Member);

    let mut app = fixtures::app("bob", "rust");
    start(&mut app, true);
    update(&mut app, welcome("bob", JoinStatus::Pending, None));
    assert!(
        update(&mut app, ch('r')).is_empty(),
        "nothing to ask again yet"
    );
    update(&mut app, rejected());
    assert!(matches!(&shown(&app).standing, Standing::Rejected { by, .. } if by == "alice"));
    assert!(
        chat(&app).lone_waiting().is_some(),
        "still the waiting screen"
    );
    assert_eq!(update(&mut app, ch('r')), vec![ask_again()]);
    assert_eq!(update(&mut app, ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn asking_again_too_soon_waits_on_the_waiting_screen_with_a_countdown() {
    let mut app = fixtures::app("bob", "rust");
    start(&mut app, true);
    update(&mut app, welcome("bob", JoinStatus::Pending, None));
    update(&mut app, rejected());
    update(&mut app, ch('r'));
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::Join("rust".into()),
            result: Err(RequestError {
                failure: Failure::RateLimited,
                message: "the admin turned down your request; you can ask again in 58 s".into(),
            }),
        },
    );
    assert!(matches!(&shown(&app).standing, Standing::Rejected { .. }));
    let screen = format!("{}", render(&app, 80, 20).backend());
    assert!(screen.contains("You can ask again in 58 s"), "{screen}");
    assert!(update(&mut app, ch('r')).is_empty(), "not yet");
    assert_eq!(app.next_tick(), Some(app.now + Duration::from_secs(1)));
    app.now += Duration::from_secs(20);
    update(&mut app, AppEvent::Tick);
    let screen = format!("{}", render(&app, 80, 20).backend());
    assert!(screen.contains("You can ask again in 38 s"), "{screen}");
    app.now += Duration::from_secs(38);
    assert_eq!(update(&mut app, ch('r')), vec![ask_again()]);
    // Asked again: waiting again.
    let pending = conversation_in("rust", JoinStatus::Pending, None, 0, 0);
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::Join("rust".into()),
            result: Ok(ReplyData::Conversation {
                conversation: pending,
            }),
        },
    );
    let screen = format!("{}", render(&app, 80, 20).backend());
    assert!(screen.contains("Waiting for approval"), "{screen}");
}

/// alice turned bob's request to join "rust" down.
fn rejected() -> AppEvent {
    server(Event::RequestRejected {
        conv: "rust".into(),
        by: "alice".into(),
    })
}

fn ask_again() -> Effect {
    Effect::Request(Purpose::Join("rust".into()))
}

/// rust's story: a member, removed (seq 5), asks again and is let back in
/// (seq 6); the server replays the recent log, kick included.
fn let_back_in(app: &mut crate::tui::app::App) -> Vec<Effect> {
    let mut effects = Vec::new();
    effects.extend(update(
        app,
        server(Event::Kicked {
            conv: "rust".into(),
            by: "alice".into(),
        }),
    ));
    type_text(app, "/join rust");
    effects.extend(update(app, key(KeyCode::Enter)));
    let pending = conversation_in("rust", JoinStatus::Pending, None, 0, 0);
    effects.extend(update(
        app,
        AppEvent::Reply {
            purpose: Purpose::Join("rust".into()),
            result: Ok(ReplyData::Conversation {
                conversation: pending,
            }),
        },
    ));
    let snap = snapshot(
        "alice",
        &[("alice", true), ("carol", true), ("rust", true)],
        &[],
        6,
    );
    effects.extend(update(
        app,
        server(Event::RequestApproved {
            conv: "rust".into(),
            by: "alice".into(),
            snapshot: snap,
        }),
    ));
    effects.extend(feed(
        app,
        [
            file_entry(3, "alice", "f1", "big-5mb.bin", 5 << 20),
            entry(4, "carol", Body::GroupCreated),
        ]
        .into_iter()
        .chain(removed_and_let_back(5)),
    ));
    effects
}

fn rust_in_the_group() -> crate::tui::app::App {
    let mut app = fixtures::app("rust", "rust");
    let snap = snapshot(
        "alice",
        &[("alice", true), ("carol", true), ("rust", true)],
        &[],
        2,
    );
    update(&mut app, welcome("rust", JoinStatus::Member, Some(snap)));
    app
}

#[test]
fn let_back_in_a_member_is_online_to_himself() {
    let mut app = rust_in_the_group();
    let_back_in(&mut app);
    assert_eq!(shown(&app).standing, Standing::Member);
    let members: Vec<_> = shown(&app)
        .roster
        .members()
        .iter()
        .map(|m| (m.name.clone(), m.online))
        .collect();
    assert_eq!(
        members,
        [
            ("alice".to_owned(), true),
            ("carol".to_owned(), true),
            ("rust".to_owned(), true)
        ]
    );
    let screen = format!("{}", render(&app, 80, 24).backend());
    assert!(
        screen.contains("Members 3/3") && screen.contains("● rust"),
        "{screen}"
    );
}

#[test]
fn a_member_who_joined_later_sees_the_returning_one_online() {
    // carol joins after rust's return: the snapshot has him online, and the
    // replayed kick and join are already in it.
    let mut app = fixtures::app("carol", "rust");
    let snap = snapshot(
        "alice",
        &[("alice", true), ("carol", true), ("rust", true)],
        &[],
        6,
    );
    update(&mut app, welcome("carol", JoinStatus::Member, Some(snap)));
    feed(&mut app, removed_and_let_back(5));
    assert!(
        shown(&app)
            .roster
            .members()
            .iter()
            .any(|m| m.name == "rust" && m.online)
    );
}

#[test]
fn let_back_in_a_file_already_saved_is_not_saved_again() {
    let mut app = rust_in_the_group();
    let effects = update(
        &mut app,
        file_entry(3, "alice", "f1", "big-5mb.bin", 5 << 20),
    );
    let [Effect::FetchFile { id, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    update(
        &mut app,
        AppEvent::Transfer {
            id: *id,
            update: crate::tui::model::transfer::TransferUpdate::Finished(
                crate::tui::model::transfer::Finish::Saved("/dl/big-5mb.bin".into()),
            ),
        },
    );
    update(&mut app, entry(4, "carol", Body::GroupCreated));
    let effects = let_back_in(&mut app);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::FetchFile { .. })),
        "{effects:?}"
    );
    let files = shown(&app).files.shared();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].state, FileState::Saved("/dl/big-5mb.bin".into()));
}

#[test]
fn after_a_restart_a_replayed_announcement_is_listed_but_not_fetched() {
    // A new run of a member who had read up to seq 4: the replay of what
    // was read is history.
    let mut app = fixtures::app("rust", "rust");
    let snap = snapshot("alice", &[("alice", true), ("rust", true)], &[], 6);
    let rust = conversation_in("rust", JoinStatus::Member, Some(snap), 4, 2);
    update(&mut app, welcome_with("rust", vec![rust]));
    let effects = feed(
        &mut app,
        [
            file_entry(3, "alice", "f1", "big-5mb.bin", 5 << 20),
            file_entry(5, "alice", "f2", "new.bin", 10),
        ],
    );
    assert!(
        matches!(effects.as_slice(), [Effect::FetchFile { file, .. }] if file.id == "f2"),
        "{effects:?}"
    );
    assert_eq!(shown(&app).files.shared()[0].state, FileState::Waiting);
}
