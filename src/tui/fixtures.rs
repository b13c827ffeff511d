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
    client::{ClientEvent, Connected},
    protocol::{
        Body, ConvKind, Conversation, Event, FileInfo, GroupSnapshot, JoinRequest, JoinStatus,
        LogEntry, MemberInfo, ReplyData, Role, Seq, SharedFile, Welcome, is_direct,
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

/// Conversation `id` as the server sends it: a group where the user is
/// `status`, read up to `read` with `unread` messages after it; a direct
/// conversation when the id says so.
pub fn conversation_in(
    id: &str,
    status: JoinStatus,
    snapshot: Option<GroupSnapshot>,
    read: Seq,
    unread: u32,
) -> Conversation {
    let kind = if is_direct(id) {
        ConvKind::Direct
    } else {
        ConvKind::Group
    };
    Conversation {
        id: id.to_owned(),
        kind,
        status,
        snapshot,
        read,
        unread,
        mentions: 0,
    }
}

/// Group (or direct conversation) `id` of a member, nothing unread.
pub fn conversation(id: &str) -> Conversation {
    let status = if is_direct(id) {
        JoinStatus::Direct
    } else {
        JoinStatus::Member
    };
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 0);
    conversation_in(id, status, Some(snap), 0, 0)
}

/// The server's answer to `name`'s hello: the group "rust" alone.
pub fn welcome(name: &str, status: JoinStatus, snapshot: Option<GroupSnapshot>) -> AppEvent {
    welcome_with(name, vec![conversation_in("rust", status, snapshot, 0, 0)])
}

/// The server's answer to `name`'s hello with these conversations.
pub fn welcome_with(name: &str, conversations: Vec<Conversation>) -> AppEvent {
    AppEvent::Connected(Ok(Connected {
        server: "127.0.0.1:7667".into(),
        welcome: Welcome {
            name: name.to_owned(),
            conversations,
        },
    }))
}

/// An entry of `conv`'s log, at minute `seq`.
pub fn entry_in(conv: &str, seq: Seq, from: &str, body: Body) -> AppEvent {
    AppEvent::Client(ClientEvent::Server(Event::Message {
        conv: conv.to_owned(),
        entry: LogEntry {
            seq,
            at_ms: T0 + seq as i64 * 60_000,
            from: from.to_owned(),
            body,
        },
    }))
}

/// An entry of the group "rust".
pub fn entry(seq: Seq, from: &str, body: Body) -> AppEvent {
    entry_in("rust", seq, from, body)
}

pub fn text_in(conv: &str, seq: Seq, from: &str, text: &str) -> AppEvent {
    entry_in(
        conv,
        seq,
        from,
        Body::Text {
            text: text.to_owned(),
        },
    )
}

pub fn text(seq: Seq, from: &str, text: &str) -> AppEvent {
    text_in("rust", seq, from, text)
}

/// What the server pushes about the user's conversations.
pub fn server(event: Event) -> AppEvent {
    AppEvent::Client(ClientEvent::Server(event))
}

/// The remembered session says this client received and read `conv` up
/// to `seq`: the next connection resumes there.
pub fn resume_at(app: &mut App, conv: &str, seq: Seq) {
    let mut resume = app.session.resume(&app.target.server, &app.target.name);
    resume.insert(conv.to_owned(), seq);
    let (server, name) = (app.target.server.clone(), app.target.name.clone());
    app.session.record(&server, &name, None, resume);
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
        purpose: Purpose::ListFiles {
            conv: "rust".into(),
            download,
        },
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

/// A page of "rust"'s history: `entries` as the server returns them.
pub fn history(before: Seq, entries: Vec<LogEntry>) -> AppEvent {
    history_in("rust", before, entries)
}

/// A page of `conv`'s history.
pub fn history_in(conv: &str, before: Seq, entries: Vec<LogEntry>) -> AppEvent {
    AppEvent::Reply {
        purpose: Purpose::History {
            conv: conv.into(),
            before,
        },
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
        moving: false,
    })
}

/// The server said it is shutting down; the client moves on.
pub fn server_shutting_down(delay: Duration) -> AppEvent {
    AppEvent::Client(ClientEvent::Reconnecting {
        attempt: 1,
        delay,
        reason: "the server is shutting down".to_owned(),
        moving: true,
    })
}

/// bob is back in "rust" after a reconnect, the group as in `snapshot`.
pub fn reconnected(snapshot: GroupSnapshot) -> AppEvent {
    reconnected_to("127.0.0.1:7667", snapshot)
}

/// bob is back in "rust" through `server`, the group as in `snapshot`.
pub fn reconnected_to(server: &str, snapshot: GroupSnapshot) -> AppEvent {
    let read = snapshot.head;
    let rust = conversation_in("rust", JoinStatus::Member, Some(snapshot), read, 0);
    AppEvent::Client(ClientEvent::Reconnected(Connected {
        server: server.to_owned(),
        welcome: Welcome {
            name: "bob".into(),
            conversations: vec![rust],
        },
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
    // bob read it all before, on this client or another.
    let rust = conversation_in("rust", JoinStatus::Member, Some(snap), 4, 0);
    feed(&mut app, [welcome_with("bob", vec![rust])]);
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

/// bob in several conversations, "rust" shown: "go" with unread news
/// that mentions him, a pending request to "python", a direct
/// conversation with alice with news, one with carol read.
pub fn chat_with_conversations() -> App {
    let mut app = app("bob", "rust");
    let members = |admin| {
        snapshot(
            admin,
            &[("alice", true), ("bob", true), ("carol", false)],
            &[],
            4,
        )
    };
    let direct = |peer: &str| {
        let snap = snapshot("", &[(peer, true), ("bob", true)], &[], 2);
        let mut snap = snap;
        for member in &mut snap.members {
            member.role = Role::Member;
        }
        snap
    };
    let mut go = conversation_in("go", JoinStatus::Member, Some(members("carol")), 1, 3);
    go.mentions = 1;
    let conversations = vec![
        conversation_in("rust", JoinStatus::Member, Some(members("alice")), 4, 0),
        go,
        conversation_in("python", JoinStatus::Pending, None, 0, 0),
        conversation_in("alice+bob", JoinStatus::Direct, Some(direct("alice")), 0, 2),
        conversation_in("bob+carol", JoinStatus::Direct, Some(direct("carol")), 2, 0),
    ];
    feed(&mut app, [welcome_with("bob", conversations)]);
    feed(
        &mut app,
        [
            entry(1, "alice", Body::GroupCreated),
            entry(2, "alice", Body::MemberJoined { name: "bob".into() }),
            text(3, "alice", "welcome @bob! 東京からこんにちは 👋"),
            text(4, "bob", "thanks, glad to be here."),
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
        4,
    );
    // alice received up to 3 here, and read bob's question elsewhere.
    resume_at(&mut app, "rust", 3);
    let rust = conversation_in("rust", JoinStatus::Admin, Some(snap), 4, 0);
    feed(&mut app, [welcome_with("alice", vec![rust])]);
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

/// The conversation shown.
pub fn shown(app: &App) -> &crate::tui::model::conversation::Conv {
    chat(app).current().expect("a conversation shown")
}

/// The newest item of the messages pane.
pub fn last_kind(app: &App) -> &crate::tui::model::timeline::ItemKind {
    &chat(app).timeline().items().last().expect("an item").kind
}
