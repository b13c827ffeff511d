//! File sharing's update logic: the picker's and the files popup's keys,
//! the `/fileTransfer` and `/download` commands, file announcements with
//! the automatic-download rule, and transfers from start to their one
//! closing line.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};

use super::screen::{conv_to_ask, error, info, note_in};
use crate::{
    protocol::{FileInfo, ReplyData, clean_file_name},
    tui::{
        action::{Action, Effect, Purpose, RequestError},
        app::{App, Popup},
        keymap::Context,
        model::{
            line::is_text,
            picker::{Entry, Picker, expand_path},
            timeline::ItemKind,
            transfer::{
                Direction, FileState, Finish, Transfer, TransferId, TransferUpdate, auto_download,
                human_duration, human_size,
            },
        },
        settings::Settings,
    },
};

/// Rows Page Up and Page Down move in the popups' lists.
const PAGE: isize = 10;

// ---------------------------------------------------------------- sending

/// Opens the picker in the working directory and asks for its listing.
pub(super) fn open_picker(app: &mut App, s: &Settings) -> Vec<Effect> {
    let dir = s.cwd.clone();
    app.popup = Some(Popup::Picker(Picker::new(dir.clone())));
    vec![Effect::ListDir(dir)]
}

/// `/fileTransfer [PATH]`: the picker, or straight to sending PATH.
pub(super) fn file_transfer_command(
    app: &mut App,
    s: &Settings,
    typed: Option<String>,
) -> Vec<Effect> {
    match typed {
        None => open_picker(app, s),
        Some(typed) => {
            let path = expand_path(&typed, &s.cwd, s.home.as_deref());
            send(app, s, path, 0)
        }
    }
}

/// Starts an upload of `path`; `size` is 0 when not known yet (the runtime
/// reports it once the file is open).
fn send(app: &mut App, s: &Settings, path: PathBuf, size: u64) -> Vec<Effect> {
    let Some(name) = path.file_name() else {
        error(app, s, format!("{} is not a file", path.display()));
        return Vec::new();
    };
    let name = clean_file_name(&name.to_string_lossy());
    let now = app.now;
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    let id = chat.next_transfer();
    let Some(conv) = chat.current_mut().filter(|conv| conv.readable()) else {
        error(app, s, "not sent: files go to a conversation you are in");
        return Vec::new();
    };
    conv.files.upload(id, name, size, now);
    let conv = conv.id.clone();
    vec![Effect::SendFile { id, conv, path }]
}

pub(super) fn on_listed(app: &mut App, dir: PathBuf, result: Result<Vec<Entry>, String>) {
    if let Some(Popup::Picker(picker)) = &mut app.popup {
        picker.listed(&dir, result);
    }
}

/// A key while the picker is open. Plain characters go to the filter
/// whatever is bound, as in the input line.
pub(super) fn on_picker_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let keymap = &s.keymap;
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
            return send(app, s, path, entry.size);
        }
        Some(Action::ClosePopup | Action::FilePicker) => app.popup = None,
        Some(Action::Quit) => return vec![Effect::Quit],
        _ => {}
    }
    Vec::new()
}

// ---------------------------------------------------------------- receiving

/// A file announcement in the log: remember it (once, however often it is
/// announced), and fetch it at once when it is `fresh` (not seen by this
/// client before), the automatic rule says so, and it was not saved here
/// already (in an earlier run too). Returns the messages-pane item for it,
/// or `None` for a file already known.
pub(super) fn announced(
    app: &mut App,
    s: &Settings,
    conv: &str,
    from: String,
    mut info: FileInfo,
    at_ms: i64,
    fresh: bool,
) -> (Option<ItemKind>, Vec<Effect>) {
    // The server cleaned the name; a client trusts no one with its disk.
    info.name = clean_file_name(&info.name);
    let me = app.target.name.clone();
    let fetch = fresh && auto_download(info.size, s.auto_download_mb, &from, &me);
    let id = info.id.clone();
    let own = from == me;
    let kept = selected_file(app);
    let Some((chat, saved)) = app.chat_and_saved() else {
        return (None, Vec::new());
    };
    let Some(target) = chat.conv_mut(conv) else {
        return (None, Vec::new());
    };
    let Some(index) = target.files.announce(info, from, at_ms, &me, saved) else {
        return (None, Vec::new());
    };
    reselect(app, kept);
    let effects = if fetch {
        download(app, s, conv, index, true)
    } else {
        Vec::new()
    };
    (Some(ItemKind::File { id, own }), effects)
}

