//! File sharing through `update`: the picker, uploads, automatic and
//! asked-for downloads, the files popup.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crossterm::event::KeyCode;

use crate::tui::{
    action::{Effect, Purpose},
    app::{App, Popup},
    event::AppEvent,
    fixtures::{self, *},
    model::{
        picker::{Entry, Listing, Picker},
        timeline::{Item, ItemKind},
        transfer::{FileState, Finish, TransferUpdate},
    },
    session::SavedFiles,
    settings::Settings,
};

fn listed(dir: &str, entries: Vec<Entry>) -> AppEvent {
    AppEvent::Listed {
        dir: PathBuf::from(dir),
        result: Ok(entries),
    }
}

fn picker(app: &App) -> &Picker {
    match &app.popup {
        Some(Popup::Picker(picker)) => picker,
        other => panic!("no picker: {other:?}"),
    }
}

#[test]
fn the_picker_browses_filters_and_sends() {
    let mut app = chat_as_member();
    assert_eq!(
        update(&mut app, ctrl('o')),
        vec![Effect::ListDir(PathBuf::from("/home/bob/project"))]
    );
    assert_eq!(picker(&app).listing, Listing::Loading);
    update(
        &mut app,
        listed(
            "/home/bob/project",
            vec![
                Entry::new("docs", true, 0),
                Entry::new(".env", false, 12),
                Entry::new("notes.txt", false, 300),
                Entry::new("report.pdf", false, 2_516_582),
            ],
        ),
    );
    // Enter on a directory lists it.
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::ListDir(PathBuf::from("/home/bob/project/docs"))]
    );
    // Backspace with no filter: back up, the directory left selected.
    assert_eq!(
        update(&mut app, key(KeyCode::Backspace)),
        vec![Effect::ListDir(PathBuf::from("/home/bob/project"))]
    );
    update(
        &mut app,
        listed(
            "/home/bob/project",
            vec![
                Entry::new("docs", true, 0),
                Entry::new("report.pdf", false, 9),
            ],
        ),
    );
    assert_eq!(picker(&app).selected_entry().unwrap().name, "docs");
    // Typing filters; q and other bound letters are text here.
    type_text(&mut app, "qx");
    assert_eq!(picker(&app).filter, "qx");
    assert!(picker(&app).visible().is_empty());
    update(&mut app, key(KeyCode::Backspace));
    update(&mut app, key(KeyCode::Backspace));
    update(&mut app, AppEvent::Paste("rep\n".into()));
    assert_eq!(picker(&app).filter, "rep", "a pasted name filters too");
    let effects = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::SendFile {
            conv: "rust".into(),
            id: 1,
            path: PathBuf::from("/home/bob/project/report.pdf")
        }]
    );
    assert_eq!(app.popup, None);
    assert_eq!(
        shown(&app).files.transfers()[0].total,
        9,
        "the listing knew the size"
    );
    assert_eq!(shown(&app).files.transfers()[0].name, "report.pdf");
}

#[test]
fn the_picker_shows_hidden_files_on_a_key_and_closes_on_esc() {
    let mut app = chat_as_member();
    update(&mut app, ctrl('o'));
    update(
        &mut app,
        listed(
            "/home/bob/project",
            vec![Entry::new(".env", false, 1), Entry::new("a.txt", false, 1)],
        ),
    );
    update(&mut app, key(KeyCode::Down));
    assert_eq!(picker(&app).selected_entry().unwrap().name, "a.txt");
    update(&mut app, ctrl('t'));
    assert!(picker(&app).show_hidden);
    assert_eq!(
        picker(&app).selected_entry().unwrap().name,
        "a.txt",
        "the selection stays on its entry"
    );
    assert_eq!(picker(&app).visible().len(), 2);
    // A listing for a directory already left does nothing.
    update(&mut app, listed("/elsewhere", vec![]));
    assert_eq!(picker(&app).visible().len(), 2);
    assert!(update(&mut app, key(KeyCode::Esc)).is_empty());
    assert_eq!(app.popup, None);
    // Left at the root stays there.
    update(&mut app, ctrl('o'));
    if let Some(Popup::Picker(p)) = &mut app.popup {
        p.enter(PathBuf::from("/"));
    }
    assert!(update(&mut app, key(KeyCode::Left)).is_empty());
}

#[test]
fn file_transfer_with_a_path_sends_at_once() {
    let mut app = chat_as_member();
    type_text(&mut app, "/fileTransfer ~/My Files/a b.txt");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::SendFile {
            conv: "rust".into(),
            id: 1,
            path: PathBuf::from("/home/bob/My Files/a b.txt")
        }]
    );
    type_text(&mut app, "/fileTransfer notes.txt");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        vec![Effect::SendFile {
            conv: "rust".into(),
            id: 2,
            path: PathBuf::from("/home/bob/project/notes.txt")
        }]
    );
    type_text(&mut app, "/fileTransfer /");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e == "/ is not a file"));
    type_text(&mut app, "/fileTransfer");
    assert!(matches!(
        update(&mut app, key(KeyCode::Enter)).as_slice(),
        [Effect::ListDir(_)]
    ));
}

