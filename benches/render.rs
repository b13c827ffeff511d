//! Drawing the chat screen with 100,000 messages of scrollback: the frame
//! must stay cheap however long the history grows (budget: under 2 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use pyconchat::{
    client::ClientEvent,
    protocol::{Body, Event, GroupSnapshot, JoinStatus, LogEntry, MemberInfo, Role, Welcome},
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

/// alice in a group of 20 after 100,000 messages, on a 120×40 terminal.
fn chat_with_history(s: &Settings) -> App {
    let target = Target {
        server: "127.0.0.1:7667".into(),
        name: "alice".into(),
        group: "rust".into(),
    };
    let mut app = App::new(target, LastSession::default(), SavedFiles::default());
    app.size = Size::new(120, 40);
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
    let welcome = Welcome {
        status: JoinStatus::Member,
        name: "alice".into(),
        group: "rust".into(),
        snapshot: Some(GroupSnapshot {
            admin: "member0".into(),
            members,
            requests: Vec::new(),
            head: 0,
        }),
    };
    update::update(&mut app, s, AppEvent::Connected(Ok(welcome)));
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
        update::update(
            &mut app,
            s,
            AppEvent::Client(ClientEvent::Server(Event::Message { entry })),
        );
    }
    let items = app.chat().map_or(0, |chat| chat.timeline.items().len());
    assert!(
        items as u64 >= SCROLLBACK,
        "the pane keeps the whole history"
    );
    app
}

fn render(c: &mut Criterion) {
    let s = Settings::default();
    let app = chat_with_history(&s);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("a test terminal");
    c.bench_function("draw the chat screen, 100k messages of scrollback", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| view::draw(frame, &app, &s))
                .expect("draw");
        });
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
