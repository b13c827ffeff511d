//! The update logic of file sharing, apart from `update.rs` because it is a
//! story of its own: the picker's and the files popup's keys, the
//! `/fileTransfer` and `/download` commands, file announcements with the
//! automatic-download rule, and transfers from start to their one closing
//! line. Pure like the rest of `update`: it changes state and returns
//! effects.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};

use super::{
    action::{Action, Effect},
    app::{App, ItemKind, Popup},
    keymap::Context,
    picker::{Entry, Picker, expand_path},
    transfer::{
        Direction, FileState, Finish, SharedFile, Transfer, TransferId, TransferUpdate,
        auto_download, human_duration, human_size,
    },
    update::{error, info, is_text},
};
use crate::protocol::{FileInfo, clean_file_name};

/// Rows Page Up and Page Down move in the popups' lists.
const PAGE: isize = 10;

fn next_id(app: &mut App) -> TransferId {
    let id = app.next_transfer;
    app.next_transfer += 1;
    id
}

// ---------------------------------------------------------------- sending

/// Opens the picker in the working directory and asks for its listing.
pub fn open_picker(app: &mut App) -> Vec<Effect> {
    let dir = app.settings.cwd.clone();
    app.popup = Some(Popup::Picker(Picker::new(dir.clone())));
    vec![Effect::ListDir(dir)]
}

/// `/fileTransfer [PATH]`: the picker, or straight to sending PATH.
pub fn file_transfer_command(app: &mut App, typed: Option<String>) -> Vec<Effect> {
    match typed {
        None => open_picker(app),
        Some(typed) => {
            let path = expand_path(&typed, &app.settings.cwd, app.settings.home.as_deref());
            send(app, path, 0)
        }
    }
}

/// Starts an upload of `path`; `size` is 0 when not known yet (the runtime
/// reports it once the file is open).
fn send(app: &mut App, path: PathBuf, size: u64) -> Vec<Effect> {
    let Some(name) = path.file_name() else {
        error(app, format!("{} is not a file", path.display()));
        return Vec::new();
    };
    let name = clean_file_name(&name.to_string_lossy());
    let id = next_id(app);
    app.transfers
        .push(Transfer::new(id, Direction::Upload, name, size, app.now));
    vec![Effect::SendFile { id, path }]
}

pub fn on_listed(app: &mut App, dir: PathBuf, result: Result<Vec<Entry>, String>) {
    if let Some(Popup::Picker(picker)) = &mut app.popup {
        picker.listed(&dir, result);
    }
}

/// A key while the picker is open. Plain characters go to the filter
/// whatever is bound, as in the input line.
pub fn on_picker_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let keymap = app.settings.keymap.clone();
    let Some(Popup::Picker(picker)) = &mut app.popup else {
        return Vec::new();
    };
    if let KeyCode::Char(c) = key.code
        && is_text(&key)
    {
        picker.filter.push(c);
        picker.selected = 0;
        return Vec::new();
    }
    // Backspace edits the filter while there is one.
    if key.code == KeyCode::Backspace && key.modifiers.is_empty() && !picker.filter.is_empty() {
        picker.filter.pop();
        picker.selected = 0;
        return Vec::new();
    }
    match keymap
        .action(Context::Picker, &key)
        .or_else(|| keymap.action(Context::Global, &key))
    {
        Some(Action::Up) => picker.select_by(-1),
        Some(Action::Down) => picker.select_by(1),
        Some(Action::PageUp) => picker.select_by(-PAGE),
        Some(Action::PageDown) => picker.select_by(PAGE),
        Some(Action::ToggleHidden) => {
            let keep = picker.selected_entry().map(|e| e.name.clone());
            picker.show_hidden = !picker.show_hidden;
            picker.selected = keep
                .and_then(|name| picker.visible().iter().position(|e| e.name == name))
                .unwrap_or(0);
        }
        Some(Action::Parent) => {
            let Some(parent) = picker.dir.parent().map(PathBuf::from) else {
                return Vec::new();
            };
            let left = picker
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            picker.enter(parent.clone());
            picker.reveal = left;
            return vec![Effect::ListDir(parent)];
        }
        Some(Action::Open) => {
            let Some(entry) = picker.selected_entry().cloned() else {
                return Vec::new();
            };
            let path = picker.dir.join(&entry.file_name);
            if entry.is_dir {
                picker.enter(path.clone());
                return vec![Effect::ListDir(path)];
            }
            app.popup = None;
            return send(app, path, entry.size);
        }
        Some(Action::ClosePopup | Action::FilePicker) => app.popup = None,
        Some(Action::Quit) => return vec![Effect::Quit],
        _ => {}
    }
    Vec::new()
}