/// Starts downloading shared file `index` of conversation `conv`, unless
/// it cannot be; `auto`: nobody asked, so its end is told by its
/// announcement alone, and so is why it cannot start (a file saved before
/// says so itself).
fn download(app: &mut App, s: &Settings, conv: &str, index: usize, auto: bool) -> Vec<Effect> {
    let now = app.now;
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    let id = chat.next_transfer();
    let Some(target) = chat.conv_mut(conv) else {
        return Vec::new();
    };
    match target.files.download(index, id, now, auto) {
        Ok(file) => vec![Effect::FetchFile { id, file }],
        Err(why) => {
            if !auto {
                info(app, s, why);
            }
            Vec::new()
        }
    }
}

/// The conversation shown, by id.
fn shown(app: &App) -> Option<String> {
    app.chat()?.selected().map(str::to_owned)
}

/// `/download`: the newest file that waits (or failed), from someone
/// else; when none is known here, the server's list is asked first.
pub(super) fn download_newest(app: &mut App, s: &Settings) -> Vec<Effect> {
    let Some(conv) = shown(app) else {
        return Vec::new();
    };
    let waiting = app
        .chat()
        .and_then(|chat| chat.current())
        .and_then(|conv| conv.files.newest_waiting());
    if let Some(index) = waiting {
        return download(app, s, &conv, index, false);
    }
    let effects = ask_list(app, true);
    if effects.is_empty() {
        info(app, s, "no file is waiting to be downloaded");
    }
    effects
}

/// Asks the server for the conversation's files, unless no request can
/// go now.
fn ask_list(app: &mut App, download: bool) -> Vec<Effect> {
    let Some(conv) = conv_to_ask(app) else {
        return Vec::new();
    };
    conv.files.listing = true;
    vec![Effect::Request(Purpose::ListFiles {
        conv: conv.id.clone(),
        download,
    })]
}

/// The server's list of a conversation's files came: known here from now
/// on; for `/download`, the newest waiting is fetched.
pub(super) fn on_list(
    app: &mut App,
    s: &Settings,
    conv: &str,
    result: Result<ReplyData, RequestError>,
    download_newest: bool,
) -> Vec<Effect> {
    let me = app.target.name.clone();
    let kept = selected_file(app);
    let Some((chat, saved)) = app.chat_and_saved() else {
        return Vec::new();
    };
    let Some(target) = chat.conv_mut(conv) else {
        return Vec::new();
    };
    match result {
        Ok(ReplyData::Files { files }) => target.files.listed(files, &me, saved),
        Ok(_) => target.files.listing = false,
        Err(failure) => {
            target.files.listing = false;
            let said = format!("cannot list the files: {}", failure.message);
            note_in(app, s, conv, ItemKind::Error(said));
            return Vec::new();
        }
    }
    reselect(app, kept);
    if !download_newest {
        return Vec::new();
    }
    let waiting = app
        .chat()
        .and_then(|chat| chat.conv(conv))
        .and_then(|target| target.files.newest_waiting());
    match waiting {
        Some(index) => download(app, s, conv, index, false),
        None => {
            info(app, s, "no file is waiting to be downloaded");
            Vec::new()
        }
    }
}

// ---------------------------------------------------------------- the files popup

/// Opens the files popup on the newest file that waits, else the newest,
/// and asks the server for the files it still has.
pub(super) fn open_files(app: &mut App) -> Vec<Effect> {
    if app.chat().and_then(|chat| chat.current()).is_none() {
        return Vec::new();
    }
    app.popup = Some(Popup::Files { selected: 0 });
    reselect(app, None);
    ask_list(app, false)
}

/// The id of the file the files popup has selected, if it is open.
fn selected_file(app: &App) -> Option<String> {
    let (Some(Popup::Files { selected }), Some(conv)) =
        (&app.popup, app.chat().and_then(|chat| chat.current()))
    else {
        return None;
    };
    let files = conv.files.shared();
    let index = files.len().checked_sub(selected + 1)?;
    Some(files[index].info.id.clone())
}

/// Keeps the files popup's selection on file `id` as the list changes
/// around it; with none, on the newest file that waits, else the newest.
fn reselect(app: &mut App, id: Option<String>) {
    let Some(conv) = app.chat().and_then(|chat| chat.current()) else {
        return;
    };
    let newest_first = || conv.files.shared().iter().rev();
    let selected = id
        .and_then(|id| newest_first().position(|f| f.info.id == id))
        .or_else(|| newest_first().position(|f| f.state == FileState::Waiting))
        .unwrap_or(0);
    if let Some(Popup::Files { selected: at }) = &mut app.popup {
        *at = selected;
    }
}

