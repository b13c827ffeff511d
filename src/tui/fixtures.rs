//! Test fixtures shared by the update tests and the screen snapshots.

use std::{sync::LazyLock, time::Duration};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::{Terminal, backend::TestBackend, layout::Size};

use super::{
    action::{Effect, Failure, Purpose, RequestError, Target},
    app::App,
    event::AppEvent,
    session::{LastSession, SavedFiles},
    settings::Settings,
    view,
};
use crate::{
    client::ClientEvent,
    protocol::{
        Body, Event, FileInfo, GroupSnapshot, JoinRequest, JoinStatus, LogEntry, MemberInfo,
        ReplyData, Role, Seq, SharedFile, Welcome,
    },
};

/// 2026-01-02 09:00 UTC: every fixture time is relative to it.
pub const T0: i64 = 1_767_344_400_000;

/// The settings every fixture runs with: UTC times, a made-up home.
pub static SETTINGS: LazyLock<Settings> = LazyLock::new(|| Settings {
    utc: true,
    cwd: "/home/bob/project".into(),
    home: Some("/home/bob".into()),
    ..Settings::default()
});

/// `update` with the fixtures' settings.
pub fn update(app: &mut App, event: AppEvent) -> Vec<Effect> {
    super::update::update(app, &SETTINGS, event)
}

pub fn app(name: &str, group: &str) -> App {
    let target = Target {
        server: "127.0.0.1:7667".into(),
        name: name.into(),
        group: group.into(),
    };
    let mut app = App::new(target, LastSession::default(), SavedFiles::default());
    app.size = Size::new(80, 24);
    app
}

pub fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> AppEvent {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn alt(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT))
}

/// Types `text` into whatever has focus.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        update(app, ch(c));
    }
}

pub fn member(name: &str, admin: &str, online: bool) -> MemberInfo {
    let role = if name == admin {
        Role::Admin
    } else {
        Role::Member
    };
    MemberInfo {
        name: name.to_owned(),
        role,
        online,
    }
}

pub fn request(name: &str, minutes: i64) -> JoinRequest {
    JoinRequest {
        name: name.to_owned(),
        at_ms: T0 + minutes * 60_000,
    }
}

pub fn snapshot(
    admin: &str,
    members: &[(&str, bool)],
    requests: &[&str],
    head: Seq,
) -> GroupSnapshot {
    GroupSnapshot {
        admin: admin.to_owned(),
        members: members
            .iter()
            .map(|(n, on)| member(n, admin, *on))
            .collect(),
        requests: requests
            .iter()
            .enumerate()
            .map(|(i, n)| request(n, i as i64))
            .collect(),
        head,
    }
}

/// The server's answer to `name`'s hello in the group "rust".
pub fn welcome(name: &str, status: JoinStatus, snapshot: Option<GroupSnapshot>) -> AppEvent {
    AppEvent::Connected(Ok(Welcome {
        status,
        name: name.to_owned(),
        group: "rust".to_owned(),
        snapshot,
    }))
}

pub fn entry(seq: Seq, from: &str, body: Body) -> AppEvent {
    AppEvent::Client(ClientEvent::Server(Event::Message {
        entry: LogEntry {
            seq,
            at_ms: T0 + seq as i64 * 60_000,
            from: from.to_owned(),
            body,
        },
    }))
}

pub fn text(seq: Seq, from: &str, text: &str) -> AppEvent {
    entry(
        seq,
        from,
        Body::Text {
            text: text.to_owned(),
        },
    )
}

/// `from` shares a file in the group.
pub fn file_entry(seq: Seq, from: &str, id: &str, name: &str, size: u64) -> AppEvent {
    entry(
        seq,
        from,
        Body::File {
            file: FileInfo {
                id: id.to_owned(),
                name: name.to_owned(),
                size,
                blake3: vec![0; 32],
            },
        },
    )
}

/// The server's answer to a list of the group's files (`download`: asked
/// by `/download`).
pub fn files_listed(download: bool, files: Vec<SharedFile>) -> AppEvent {
    AppEvent::Reply {
        purpose: Purpose::ListFiles { download },
        result: Ok(ReplyData::Files { files }),
    }
}