#[test]
fn an_upload_reports_size_progress_and_one_closing_line() {
    let mut app = chat_as_member();
    type_text(&mut app, "/fileTransfer report.pdf");
    update(&mut app, key(KeyCode::Enter));
    let t0 = app.now;
    let transfer = |update| AppEvent::Transfer { id: 1, update };
    update(&mut app, transfer(TransferUpdate::Size(2_516_582)));
    app.now = t0 + Duration::from_millis(600);
    update(&mut app, transfer(TransferUpdate::Progress(1_258_291)));
    assert_eq!(shown(&app).files.transfers()[0].percent(), 50);
    assert_eq!(app.next_tick(), Some(app.now + Duration::from_millis(100)));
    app.now = t0 + Duration::from_millis(1200);
    update(&mut app, transfer(TransferUpdate::Finished(Finish::Sent)));
    assert!(shown(&app).files.transfers().is_empty());
    assert_eq!(app.next_tick(), None, "no timer once idle");
    assert_eq!(
        last_kind(&app),
        &ItemKind::Info("Sent report.pdf (2.4 MiB) in 1.2 s".into())
    );
    // News of a transfer already over is ignored.
    assert!(update(&mut app, transfer(TransferUpdate::Progress(5))).is_empty());
    // The announcement that follows is mine: no download.
    let effects = update(
        &mut app,
        file_entry(5, "bob", "f1", "report.pdf", 2_516_582),
    );
    assert!(effects.is_empty());
    assert_eq!(shown(&app).files.shared()[0].state, FileState::Sent);
}

#[test]
fn small_files_from_others_download_by_themselves_and_large_ones_wait() {
    let mut app = chat_as_member();
    let effects = update(
        &mut app,
        file_entry(5, "alice", "f1", "../../etc/notes.txt", 300),
    );
    let [Effect::FetchFile { id: 1, file }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(file.name, "notes.txt", "the name is cleaned again");
    assert_eq!(
        shown(&app).files.shared()[0].state,
        FileState::Downloading(1)
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::File {
            id: "f1".into(),
            own: false
        }
    );
    let big = 21 * 1024 * 1024;
    assert!(update(&mut app, file_entry(6, "alice", "f2", "big.iso", big)).is_empty());
    assert_eq!(shown(&app).files.shared()[1].state, FileState::Waiting);
    let never = Settings {
        auto_download_mb: 0,
        ..SETTINGS.clone()
    };
    update(&mut app, AppEvent::FocusLost);
    let effects = crate::tui::update::update(
        &mut app,
        &never,
        file_entry(7, "alice", "f3", "tiny.txt", 1),
    );
    assert!(effects.is_empty());
    assert_eq!(
        shown(&app).unread.count(),
        1,
        "a file shared while away counts as unread"
    );
    // /download takes the newest that waits.
    type_text(&mut app, "/download");
    assert!(matches!(
        update(&mut app, key(KeyCode::Enter)).as_slice(),
        [Effect::FetchFile { id: 2, file }] if file.id == "f3"
    ));
    type_text(&mut app, "/download");
    assert!(matches!(
        update(&mut app, key(KeyCode::Enter)).as_slice(),
        [Effect::FetchFile { id: 3, file }] if file.id == "f2"
    ));
    // Nothing waits here: the server's list is asked, and has nothing more.
    type_text(&mut app, "/download");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        [Effect::Request(Purpose::ListFiles {
            conv: "rust".into(),
            download: true
        })]
    );
    assert!(update(&mut app, files_listed(true, vec![])).is_empty());
    assert_eq!(
        last_kind(&app),
        &ItemKind::Info("no file is waiting to be downloaded".into())
    );
}