pub(super) fn on_files_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let keymap = &s.keymap;
    let current = app.chat().and_then(|chat| chat.current());
    let count = current.map_or(0, |conv| conv.files.shared().len());
    let Some(conv) = current.map(|conv| conv.id.clone()) else {
        return Vec::new();
    };
    let Some(Popup::Files { selected }) = &mut app.popup else {
        return Vec::new();
    };
    let last = count.saturating_sub(1);
    let index = count.checked_sub(*selected + 1);
    match keymap.action(Context::Files, &key) {
        Some(Action::Up) => *selected = selected.saturating_sub(1),
        Some(Action::Down) => *selected = (*selected + 1).min(last),
        Some(Action::Download) => {
            return index.map_or_else(Vec::new, |i| download(app, s, &conv, i, false));
        }
        Some(Action::CancelTransfer) => {
            let downloading = index.and_then(|i| {
                let current = app.chat()?.current()?;
                match current.files.shared()[i].state {
                    FileState::Downloading(id) => Some(id),
                    _ => None,
                }
            });
            return downloading.map_or_else(Vec::new, |id| cancel(app, id));
        }
        Some(Action::ClosePopup) => app.popup = None,
        _ => match keymap.action(Context::Global, &key) {
            Some(Action::PageUp) => *selected = selected.saturating_sub(PAGE as usize),
            Some(Action::PageDown) => *selected = (*selected + PAGE as usize).min(last),
            Some(Action::Files) => app.popup = None,
            Some(Action::CancelTransfer) => return cancel_newest(app, s),
            Some(Action::Quit) => return vec![Effect::Quit],
            _ => {}
        },
    }
    Vec::new()
}

// ---------------------------------------------------------------- transfers

fn cancel(app: &mut App, id: TransferId) -> Vec<Effect> {
    let cancelled = app
        .chat_mut()
        .and_then(|chat| chat.conv_of_transfer(id))
        .is_some_and(|conv| conv.files.cancel(id));
    if cancelled {
        vec![Effect::CancelTransfer(id)]
    } else {
        Vec::new()
    }
}

/// The cancel key outside the files popup: the newest transfer still running.
pub(super) fn cancel_newest(app: &mut App, s: &Settings) -> Vec<Effect> {
    let newest = app.chat().and_then(|chat| {
        chat.convs()
            .filter_map(|conv| conv.files.newest_running())
            .max()
    });
    match newest {
        Some(id) => cancel(app, id),
        None => {
            info(app, s, "no file transfer to cancel");
            Vec::new()
        }
    }
}

pub(super) fn on_transfer(
    app: &mut App,
    s: &Settings,
    id: TransferId,
    update: TransferUpdate,
) -> Vec<Effect> {
    let (now, me) = (app.now, app.target.name.clone());
    let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_of_transfer(id)) else {
        return Vec::new();
    };
    match update {
        TransferUpdate::Size(total) => conv.files.set_total(id, total),
        TransferUpdate::Progress(done) => conv.files.progress(id, done, now),
        TransferUpdate::Finished(finish) => {
            let conv_id = conv.id.clone();
            if let Some(transfer) = conv.files.finish(id, &finish, &me) {
                return finished(app, s, &conv_id, transfer, finish);
            }
        }
    }
    Vec::new()
}

/// A transfer ended: one line says how (a download nobody asked for that
/// went well is told by its announcement alone), and a file saved is
/// recorded, so no later run saves it again.
fn finished(
    app: &mut App,
    s: &Settings,
    conv: &str,
    transfer: Transfer,
    finish: Finish,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    if let (Finish::Saved(path), Some(file_id)) = (&finish, &transfer.file_id) {
        app.saved.record(file_id, path);
        effects.push(Effect::SaveSavedFiles);
    }
    let name = &transfer.name;
    let (what, undone) = match transfer.direction {
        Direction::Upload => ("Upload", "not sent"),
        Direction::Download => ("Download", "not saved"),
    };
    let took = human_duration(app.now.saturating_duration_since(transfer.started));
    let said = match finish {
        Finish::Sent => ItemKind::Info(format!(
            "Sent {name} ({}) in {took}",
            human_size(transfer.total)
        )),
        Finish::Saved(_) if transfer.auto => return effects,
        Finish::Saved(path) => ItemKind::Info(format!("Saved {name} to {}", path.display())),
        Finish::Cancelled => ItemKind::Info(format!("{what} of {name} cancelled")),
        Finish::Unavailable => {
            ItemKind::Error(format!("{name} was {undone}: the server no longer has it"))
        }
        Finish::Failed(message) => ItemKind::Error(format!("{name} was {undone}: {message}")),
    };
    note_in(app, s, conv, said);
    effects
}