/// `from`'s file `id` as the server lists it, shared at minute `seq`.
pub fn listed_file(seq: Seq, from: &str, id: &str, name: &str, size: u64) -> SharedFile {
    SharedFile {
        seq,
        at_ms: T0 + seq as i64 * 60_000,
        from: from.to_owned(),
        file: FileInfo {
            id: id.to_owned(),
            name: name.to_owned(),
            size,
            blake3: vec![0; 32],
        },
    }
}

/// A page of history: `entries` as the server returns them.
pub fn history(before: Seq, entries: Vec<LogEntry>) -> AppEvent {
    AppEvent::Reply {
        purpose: Purpose::History { before },
        result: Ok(ReplyData::History { entries }),
    }
}

/// A chat line as a log entry, at minute `seq`.
pub fn text_entry(seq: Seq, from: &str, text: &str) -> LogEntry {
    LogEntry {
        seq,
        at_ms: T0 + seq as i64 * 60_000,
        from: from.to_owned(),
        body: Body::Text {
            text: text.to_owned(),
        },
    }
}

/// The connection dropped; attempt `attempt` comes after `delay`.
pub fn connection_lost(attempt: u32, delay: Duration, reason: &str) -> AppEvent {
    AppEvent::Client(ClientEvent::Reconnecting {
        attempt,
        delay,
        reason: reason.to_owned(),
    })
}

/// bob is back in "rust" after a reconnect, the group as in `snapshot`.
pub fn reconnected(snapshot: GroupSnapshot) -> AppEvent {
    AppEvent::Client(ClientEvent::Reconnected(Welcome {
        status: JoinStatus::Member,
        name: "bob".into(),
        group: "rust".into(),
        snapshot: Some(snapshot),
    }))
}

/// Feeds events, returning every effect they caused.
pub fn feed(app: &mut App, events: impl IntoIterator<Item = AppEvent>) -> Vec<Effect> {
    events.into_iter().flat_map(|e| update(app, e)).collect()
}

/// A member's chat with a short history.
pub fn chat_as_member() -> App {
    let mut app = app("bob", "rust");
    let snap = snapshot(
        "alice",
        &[("alice", true), ("bob", true), ("carol", false)],
        &[],
        4,
    );
    feed(&mut app, [welcome("bob", JoinStatus::Member, Some(snap))]);
    feed(
        &mut app,
        [
            entry(1, "alice", Body::GroupCreated),
            entry(2, "alice", Body::MemberJoined { name: "bob".into() }),
            text(3, "alice", "welcome @bob! 東京からこんにちは 👋"),
            text(
                4,
                "bob",
                "thanks, glad to be here. This line is long enough to wrap across the messages pane.",
            ),
        ],
    );
    app
}

/// The admin's chat with two requests waiting.
pub fn chat_as_admin() -> App {
    let mut app = app("alice", "rust");
    let snap = snapshot(
        "alice",
        &[("alice", true), ("bob", false)],
        &["carol", "dan"],
        3,
    );
    app.last_seq = Some(3);
    feed(&mut app, [welcome("alice", JoinStatus::Admin, Some(snap))]);
    feed(&mut app, [text(4, "bob", "is anyone there?")]);
    app
}

pub fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    render_with(app, &SETTINGS, width, height)
}

pub fn render_with(app: &App, s: &Settings, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view::draw(frame, app, s)).unwrap();
    terminal
}

/// A failure the server gave reasons for.
pub fn refused(message: &str) -> RequestError {
    RequestError {
        failure: Failure::Refused,
        message: message.to_owned(),
    }
}

/// The chat, which the fixture's app must be showing.
pub fn chat(app: &App) -> &crate::tui::model::Chat {
    app.chat().expect("the chat screen")
}

/// The newest item of the messages pane.
pub fn last_kind(app: &App) -> &crate::tui::model::timeline::ItemKind {
    &chat(app).timeline.items().last().expect("an item").kind
}