// ---------------------------------------------------------------- receiving

/// A file announcement in the log: remember it, and fetch it at once when
/// the automatic rule says so. Returns the messages-pane item for it.
pub fn announced(
    app: &mut App,
    from: String,
    mut info: FileInfo,
    at_ms: i64,
) -> (ItemKind, Vec<Effect>) {
    // The server cleaned the name; a client trusts no one with its disk.
    info.name = clean_file_name(&info.name);
    let own = from == app.name;
    let fetch = auto_download(info.size, app.settings.auto_download_mb, &from, &app.name);
    let id = info.id.clone();
    // The files popup counts from the newest: keep its selection on its file.
    if let Some(Popup::Files { selected }) = &mut app.popup
        && !app.files.is_empty()
    {
        *selected += 1;
    }
    app.files.push(SharedFile {
        info,
        from,
        at_ms,
        state: if own {
            FileState::Sent
        } else {
            FileState::Waiting
        },
    });
    let effects = if fetch {
        download(app, app.files.len() - 1)
    } else {
        Vec::new()
    };
    (ItemKind::File(id), effects)
}

/// Starts downloading `app.files[index]`, unless it cannot be.
fn download(app: &mut App, index: usize) -> Vec<Effect> {
    let file = &app.files[index];
    if !file.can_download() {
        let why = match &file.state {
            FileState::Saved(path) => {
                format!("{} is already saved to {}", file.info.name, path.display())
            }
            FileState::Unavailable => format!("{} is no longer available", file.info.name),
            _ => format!("{} is already downloading", file.info.name),
        };
        info(app, why);
        return Vec::new();
    }
    let id = next_id(app);
    let now = app.now;
    let file = &mut app.files[index];
    file.state = FileState::Downloading(id);
    let mut transfer = Transfer::new(
        id,
        Direction::Download,
        file.info.name.clone(),
        file.info.size,
        now,
    );
    transfer.file_id = Some(file.info.id.clone());
    let file = file.info.clone();
    app.transfers.push(transfer);
    vec![Effect::FetchFile { id, file }]
}

/// `/download`: the newest file that waits (or failed), from someone else.
pub fn download_newest(app: &mut App) -> Vec<Effect> {
    let waiting = app
        .files
        .iter()
        .rposition(|f| matches!(f.state, FileState::Waiting | FileState::Failed(_)));
    match waiting {
        Some(index) => download(app, index),
        None => {
            info(app, "no file is waiting to be downloaded");
            Vec::new()
        }
    }
}

// ---------------------------------------------------------------- the files popup

/// Opens the files popup on the newest file that waits, else the newest.
pub fn open_files(app: &mut App) -> Vec<Effect> {
    let selected = app
        .files
        .iter()
        .rev()
        .position(|f| f.state == FileState::Waiting)
        .unwrap_or(0);
    app.popup = Some(Popup::Files { selected });
    Vec::new()
}

pub fn on_files_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let keymap = app.settings.keymap.clone();
    let Some(Popup::Files { selected }) = &mut app.popup else {
        return Vec::new();
    };
    let last = app.files.len().saturating_sub(1);
    let index = app.files.len().checked_sub(*selected + 1);
    match keymap.action(Context::Files, &key) {
        Some(Action::Up) => *selected = selected.saturating_sub(1),
        Some(Action::Down) => *selected = (*selected + 1).min(last),
        Some(Action::Download) => return index.map_or_else(Vec::new, |i| download(app, i)),
        Some(Action::CancelTransfer) => {
            let downloading = index.and_then(|i| match app.files[i].state {
                FileState::Downloading(id) => Some(id),
                _ => None,
            });
            return downloading.map_or_else(Vec::new, |id| cancel(app, id));
        }
        Some(Action::ClosePopup) => app.popup = None,
        _ => match keymap.action(Context::Global, &key) {
            Some(Action::PageUp) => *selected = selected.saturating_sub(PAGE as usize),
            Some(Action::PageDown) => *selected = (*selected + PAGE as usize).min(last),
            Some(Action::Files) => app.popup = None,
            Some(Action::CancelTransfer) => return cancel_newest(app),
            Some(Action::Quit) => return vec![Effect::Quit],
            _ => {}
        },
    }
    Vec::new()
}

