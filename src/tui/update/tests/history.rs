//! The messages pane's history: what was said before shows on opening,
//! the view opens at the "while you were away" divider, and older pages
//! come as the user scrolls up, down to the start of what may be read.

use crossterm::event::KeyCode;

use crate::{
    protocol::{JoinStatus, LogEntry, Seq},
    tui::{
        action::{Effect, Purpose},
        app::App,
        event::AppEvent,
        fixtures::{self, *},
        model::timeline::{History, ItemKind},
    },
};

fn ask(before: Seq) -> Effect {
    Effect::Request(Purpose::History {
        conv: "rust".into(),
        before,
    })
}

fn lines(range: std::ops::RangeInclusive<Seq>) -> Vec<LogEntry> {
    range
        .map(|seq| text_entry(seq, "alice", &format!("line {seq}")))
        .collect()
}

/// bob's client, which read the log up to `read`, connects; the log's head
/// is `head`. Returns what the welcome asked for.
fn back(read: Seq, head: Seq) -> (App, Vec<Effect>) {
    let mut app = fixtures::app("bob", "rust");
    resume_at(&mut app, "rust", read);
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], head);
    let unread = (head - read) as u32;
    let rust = conversation_in("rust", JoinStatus::Member, Some(snap), read, unread);
    let effects = update(&mut app, welcome_with("bob", vec![rust]));
    (app, effects)
}

/// The texts of the chat lines shown, oldest first.
fn texts(app: &App) -> Vec<String> {
    chat(app)
        .timeline()
        .items()
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Chat { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn coming_back_to_nothing_new_shows_the_last_messages() {
    let (mut app, effects) = back(30, 30);
    assert_eq!(effects, [Effect::SaveSession, ask(31)]);
    update(&mut app, history(31, lines(11..=30)));
    assert_eq!(texts(&app).len(), 20);
    assert_eq!(texts(&app).last().unwrap(), "line 30");
    assert_eq!(chat(&app).timeline().scroll().offset, 0, "at the newest");
    insta::assert_snapshot!(render(&app, 80, 24).backend());

    // Page Up to the top asks for the page before; an empty page is the
    // start of what bob may read, and nothing more is asked.
    let mut asked = Vec::new();
    for _ in 0..3 {
        asked.extend(update(&mut app, key(KeyCode::PageUp)));
    }
    assert_eq!(asked, [ask(11)], "once, while it is on its way");
    update(&mut app, history(11, lines(1..=10)));
    assert_eq!(texts(&app).first().unwrap(), "line 1");
    assert_eq!(texts(&app).len(), 30);
    let mut asked = Vec::new();
    for _ in 0..5 {
        asked.extend(update(&mut app, key(KeyCode::PageUp)));
    }
    assert_eq!(asked, [ask(1)]);
    update(&mut app, history(1, Vec::new()));
    assert_eq!(chat(&app).timeline().history(), History::Start);
    assert!(update(&mut app, key(KeyCode::PageUp)).is_empty());
    // New messages still come in below, once each.
    update(&mut app, text(31, "alice", "line 31"));
    update(&mut app, text(31, "alice", "line 31"));
    assert_eq!(texts(&app).len(), 31);
}

#[test]
fn with_missed_messages_the_view_opens_at_the_divider() {
    let (mut app, effects) = back(10, 40);
    assert_eq!(effects, [Effect::SaveSession, ask(11)]);
    feed(&mut app, lines(11..=40).into_iter().map(entry_event));
    // The catch-up (30 lines) is taller than the pane: the divider stays
    // on its first row, the rest is below.
    let screen = render(&app, 80, 24);
    let first_row: String = (0..80)
        .map(|x| screen.backend().buffer()[(x, 2)].symbol().to_owned())
        .collect();
    assert!(first_row.contains("while you were away"), "{first_row:?}");
    assert!(chat(&app).timeline().scroll().new_below > 0);
    // What was read before arrives above it; the view holds still.
    update(&mut app, history(11, lines(1..=10)));
    assert_eq!(texts(&app).len(), 40);
    insta::assert_snapshot!(render(&app, 80, 24).backend());
    // A live message after the catch-up does not move the view either.
    let offset = chat(&app).timeline().scroll().offset;
    update(&mut app, text(41, "alice", "line 41"));
    assert!(chat(&app).timeline().scroll().offset > offset);
    assert_eq!(
        chat(&app)
            .timeline()
            .items()
            .iter()
            .filter(|i| matches!(i.kind, ItemKind::Divider(_)))
            .count(),
        1
    );
}

#[test]
fn a_failed_page_is_said_and_asked_again_after_a_reconnect() {
    let (mut app, _) = back(5, 5);
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::History {
                conv: "rust".into(),
                before: 6,
            },
            result: Err(refused("not a member")),
        },
    );
    assert!(
        matches!(last_kind(&app), ItemKind::Error(e) if e == "cannot load older messages: not a member")
    );
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 5);
    let effects = update(&mut app, reconnected(snap));
    assert_eq!(effects, [ask(6)], "the pane is still empty");
}

fn entry_event(entry: LogEntry) -> AppEvent {
    AppEvent::Client(crate::client::ClientEvent::Server(
        crate::protocol::Event::Message {
            conv: "rust".into(),
            entry,
        },
    ))
}
