//! Snapshots of every screen, drawn with `TestBackend` from states built
//! by feeding events through `update`, as the running client does.

use std::time::Duration;

use crossterm::event::KeyCode;
use insta::assert_snapshot;

use super::{
    app::{App, Screen},
    event::AppEvent,
    fixtures::*,
    model::{
        Focus,
        picker::{Entry, sort_entries},
        transfer::{Finish, TransferUpdate},
    },
    update::start,
};
use crate::{
    protocol::{Event, JoinStatus, LogEntry, ReplyData, SearchHit},
    tui::action::Purpose,
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
        AppEvent::Connected(Err(refused("the name bob belongs to someone else"))),
    );
    assert!(matches!(app.screen, Screen::Login(_)));
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
            server(Event::RequestRejected {
                conv: "rust".into(),
                by: "alice".into(),
            }),
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
    assert_eq!(chat(&app).focus, Focus::Requests);
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
            alt('k'),
        ],
    );
    assert_snapshot!(render(&app, 80, 24).backend());
}

/// The picker over a listing that exists only in the state.
fn picker_over(app: &mut App, entries: Vec<Entry>) {
    update(app, ctrl('o'));
    update(
        app,
        AppEvent::Listed {
            dir: "/home/bob/project".into(),
            result: Ok(entries),
        },
    );
}

fn project_listing() -> Vec<Entry> {
    let mut entries = vec![
        Entry::new(".git", true, 0),
        Entry::new("docs", true, 0),
        Entry::new("src", true, 0),
        Entry::new(".env", false, 120),
        Entry::new("Cargo.toml", false, 1_634),
        Entry::new("README.md", false, 14_020),
        Entry::new(
            "report-final-version-for-the-board-meeting-2026.pdf",
            false,
            2_516_582,
        ),
        Entry::new("holiday.mp4", false, 734_003_200),
        Entry::new("東京の写真.jpg", false, 3_145_728),
    ];
    sort_entries(&mut entries);
    entries
}