// ---------------------------------------------------------------- transfers

fn cancel(app: &mut App, id: TransferId) -> Vec<Effect> {
    match app.transfers.iter_mut().find(|t| t.id == id) {
        Some(transfer) if !transfer.cancelling => {
            transfer.cancelling = true;
            vec![Effect::CancelTransfer(id)]
        }
        _ => Vec::new(),
    }
}

/// The cancel key outside the files popup: the newest transfer still running.
pub fn cancel_newest(app: &mut App) -> Vec<Effect> {
    let newest = app
        .transfers
        .iter()
        .rev()
        .find(|t| !t.cancelling)
        .map(|t| t.id);
    match newest {
        Some(id) => cancel(app, id),
        None => {
            info(app, "no file transfer to cancel");
            Vec::new()
        }
    }
}

pub fn on_transfer(app: &mut App, id: TransferId, update: TransferUpdate) -> Vec<Effect> {
    let Some(at) = app.transfers.iter().position(|t| t.id == id) else {
        return Vec::new();
    };
    match update {
        TransferUpdate::Size(total) => app.transfers[at].total = total,
        TransferUpdate::Progress(done) => app.transfers[at].progress(done, app.now),
        TransferUpdate::Finished(finish) => {
            let transfer = app.transfers.remove(at);
            finished(app, transfer, finish);
        }
    }
    Vec::new()
}

