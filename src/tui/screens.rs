//! Snapshots of every screen, drawn with `TestBackend` from states built
//! by feeding events through `update`, as the running client does.

use std::time::Duration;

use crossterm::event::KeyCode;
use insta::assert_snapshot;

use super::{
    app::{Focus, Screen},
    event::AppEvent,
    fixtures::*,
    update::{start, update},
};
use crate::{
    client::{ClientEvent, CloseReason},
    protocol::{Event, JoinStatus},
};

#[test]
fn login_form_validates_as_you_type() {
    let mut app = app("", "");
    start(&mut app, false);
    type_text(&mut app, "bo b");
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn login_form_shows_why_connecting_failed() {
    let mut app = app("bob", "rust");
    start(&mut app, true);
    update(
        &mut app,
        AppEvent::Connected(Err("the name bob belongs to someone else".into())),
    );
    assert_eq!(app.screen, Screen::Login);
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn pending_screen() {
    let mut app = app("bob", "rust");
    start(&mut app, true);
    update(&mut app, welcome("bob", JoinStatus::Pending, None));
    assert_snapshot!(render(&app, 80, 20).backend());
}

#[test]
fn rejected_screen() {
    let mut app = app("bob", "rust");
    start(&mut app, true);
    feed(
        &mut app,
        [
            welcome("bob", JoinStatus::Pending, None),
            AppEvent::Client(ClientEvent::Server(Event::RequestRejected {
                by: "alice".into(),
            })),
            AppEvent::Client(ClientEvent::Closed(CloseReason::Rejected {
                by: "alice".into(),
            })),
        ],
    );
    assert_snapshot!(render(&app, 80, 20).backend());
}

#[test]
fn chat_as_a_member() {
    let app = chat_as_member();
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn chat_as_admin_with_requests_waiting() {
    let mut app = chat_as_admin();
    update(&mut app, key(KeyCode::BackTab));
    assert_eq!(app.focus, Focus::Requests);
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn help_popup() {
    let mut app = chat_as_member();
    update(&mut app, key(KeyCode::F(1)));
    assert_snapshot!(render(&app, 90, 40).backend());
}

#[test]
fn confirm_popup() {
    let mut app = chat_as_admin();
    feed(
        &mut app,
        [
            key(KeyCode::Tab),
            key(KeyCode::Tab),
            key(KeyCode::Down),
            ch('x'),
        ],
    );
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn file_transfer_notice() {
    let mut app = chat_as_member();
    update(&mut app, ctrl('o'));
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn reconnecting() {
    let mut app = chat_as_member();
    update(
        &mut app,
        AppEvent::Client(ClientEvent::Reconnecting {
            attempt: 2,
            delay: Duration::from_millis(3500),
            reason: "the server closed the connection".into(),
        }),
    );
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn scrolled_up_with_new_messages_below() {
    let mut app = chat_as_member();
    for seq in 5..30 {
        update(
            &mut app,
            text(seq, "carol", &format!("message number {seq}")),
        );
    }
    feed(
        &mut app,
        [
            key(KeyCode::PageUp),
            text(30, "alice", "a new one"),
            text(31, "alice", "and another"),
        ],
    );
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn narrow_terminal() {
    let mut app = chat_as_admin();
    update(&mut app, AppEvent::Resize(50, 20));
    assert_snapshot!(render(&app, 50, 20).backend());
}

#[test]
fn terminal_too_small() {
    let app = chat_as_member();
    assert_snapshot!(render(&app, 24, 6).backend());
}

#[test]
fn any_size_draws_without_panicking() {
    for (w, h) in [
        (0, 0),
        (1, 1),
        (5, 3),
        (29, 7),
        (30, 8),
        (31, 9),
        (45, 12),
        (63, 15),
        (64, 15),
    ] {
        let mut app = chat_as_admin();
        update(&mut app, AppEvent::Resize(w, h));
        for seq in 5..12 {
            update(
                &mut app,
                text(
                    seq,
                    "bob",
                    "a message long enough to wrap a few times at small sizes",
                ),
            );
        }
        feed(
            &mut app,
            [
                key(KeyCode::PageUp),
                key(KeyCode::Tab),
                key(KeyCode::Home),
                text(12, "bob", "more"),
            ],
        );
        render(&app, w, h);
        update(&mut app, key(KeyCode::F(1)));
        render(&app, w, h);
    }
}

#[test]
fn connecting_screen() {
    let mut app = app("bob", "rust");
    start(&mut app, true);
    assert_eq!(app.screen, Screen::Connecting);
    assert_snapshot!(render(&app, 80, 16).backend());
}
