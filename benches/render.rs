//! Drawing the chat screen with 100,000 messages of scrollback: the frame
//! must stay cheap however long the history grows and however many
//! conversations the user is in (budget: under 2 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use pyconchat::{
    client::{ClientEvent, Connected},
    protocol::{
        Body, ConvKind, Conversation, Event, GroupSnapshot, JoinStatus, LogEntry, MemberInfo, Role,
        Welcome, direct_id,
    },
    tui::{
        action::Target,
        app::App,
        event::AppEvent,
        session::{LastSession, SavedFiles},
        settings::Settings,
        update, view,
    },
};
use ratatui::{Terminal, backend::TestBackend, layout::Size};

const SCROLLBACK: u64 = 100_000;

/// A group of 20 with member0 as its admin, its log `head` long.
fn group(id: &str, head: u64, unread: u32) -> Conversation {
    let members = (0..20)
        .map(|i| MemberInfo {
            name: format!("member{i}"),
            role: if i == 0 { Role::Admin } else { Role::Member },
            online: i % 3 == 0,
        })
        .chain(std::iter::once(MemberInfo {
            name: "alice".into(),
            role: Role::Member,
            online: true,
        }))
        .collect();
    Conversation {
        id: id.into(),
        kind: ConvKind::Group,
        status: JoinStatus::Member,
        snapshot: Some(GroupSnapshot {
            admin: "member0".into(),
            members,
            requests: Vec::new(),
            head,
        }),
        read: head - u64::from(unread),
        unread,
        mentions: unread / 7,
    }
}

/// alice's direct conversation with `peer`.
fn direct(peer: &str, unread: u32) -> Conversation {
    let members = ["alice", peer]
        .iter()
        .map(|name| MemberInfo {
            name: (*name).into(),
            role: Role::Member,
            online: true,
        })
        .collect();
    Conversation {
        id: direct_id("alice", peer),
        kind: ConvKind::Direct,
        status: JoinStatus::Direct,
        snapshot: Some(GroupSnapshot {
            admin: String::new(),
            members,
            requests: Vec::new(),
            head: 40,
        }),
        read: 40 - u64::from(unread),
        unread,
        mentions: 0,
    }
}

/// alice in `others` conversations besides "rust", where 100,000
/// messages arrived, on a 120×40 terminal.
fn chat_with_history(s: &Settings, others: usize) -> App {
    let target = Target {
        server: "127.0.0.1:7667".into(),
        name: "alice".into(),
        group: "rust".into(),
    };
    let mut app = App::new(target, LastSession::default(), SavedFiles::default());
    app.size = Size::new(120, 40);
    let mut conversations = vec![group("rust", 0, 0)];
    conversations.extend((0..others).map(|i| {
        if i % 3 == 0 {
            direct(&format!("friend{i}"), (i % 5) as u32)
        } else {
            group(&format!("group{i}"), 500, (i * 13 % 40) as u32)
        }
    }));
    let welcome = Welcome {
        name: "alice".into(),
        conversations,
    };
    let connected = Connected {
        server: "127.0.0.1:7667".into(),
        welcome,
    };
    update::update(&mut app, s, AppEvent::Connected(Ok(connected)));
    for seq in 1..=SCROLLBACK {
        let text = format!(
            "message {seq}: the quick brown fox jumps over the lazy dog, and then some more words so that lines wrap"
        );
        let entry = LogEntry {
            seq,
            at_ms: 1_767_344_400_000 + seq as i64 * 1_000,
            from: format!("member{}", seq % 20),
            body: Body::Text { text },
        };
        let event = Event::Message {
            conv: "rust".into(),
            entry,
        };
        update::update(&mut app, s, AppEvent::Client(ClientEvent::Server(event)));
    }
    // What alice read is told to the server a moment later; then the
    // client is idle.
    app.now += std::time::Duration::from_secs(1);
    update::update(&mut app, s, AppEvent::Tick);
    let chat = app.chat().expect("the chat");
    assert_eq!(chat.selected(), Some("rust"));
    assert_eq!(chat.len(), others + 1);
    assert!(
        chat.timeline().items().len() as u64 >= SCROLLBACK,
        "the pane keeps the whole history"
    );
    app
}

fn render(c: &mut Criterion) {
    let s = Settings::default();
    for (others, name) in [
        (0, "draw the chat screen, 100k messages of scrollback"),
        (
            49,
            "draw the chat screen, 50 conversations, 100k messages of scrollback",
        ),
    ] {
        let app = chat_with_history(&s, others);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("a test terminal");
        c.bench_function(name, |b| {
            b.iter(|| {
                terminal
                    .draw(|frame| view::draw(frame, &app, &s))
                    .expect("draw");
            });
        });
        // Idle: nothing asks for a timer, so the loop sleeps until an event.
        assert_eq!(app.next_tick(), None, "an idle client sets no timer");
    }
}

criterion_group!(benches, render);
criterion_main!(benches);