#[test]
fn file_picker() {
    let mut app = chat_as_member();
    picker_over(&mut app, project_listing());
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn file_picker_filtered_with_hidden_files_shown() {
    let mut app = chat_as_member();
    picker_over(&mut app, project_listing());
    update(&mut app, ctrl('t'));
    type_text(&mut app, "e");
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn file_picker_reading_and_failing() {
    let mut app = chat_as_member();
    update(&mut app, ctrl('o'));
    assert_snapshot!("file_picker_reading", render(&app, 60, 12).backend());
    update(
        &mut app,
        AppEvent::Listed {
            dir: "/home/bob/project".into(),
            result: Err("cannot read /home/bob/project: Permission denied (os error 13)".into()),
        },
    );
    assert_snapshot!("file_picker_failing", render(&app, 60, 12).backend());
}

fn progress(app: &mut App, id: u64, update_: TransferUpdate) {
    update(
        app,
        AppEvent::Transfer {
            id,
            update: update_,
        },
    );
}

#[test]
fn transfers_in_progress() {
    let mut app = chat_as_member();
    let t0 = app.now;
    type_text(&mut app, "/fileTransfer ~/big.iso");
    update(&mut app, key(KeyCode::Enter));
    progress(&mut app, 1, TransferUpdate::Size(734_003_200));
    update(
        &mut app,
        file_entry(5, "alice", "f1", "slides.pdf", 3 * 1024 * 1024),
    );
    app.now = t0 + Duration::from_secs(1);
    progress(&mut app, 1, TransferUpdate::Progress(52_428_800));
    progress(&mut app, 2, TransferUpdate::Progress(314_573));
    app.now = t0 + Duration::from_secs(4);
    progress(&mut app, 1, TransferUpdate::Progress(209_715_200));
    progress(&mut app, 2, TransferUpdate::Progress(1_258_291));
    // A new upload is still hashing its file.
    type_text(&mut app, "/fileTransfer ~/notes.md");
    update(&mut app, key(KeyCode::Enter));
    progress(&mut app, 3, TransferUpdate::Size(5_000));
    assert_snapshot!(render(&app, 80, 24).backend());
}

/// A member's chat where files were shared in every state there is.
fn chat_with_files() -> App {
    let mut app = chat_as_member();
    let t0 = app.now;
    let mib = 1024 * 1024;
    feed(
        &mut app,
        [
            file_entry(5, "alice", "f1", "notes.txt", 300),
            file_entry(6, "carol", "f2", "slides.pdf", 3 * mib),
            file_entry(7, "alice", "f3", "holiday-video.mp4", 700 * mib),
            file_entry(8, "carol", "f4", "old.log", 10),
            file_entry(9, "alice", "f5", "data.csv", 2048),
            file_entry(10, "bob", "f6", "report.pdf", 2_516_582),
        ],
    );
    app.now = t0 + Duration::from_secs(1);
    progress(&mut app, 2, TransferUpdate::Progress(mib / 2));
    app.now = t0 + Duration::from_secs(2);
    progress(
        &mut app,
        1,
        TransferUpdate::Finished(Finish::Saved("/home/bob/Downloads/notes.txt".into())),
    );
    progress(&mut app, 2, TransferUpdate::Progress(mib + mib / 4));
    progress(&mut app, 3, TransferUpdate::Finished(Finish::Unavailable));
    progress(
        &mut app,
        4,
        TransferUpdate::Finished(Finish::Failed(
            "the file arrived damaged (its BLAKE3 hash does not match); nothing was saved".into(),
        )),
    );
    app
}

#[test]
fn file_announcements_in_every_state() {
    let app = chat_with_files();
    assert_snapshot!(render(&app, 100, 30).backend());
}

#[test]
fn files_popup() {
    let mut app = chat_with_files();
    update(&mut app, ctrl('f'));
    assert_snapshot!(render(&app, 100, 30).backend());
    let mut app = chat_as_member();
    update(&mut app, ctrl('f'));
    assert_snapshot!("files_popup_asking", render(&app, 80, 24).backend());
    update(&mut app, files_listed(false, vec![]));
    assert_snapshot!("files_popup_empty", render(&app, 80, 24).backend());
}

#[test]
fn removed_from_the_group() {
    let mut app = chat_as_member();
    update(
        &mut app,
        server(Event::Kicked {
            conv: "rust".into(),
            by: "alice".into(),
        }),
    );
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn reconnecting() {
    let mut app = chat_as_member();
    update(
        &mut app,
        connection_lost(
            2,
            Duration::from_millis(3500),
            "the server closed the connection",
        ),
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
        // Transfers, an announcement, and the file popups.
        update(&mut app, key(KeyCode::Esc));
        for seq in 13..17 {
            update(
                &mut app,
                file_entry(seq, "bob", &format!("f{seq}"), "a long file name.tar.gz", 5),
            );
        }
        progress(&mut app, 1, TransferUpdate::Progress(2));
        render(&app, w, h);
        update(&mut app, ctrl('f'));
        render(&app, w, h);
        update(&mut app, key(KeyCode::Esc));
        picker_over(&mut app, project_listing());
        render(&app, w, h);
    }
}

#[test]
fn connecting_screen() {
    let mut app = app("bob", "rust");
    start(&mut app, true);
    assert!(matches!(app.screen, Screen::Connecting));
    assert_snapshot!(render(&app, 80, 16).backend());
}

#[test]
fn the_login_cursor_sits_on_the_field_typed_in_when_hints_wrap() {
    let mut app = app("", "");
    start(&mut app, false);
    // A name with a space: its hint wraps over two rows at 80 columns,
    // and the intro above the fields wraps too.
    type_text(&mut app, "bo b");
    update(&mut app, key(KeyCode::Tab));
    type_text(&mut app, "ru");
    let mut terminal = render(&app, 80, 24);
    let buffer = terminal.backend().buffer().clone();
    let rows: Vec<String> = (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect()
        })
        .collect();
    let row = rows
        .iter()
        .position(|r| r.contains(" Group: ru"))
        .expect("the group field");
    let col = rows[row].chars().collect::<Vec<_>>();
    let start = (0..col.len())
        .find(|&i| col[i..].iter().collect::<String>().starts_with("Group: ru"))
        .unwrap();
    use ratatui::backend::Backend;
    let cursor = terminal.backend_mut().get_cursor_position().unwrap();
    assert_eq!(
        (cursor.x as usize, cursor.y as usize),
        (start + "Group: ru".len(), row),
        "{}",
        rows.join("\n")
    );
}

#[test]
fn a_message_with_a_direction_control_shows_a_marker() {
    let mut app = chat_as_member();
    update(
        &mut app,
        text(5, "carol", "please pay invoice\u{202E}fdp.exe today"),
    );
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn conversations_pane_with_unread_mentions_and_a_pending_request() {
    let mut app = chat_with_conversations();
    update(
        &mut app,
        text_in(
            "bob+carol",
            3,
            "carol",
            "lunch at noon? I booked the usual table",
        ),
    );
    assert_snapshot!(render(&app, 100, 30).backend());
    assert_snapshot!(
        "conversations_pane_at_80_columns",
        render(&app, 80, 24).backend()
    );
}

#[test]
fn a_pending_conversation_among_others() {
    let mut app = chat_with_conversations();
    update(&mut app, alt('2'));
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn switcher_popup() {
    let mut app = chat_with_conversations();
    update(&mut app, ctrl('g'));
    type_text(&mut app, "o");
    update(&mut app, key(KeyCode::Down));
    assert_snapshot!(render(&app, 80, 24).backend());
}

#[test]
fn search_popup() {
    let mut app = chat_with_conversations();
    update(&mut app, ctrl('r'));
    type_text(&mut app, "tokio select");
    update(&mut app, key(KeyCode::Enter));
    let hit = |conv: &str, seq, from: &str, text: &str| SearchHit {
        conv: conv.into(),
        entry: LogEntry {
            from: from.into(),
            ..text_entry(seq, from, text)
        },
    };
    let hits = vec![
        hit(
            "rust",
            3000,
            "alice",
            "Tokio's select! waits on many futures",
        ),
        hit(
            "alice+bob",
            12,
            "alice",
            "did you try tokio::select in the loop?",
        ),
        hit("go", 40, "carol", "go has select, tokio has select! too"),
    ];
    update(
        &mut app,
        AppEvent::Reply {
            purpose: Purpose::Search("tokio select".into()),
            result: Ok(ReplyData::SearchHits { hits }),
        },
    );
    update(&mut app, key(KeyCode::Down));
    assert_snapshot!(render(&app, 100, 24).backend());
}

#[test]
fn in_no_conversation_yet() {
    let mut app = app("ann", "");
    update(&mut app, welcome_with("ann", Vec::new()));
    type_text(&mut app, "/join");
    update(&mut app, key(KeyCode::Enter));
    assert_snapshot!(render(&app, 80, 16).backend());
}