#[test]
fn downloads_end_saved_unavailable_failed_or_cancelled() {
    let mut app = chat_as_member();
    for (seq, id) in [(5, "f1"), (6, "f2"), (7, "f3"), (8, "f4")] {
        update(
            &mut app,
            file_entry(seq, "alice", id, &format!("{id}.txt"), 10),
        );
    }
    let end = |app: &mut App, id, finish| {
        update(
            app,
            AppEvent::Transfer {
                id,
                update: TransferUpdate::Finished(finish),
            },
        )
    };
    end(&mut app, 1, Finish::Saved(PathBuf::from("/dl/f1 (1).txt")));
    assert_eq!(
        shown(&app).files.shared()[0].state,
        FileState::Saved("/dl/f1 (1).txt".into())
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::File {
            id: "f4".into(),
            own: false
        },
        "a file saved by itself is told by its announcement alone: one line"
    );
    end(&mut app, 2, Finish::Unavailable);
    assert_eq!(shown(&app).files.shared()[1].state, FileState::Unavailable);
    assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("no longer has it")));
    end(&mut app, 3, Finish::Failed("checksum mismatch".into()));
    assert_eq!(
        shown(&app).files.shared()[2].state,
        FileState::Failed("checksum mismatch".into())
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::Error("f3.txt was not saved: checksum mismatch".into())
    );
    // The cancel key takes the newest running transfer, once.
    assert_eq!(update(&mut app, ctrl('x')), vec![Effect::CancelTransfer(4)]);
    assert!(shown(&app).files.transfers()[0].cancelling);
    assert!(update(&mut app, ctrl('x')).is_empty());
    end(&mut app, 4, Finish::Cancelled);
    assert_eq!(
        shown(&app).files.shared()[3].state,
        FileState::Waiting,
        "it can be fetched later"
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::Info("Download of f4.txt cancelled".into())
    );
    // A failed one can be tried again; a saved or unavailable one cannot.
    update(&mut app, ctrl('f'));
    assert_eq!(
        app.popup,
        Some(Popup::Files { selected: 0 }),
        "the waiting one"
    );
    update(&mut app, key(KeyCode::Down));
    assert!(matches!(
        update(&mut app, key(KeyCode::Enter)).as_slice(),
        [Effect::FetchFile { file, .. }] if file.id == "f3"
    ));
    update(&mut app, key(KeyCode::Down));
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(matches!(last_kind(&app), ItemKind::Info(i) if i.contains("no longer available")));
    // c cancels the selected file's download; Esc closes.
    update(&mut app, key(KeyCode::Up));
    assert_eq!(update(&mut app, ch('c')), vec![Effect::CancelTransfer(5)]);
    // A file announced meanwhile does not move the selection off its file.
    let never = Settings {
        auto_download_mb: 0,
        ..SETTINGS.clone()
    };
    crate::tui::update::update(&mut app, &never, file_entry(9, "carol", "f5", "new.txt", 1));
    assert_eq!(app.popup, Some(Popup::Files { selected: 2 }));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.popup, None);
}

#[test]
fn catch_up_announcements_follow_the_same_rule() {
    let mut app = fixtures::app("bob", "rust");
    resume_at(&mut app, "rust", 2);
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 4);
    update(
        &mut app,
        welcome("bob", crate::protocol::JoinStatus::Member, Some(snap)),
    );
    let effects = feed(
        &mut app,
        [
            file_entry(3, "alice", "f1", "a.txt", 5),
            file_entry(4, "alice", "f2", "b.txt", 5),
        ],
    );
    assert_eq!(effects.len(), 2);
    assert!(matches!(
        chat(&app).timeline().items()[0].kind,
        ItemKind::Divider(_)
    ));
    assert!(matches!(
        &chat(&app).timeline().items()[1],
        Item { kind: ItemKind::File { id, .. }, .. } if id == "f1"
    ));
}

#[test]
fn after_a_restart_the_server_lists_the_files_still_waiting() {
    // A new run of the client: this session never saw the announcement.
    let mut app = chat_as_member();
    let big = 238 * 1024 * 1024;
    assert_eq!(
        update(&mut app, ctrl('f')),
        [Effect::Request(Purpose::ListFiles {
            conv: "rust".into(),
            download: false
        })]
    );
    assert!(shown(&app).files.listing, "the popup says it is asking");
    update(
        &mut app,
        files_listed(
            false,
            vec![
                listed_file(2, "alice", "old", "old.bin", 10),
                listed_file(3, "alice", "big", "big.iso", big),
                listed_file(4, "bob", "mine", "mine.txt", 10),
            ],
        ),
    );
    let files = &shown(&app).files;
    assert!(!files.listing);
    let states: Vec<_> = files
        .shared()
        .iter()
        .map(|f| (f.info.name.as_str(), &f.state))
        .collect();
    assert_eq!(
        states,
        [
            ("old.bin", &FileState::Waiting),
            ("big.iso", &FileState::Waiting),
            ("mine.txt", &FileState::Sent),
        ]
    );
    assert_eq!(
        app.popup,
        Some(Popup::Files { selected: 1 }),
        "on the newest that waits"
    );
    let effects = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(effects.as_slice(), [Effect::FetchFile { file, .. }] if file.id == "big"),
        "{effects:?}"
    );

    // /download finds it the same way.
    let mut app = chat_as_member();
    type_text(&mut app, "/download");
    assert_eq!(
        update(&mut app, key(KeyCode::Enter)),
        [Effect::Request(Purpose::ListFiles {
            conv: "rust".into(),
            download: true
        })]
    );
    let effects = update(
        &mut app,
        files_listed(true, vec![listed_file(3, "alice", "big", "big.iso", big)]),
    );
    assert!(
        matches!(effects.as_slice(), [Effect::FetchFile { file, .. }] if file.id == "big"),
        "{effects:?}"
    );
    // Its announcement, when it comes, is shown once and fetches nothing more.
    let effects = update(&mut app, file_entry(5, "alice", "big", "big.iso", big));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(
        last_kind(&app),
        &ItemKind::File {
            id: "big".into(),
            own: false
        }
    );
    assert_eq!(shown(&app).files.shared().len(), 1);
}