/// A transfer ended: its file's state, and one line that says how.
fn finished(app: &mut App, transfer: Transfer, finish: Finish) {
    let me = app.name.clone();
    if let Some(file) = transfer
        .file_id
        .as_ref()
        .and_then(|id| app.files.iter_mut().find(|f| &f.info.id == id))
    {
        file.state = match &finish {
            Finish::Saved(path) => FileState::Saved(path.clone()),
            Finish::Unavailable => FileState::Unavailable,
            Finish::Failed(message) => FileState::Failed(message.clone()),
            Finish::Sent | Finish::Cancelled if file.from == me => FileState::Sent,
            Finish::Sent | Finish::Cancelled => FileState::Waiting,
        };
    }
    let name = &transfer.name;
    let (what, undone) = match transfer.direction {
        Direction::Upload => ("Upload", "not sent"),
        Direction::Download => ("Download", "not saved"),
    };
    let took = human_duration(app.now.saturating_duration_since(transfer.started));
    match finish {
        Finish::Sent => info(
            app,
            format!("Sent {name} ({}) in {took}", human_size(transfer.total)),
        ),
        Finish::Saved(path) => info(app, format!("Saved {name} to {}", path.display())),
        Finish::Cancelled => info(app, format!("{what} of {name} cancelled")),
        Finish::Unavailable => error(
            app,
            format!("{name} was {undone}: the server no longer has it"),
        ),
        Finish::Failed(message) => error(app, format!("{name} was {undone}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossterm::event::KeyCode;

    use super::*;
    use crate::tui::{
        app::Item,
        fixtures::{self, *},
        picker::{Entry, Listing},
        update::update,
    };

    fn last_kind(app: &App) -> &ItemKind {
        &app.items.last().expect("an item").kind
    }

    fn listed(dir: &str, entries: Vec<Entry>) -> crate::tui::event::AppEvent {
        crate::tui::event::AppEvent::Listed {
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
        update(&mut app, crate::tui::event::AppEvent::Paste("rep\n".into()));
        assert_eq!(picker(&app).filter, "rep", "a pasted name filters too");
        let effects = update(&mut app, key(KeyCode::Enter));
        assert_eq!(
            effects,
            vec![Effect::SendFile {
                id: 1,
                path: PathBuf::from("/home/bob/project/report.pdf")
            }]
        );
        assert_eq!(app.popup, None);
        assert_eq!(app.transfers[0].total, 9, "the listing knew the size");
        assert_eq!(app.transfers[0].name, "report.pdf");
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
                id: 1,
                path: PathBuf::from("/home/bob/My Files/a b.txt")
            }]
        );
        type_text(&mut app, "/fileTransfer notes.txt");
        assert_eq!(
            update(&mut app, key(KeyCode::Enter)),
            vec![Effect::SendFile {
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
        let transfer = |update| crate::tui::event::AppEvent::Transfer { id: 1, update };
        update(&mut app, transfer(TransferUpdate::Size(2_516_582)));
        app.now = t0 + Duration::from_millis(600);
        update(&mut app, transfer(TransferUpdate::Progress(1_258_291)));
        assert_eq!(app.transfers[0].percent(), 50);
        assert_eq!(app.next_tick(), Some(app.now + Duration::from_millis(100)));
        app.now = t0 + Duration::from_millis(1200);
        update(&mut app, transfer(TransferUpdate::Finished(Finish::Sent)));
        assert!(app.transfers.is_empty());
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
        assert_eq!(app.files[0].state, FileState::Sent);
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
        assert_eq!(app.files[0].state, FileState::Downloading(1));
        assert_eq!(last_kind(&app), &ItemKind::File("f1".into()));
        let big = 21 * 1024 * 1024;
        assert!(update(&mut app, file_entry(6, "alice", "f2", "big.iso", big)).is_empty());
        assert_eq!(app.files[1].state, FileState::Waiting);
        app.settings.auto_download_mb = 0;
        update(&mut app, crate::tui::event::AppEvent::FocusLost);
        assert!(update(&mut app, file_entry(7, "alice", "f3", "tiny.txt", 1)).is_empty());
        assert_eq!(app.unread, 1, "a file shared while away counts as unread");
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
        type_text(&mut app, "/download");
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
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
                crate::tui::event::AppEvent::Transfer {
                    id,
                    update: TransferUpdate::Finished(finish),
                },
            )
        };
        end(&mut app, 1, Finish::Saved(PathBuf::from("/dl/f1 (1).txt")));
        assert_eq!(
            app.files[0].state,
            FileState::Saved("/dl/f1 (1).txt".into())
        );
        assert_eq!(
            last_kind(&app),
            &ItemKind::Info("Saved f1.txt to /dl/f1 (1).txt".into())
        );
        end(&mut app, 2, Finish::Unavailable);
        assert_eq!(app.files[1].state, FileState::Unavailable);
        assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("no longer has it")));
        end(&mut app, 3, Finish::Failed("checksum mismatch".into()));
        assert_eq!(
            app.files[2].state,
            FileState::Failed("checksum mismatch".into())
        );
        assert_eq!(
            last_kind(&app),
            &ItemKind::Error("f3.txt was not saved: checksum mismatch".into())
        );
        // The cancel key takes the newest running transfer, once.
        assert_eq!(update(&mut app, ctrl('x')), vec![Effect::CancelTransfer(4)]);
        assert!(app.transfers[0].cancelling);
        assert!(update(&mut app, ctrl('x')).is_empty());
        end(&mut app, 4, Finish::Cancelled);
        assert_eq!(
            app.files[3].state,
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
        app.settings.auto_download_mb = 0;
        update(&mut app, file_entry(9, "carol", "f5", "new.txt", 1));
        assert_eq!(app.popup, Some(Popup::Files { selected: 2 }));
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.popup, None);
    }

    #[test]
    fn catch_up_announcements_follow_the_same_rule() {
        let mut app = fixtures::app("bob", "rust");
        app.last_seq = Some(2);
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
        assert!(matches!(app.items[0].kind, ItemKind::Divider(_)));
        assert!(matches!(
            &app.items[1],
            Item { kind: ItemKind::File(id), .. } if id == "f1"
        ));
    }
}