/// bob's client saves alice's `notes.txt` (file `f1`, announced at seq 5)
/// into `data_dir`'s downloads, and writes its record as the runtime
/// does. Returns where the file went.
fn saved_in_an_earlier_run(data_dir: &Path) -> PathBuf {
    let mut app = chat_as_member();
    let effects = update(&mut app, file_entry(5, "alice", "f1", "notes.txt", 300));
    assert!(matches!(
        effects.as_slice(),
        [Effect::FetchFile { id: 1, .. }]
    ));
    let path = data_dir.join("notes.txt");
    std::fs::write(&path, "notes").unwrap();
    let effects = update(
        &mut app,
        AppEvent::Transfer {
            id: 1,
            update: TransferUpdate::Finished(Finish::Saved(path.clone())),
        },
    );
    assert_eq!(effects, [Effect::SaveSavedFiles]);
    app.saved.save(data_dir).unwrap();
    path
}

/// bob's client started again on `data_dir`, back in "rust" having read up
/// to seq 4 (killed before it wrote how far it read, so the announcement
/// comes again as new); returns its effects too.
fn restarted(data_dir: &Path) -> (App, Vec<Effect>) {
    let mut app = fixtures::app("bob", "rust");
    app.saved = SavedFiles::load(data_dir);
    resume_at(&mut app, "rust", 4);
    let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 5);
    let effects = feed(
        &mut app,
        [
            welcome("bob", crate::protocol::JoinStatus::Member, Some(snap)),
            file_entry(5, "alice", "f1", "notes.txt", 300),
        ],
    );
    (app, effects)
}

fn fetches(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::FetchFile { file, .. } => Some(file.id.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_file_saved_in_an_earlier_run_shows_as_saved_and_is_not_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_in_an_earlier_run(dir.path());
    let (mut app, effects) = restarted(dir.path());
    assert_eq!(fetches(&effects), [] as [&str; 0], "{effects:?}");
    assert_eq!(
        shown(&app).files.shared()[0].state,
        FileState::Saved(path.clone())
    );
    assert_eq!(
        last_kind(&app),
        &ItemKind::File {
            id: "f1".into(),
            own: false
        },
        "its announcement alone says it is saved"
    );
    let screen = format!("{}", render(&app, 200, 24).backend());
    assert!(
        screen.contains(&format!(
            "alice shared notes.txt (300 B) · saved to {}",
            path.display()
        )),
        "{screen}"
    );
    // The files popup, from the server's list, says the same; Enter on it
    // fetches nothing.
    update(&mut app, ctrl('f'));
    let big = 238 * 1024 * 1024;
    update(
        &mut app,
        files_listed(
            false,
            vec![
                listed_file(5, "alice", "f1", "notes.txt", 300),
                listed_file(6, "alice", "f2", "big.iso", big),
            ],
        ),
    );
    assert_eq!(
        app.popup,
        Some(Popup::Files { selected: 1 }),
        "still on notes.txt, under big.iso"
    );
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(
        matches!(last_kind(&app), ItemKind::Info(i) if i.contains("notes.txt is already saved to")),
        "{:?}",
        last_kind(&app)
    );
    let screen = format!("{}", render(&app, 200, 24).backend());
    assert!(screen.contains("saved to"), "{screen}");
}

#[test]
fn a_saved_file_deleted_since_can_be_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_in_an_earlier_run(dir.path());
    std::fs::remove_file(&path).unwrap();
    let (mut app, effects) = restarted(dir.path());
    assert_eq!(fetches(&effects), ["f1"], "the automatic rule fetches it");
    assert_eq!(
        shown(&app).files.shared()[0].state,
        FileState::Downloading(1)
    );
    // Cancelled, it waits, and Enter in the files popup fetches it.
    update(
        &mut app,
        AppEvent::Transfer {
            id: 1,
            update: TransferUpdate::Finished(Finish::Cancelled),
        },
    );
    update(&mut app, ctrl('f'));
    update(
        &mut app,
        files_listed(false, vec![listed_file(5, "alice", "f1", "notes.txt", 300)]),
    );
    assert_eq!(shown(&app).files.shared()[0].state, FileState::Waiting);
    assert_eq!(fetches(&update(&mut app, key(KeyCode::Enter))), ["f1"]);
}
