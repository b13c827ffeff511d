//! The user's conversations: going from one to another (keys, clicks, the
//! switcher), joining and leaving groups, direct conversations and whom
//! to ignore, what the server says changed (let in, turned down, removed,
//! added elsewhere), and read positions, told to the server a moment after
//! the user reads and followed when read elsewhere.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};

use super::{
    entries,
    screen::{connected, error, info, note_in},
};
use crate::{
    protocol::{
        Conversation, GroupSnapshot, JoinStatus, ReplyData, Seq, direct_id, validate_group,
        validate_name,
    },
    tui::{
        action::{Action, Effect, Failure, Purpose, RequestError},
        app::{App, Confirm, Popup},
        keymap::Context,
        model::{
            Chat, Focus,
            conversation::{Conv, Standing},
            line::is_text,
            switcher::Switcher,
            timeline::ItemKind,
        },
        settings::Settings,
    },
};

/// How long after the user reads the server is told: reading on is not a
/// request per message.
pub const MARK_READ_DELAY: Duration = Duration::from_millis(800);

/// How long to wait before asking again when the server's refusal does
/// not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- switching

/// Shows conversation `id` (when `choose` finds one) and what was said
/// there before, when nothing is loaded yet.
fn switch(app: &mut App, choose: impl FnOnce(&mut Chat) -> bool) -> Vec<Effect> {
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    if !choose(chat) {
        return Vec::new();
    }
    app.popup = None;
    let Some(id) = app
        .chat()
        .and_then(|chat| chat.selected().map(str::to_owned))
    else {
        return Vec::new();
    };
    entries::open(app, &id)
}

pub(super) fn go_to(app: &mut App, id: &str) -> Vec<Effect> {
    switch(app, |chat| chat.select(id))
}

/// The next (`1`) or previous (`-1`) conversation in the list.
pub(super) fn go_by(app: &mut App, delta: isize) -> Vec<Effect> {
    switch(app, |chat| {
        chat.select_by(delta);
        true
    })
}

/// The conversation at place `index` (from 0) in the list.
pub(super) fn go_to_index(app: &mut App, index: usize) -> Vec<Effect> {
    switch(app, |chat| chat.select_index(index))
}

pub(super) fn open_switcher(app: &mut App) -> Vec<Effect> {
    if app.chat().is_some() {
        app.popup = Some(Popup::Switcher(Switcher::default()));
    }
    Vec::new()
}

/// A key while the switcher is open: typing filters, Enter goes.
pub(super) fn on_switcher_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let matches = match (&app.popup, app.chat()) {
        (Some(Popup::Switcher(switcher)), Some(chat)) => switcher.matches(chat),
        _ => return Vec::new(),
    };
    let Some(Popup::Switcher(switcher)) = &mut app.popup else {
        return Vec::new();
    };
    if let KeyCode::Char(c) = key.code
        && is_text(&key)
    {
        switcher.push(c);
        return Vec::new();
    }
    if key.code == KeyCode::Backspace && key.modifiers.is_empty() {
        switcher.pop();
        return Vec::new();
    }
    let keymap = &s.keymap;
    match keymap
        .action(Context::Switcher, &key)
        .or_else(|| keymap.action(Context::Global, &key))
    {
        Some(Action::Up) => switcher.select_by(-1, matches.len()),
        Some(Action::Down) => switcher.select_by(1, matches.len()),
        Some(Action::Choose) => {
            let chosen = matches.get(switcher.selected).cloned();
            app.popup = None;
            if let Some(id) = chosen {
                return go_to(app, &id);
            }
        }
        Some(Action::ClosePopup | Action::Switcher) => app.popup = None,
        Some(Action::Quit) => return vec![Effect::Quit],
        _ => {}
    }
    Vec::new()
}

// ---------------------------------------------------------------- joining and leaving

/// `/join GROUP`: shows it when already there, else opens it on the
/// server (created, or a request filed), as `join --group` does.
pub(super) fn join(app: &mut App, s: &Settings, group: String) -> Vec<Effect> {
    let group = group.trim_start_matches('#').to_owned();
    if let Err(problem) = validate_group(&group) {
        error(app, s, problem.to_string());
        return Vec::new();
    }
    let there = app
        .chat()
        .and_then(|chat| chat.conv(&group))
        .is_some_and(|conv| conv.readable() || conv.standing == Standing::Pending);
    if there {
        return go_to(app, &group);
    }
    vec![Effect::Request(Purpose::Join(group))]
}

/// The answer to `/join` (or to asking again): the conversation opens.
pub(super) fn on_joined(
    app: &mut App,
    s: &Settings,
    group: &str,
    result: Result<ReplyData, RequestError>,
) -> Vec<Effect> {
    let conversation = match result {
        Ok(ReplyData::Conversation { conversation }) => conversation,
        Ok(_) => return Vec::new(),
        Err(failure) => {
            let now = app.now;
            let waiting = app
                .chat_mut()
                .and_then(|chat| chat.conv_mut(group))
                .filter(|_| failure.failure == Failure::RateLimited);
            if let Some(Conv {
                standing: Standing::Rejected { again_at, .. },
                ..
            }) = waiting
            {
                *again_at = Some(now + wait_asked_for(&failure.message));
            }
            error(app, s, format!("cannot join #{group}: {}", failure.message));
            return Vec::new();
        }
    };
    let status = conversation.status;
    let effects = added(app, conversation, true);
    let said = match status {
        JoinStatus::Created => {
            "You created #{group} and are its admin: join requests appear in the Requests panel."
        }
        JoinStatus::Pending => "You asked to join #{group}; its admin decides.",
        _ => "",
    };
    if !said.is_empty() {
        note_in(
            app,
            s,
            group,
            ItemKind::Info(said.replace("{group}", group)),
        );
    }
    effects
}

/// The wait a refusal names ("… ask again in 58 s"), else a default.
fn wait_asked_for(message: &str) -> Duration {
    message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u64>().ok())
        .next_back()
        .map_or(DEFAULT_WAIT, Duration::from_secs)
}

/// On the waiting screen after a rejection (once any wait is over): ask
/// to join again.
pub(super) fn ask_again(app: &mut App) -> Vec<Effect> {
    let Some(conv) = app.chat().and_then(Chat::lone_waiting) else {
        return Vec::new();
    };
    match &conv.standing {
        Standing::Rejected { again_at, .. }
            if again_at.is_none_or(|at| at <= app.now) && connected(app) =>
        {
            vec![Effect::Request(Purpose::Join(conv.id.clone()))]
        }
        _ => Vec::new(),
    }
}

/// `/leave [GROUP]`: what leaving means for the user there, asked first;
/// a conversation the user is no longer in is dropped from the list.
pub(super) fn leave(app: &mut App, s: &Settings, group: Option<String>) -> Vec<Effect> {
    let Some(chat) = app.chat() else {
        return Vec::new();
    };
    let id = match group {
        Some(group) => group.trim_start_matches('#').to_owned(),
        None => match chat.selected() {
            Some(id) => id.to_owned(),
            None => {
                error(app, s, "you are in no conversation to leave");
                return Vec::new();
            }
        },
    };
    let Some(conv) = chat.conv(&id) else {
        error(app, s, format!("you are not in #{id}"));
        return Vec::new();
    };
    let name = conv.label();
    let others = conv
        .roster
        .members()
        .iter()
        .filter(|m| m.name != chat.me())
        .count();
    let (title, question) = match &conv.standing {
        Standing::Removed { .. } | Standing::Rejected { .. } => {
            drop_conv(app, s, &id);
            return Vec::new();
        }
        Standing::Direct => {
            let peer = conv.peer.clone().unwrap_or_default();
            error(
                app,
                s,
                format!(
                    "a direct conversation cannot be left; /ignore {peer} stops {peer}'s messages"
                ),
            );
            return Vec::new();
        }
        Standing::Pending => (
            "Withdraw request",
            format!("Withdraw your request to join {name}?"),
        ),
        Standing::Member if conv.is_admin() && others > 0 => {
            error(
                app,
                s,
                format!(
                    "you are the admin of {name}: hand the admin role to another member first \
                     (/changeAdmin NAME)"
                ),
            );
            return Vec::new();
        }
        Standing::Member if others == 0 => (
            "Close group",
            format!(
                "You are the last member of {name}: leaving closes it for good, deleting its \
                 messages and files. Close {name}?"
            ),
        ),
        Standing::Member => (
            "Leave group",
            format!("Leave {name}? You can ask to join again later."),
        ),
    };
    app.popup = Some(Popup::Confirm(Confirm {
        title: title.into(),
        question,
        purpose: Purpose::Leave(id),
    }));
    Vec::new()
}

/// Takes a conversation the user is no longer in off the list.
fn drop_conv(app: &mut App, s: &Settings, id: &str) {
    let Some(conv) = app.chat_mut().and_then(|chat| chat.remove(id)) else {
        return;
    };
    info(app, s, format!("{} is off your list", conv.label()));
}

/// `/leave` was confirmed: what to say once the conversation is gone.
pub(super) fn leaving(app: &mut App, id: &str) {
    let Some(chat) = app.chat_mut() else { return };
    let me = chat.me().to_owned();
    let Some(conv) = chat.conv_mut(id) else {
        return;
    };
    let alone = !conv.roster.members().iter().any(|m| m.name != me);
    let label = conv.label();
    conv.going = Some(match conv.standing {
        Standing::Pending => format!("you withdrew your request to join {label}"),
        Standing::Member if alone => format!("you closed {label}"),
        _ => format!("you left {label}"),
    });
}

/// The answer to `/leave`: the conversation goes (unless the server's
/// word that it went came first), and what happened is said.
pub(super) fn on_left(
    app: &mut App,
    s: &Settings,
    id: &str,
    result: Result<ReplyData, RequestError>,
) {
    if let Err(failure) = result {
        if let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(id)) {
            conv.going = None;
        }
        error(app, s, format!("cannot leave #{id}: {}", failure.message));
        return;
    }
    removed(app, s, id);
}

/// Says each message that will not be sent, with its text.
fn say_unsent(app: &mut App, s: &Settings, label: &str, unsent: Vec<String>, why: &str) {
    for text in unsent {
        error(app, s, format!("not sent to {label} ({why}): \"{text}\""));
    }
}

// ---------------------------------------------------------------- direct conversations

/// `/query NAME` (`text`: `None`) or `/msg NAME TEXT`: shows the direct
/// conversation with NAME, or sends TEXT to it, opening it first.
pub(super) fn direct(
    app: &mut App,
    s: &Settings,
    name: String,
    text: Option<String>,
) -> Vec<Effect> {
    let Some(chat) = app.chat() else {
        return Vec::new();
    };
    if let Err(problem) = validate_name(&name) {
        error(app, s, problem.to_string());
        return Vec::new();
    }
    if name == chat.me() {
        error(app, s, "a direct conversation is with someone else");
        return Vec::new();
    }
    let id = direct_id(chat.me(), &name);
    if chat.conv(&id).is_none() {
        return vec![Effect::Request(Purpose::OpenDirect { name, text })];
    }
    match text {
        None => go_to(app, &id),
        Some(text) => {
            send_direct(app, s, &id, text);
            Vec::new()
        }
    }
}

/// Queues `text` for the direct conversation `id`, saying so where the
/// user is.
fn send_direct(app: &mut App, s: &Settings, id: &str, text: String) {
    let Some(chat) = app.chat_mut() else { return };
    let shown = chat.selected() == Some(id);
    let to = chat.conv(id).map(Conv::label).unwrap_or_default();
    chat.composer.outbox.push(id, text.clone());
    if !shown {
        info(app, s, format!("to {to}: {text}"));
    }
}

/// The direct conversation asked for is open.
pub(super) fn on_direct(
    app: &mut App,
    s: &Settings,
    name: &str,
    text: Option<String>,
    result: Result<ReplyData, RequestError>,
) -> Vec<Effect> {
    let conversation = match result {
        Ok(ReplyData::Conversation { conversation }) => conversation,
        Ok(_) => return Vec::new(),
        Err(failure) => {
            let what = match &text {
                Some(text) => format!("not sent to {name} ({}): \"{text}\"", failure.message),
                None => format!("cannot talk to {name}: {}", failure.message),
            };
            error(app, s, what);
            return Vec::new();
        }
    };
    let id = conversation.id.clone();
    let effects = added(app, conversation, text.is_none());
    if let Some(text) = text {
        send_direct(app, s, &id, text);
    }
    effects
}

/// `/ignore NAME`, `/unignore NAME`, or `/ignore` alone (the list).
pub(super) fn ignore(app: &mut App, s: &Settings, name: Option<String>, on: bool) -> Vec<Effect> {
    let purpose = match name {
        None => Purpose::ListIgnored,
        Some(name) if on && app.chat().is_some_and(|chat| chat.me() == name) => {
            error(app, s, "you cannot ignore yourself");
            return Vec::new();
        }
        Some(name) if on => {
            // The answer says what it means; the conversation goes quietly.
            if let Some(chat) = app.chat_mut() {
                let id = direct_id(chat.me(), &name);
                if let Some(conv) = chat.conv_mut(&id) {
                    conv.going = Some(String::new());
                }
            }
            Purpose::Ignore(name)
        }
        Some(name) => Purpose::Unignore(name),
    };
    vec![Effect::Request(purpose)]
}

/// The answer to `/ignore` or `/unignore`: an ignored person's direct
/// conversation leaves the list (one unignored comes back as the server
/// adds it).
pub(super) fn on_ignored(
    app: &mut App,
    s: &Settings,
    name: &str,
    on: bool,
    result: Result<ReplyData, RequestError>,
) {
    let id = app
        .chat()
        .map(|chat| direct_id(chat.me(), name))
        .unwrap_or_default();
    if let Err(failure) = result {
        if let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(&id)) {
            conv.going = None;
        }
        error(app, s, failure.message);
        return;
    }
    if !on {
        info(
            app,
            s,
            format!("you see {name}'s direct messages again, with what they sent meanwhile"),
        );
        return;
    }
    removed(app, s, &id);
    info(
        app,
        s,
        format!(
            "you no longer see {name}'s direct messages; they are not told (/unignore {name} \
             undoes it)"
        ),
    );
}

// ---------------------------------------------------------------- what the server says

/// A conversation opened here or elsewhere (joined, created, a direct
/// conversation someone started); `show`: go to it.
pub(super) fn added(app: &mut App, conversation: Conversation, show: bool) -> Vec<Effect> {
    let id = conversation.id.clone();
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    let me = chat.me().to_owned();
    match chat.conv_mut(&id) {
        Some(conv) => {
            let seen = conv.seen;
            conv.reset(conversation, seen);
        }
        None => {
            chat.insert(Conv::new(&me, conversation, None));
        }
    }
    if show { go_to(app, &id) } else { Vec::new() }
}

/// The admin let the user in: the conversation opens where it waited.
pub(super) fn approved(app: &mut App, s: &Settings, id: &str, by: &str, snapshot: GroupSnapshot) {
    let Some(chat) = app.chat_mut() else { return };
    let shown = chat.selected() == Some(id);
    let Some(conv) = chat.conv_mut(id) else {
        return;
    };
    conv.standing = Standing::Member;
    conv.head = conv.head.max(snapshot.head);
    conv.roster.reset(snapshot);
    let label = conv.label();
    if shown {
        chat.focus = Focus::Input;
    }
    note_in(
        app,
        s,
        id,
        ItemKind::Event(format!("{by} let you into {label}")),
    );
}

/// The admin turned the request down.
pub(super) fn rejected(app: &mut App, s: &Settings, id: &str, by: String) {
    let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(id)) else {
        return;
    };
    let label = conv.label();
    conv.standing = Standing::Rejected {
        by: by.clone(),
        again_at: None,
    };
    note_in(
        app,
        s,
        id,
        ItemKind::Error(format!(
            "{by} turned down your request to join {label}. /join {id} asks again; /leave {id} \
             drops it."
        )),
    );
}

/// Removed from a group: what was said stays, read-only, and what waited
/// to be sent there is said not sent.
pub(super) fn kicked(app: &mut App, s: &Settings, id: &str, by: &str) {
    let Some(chat) = app.chat_mut() else { return };
    let shown = chat.selected() == Some(id);
    let Some(conv) = chat.conv_mut(id) else {
        return;
    };
    conv.standing = Standing::Removed {
        by: Some(by.to_owned()),
    };
    conv.roster.left();
    let label = conv.label();
    if shown && matches!(chat.focus, Focus::Members | Focus::Requests) {
        chat.focus = Focus::Input;
    }
    let unsent = chat.composer.outbox.abandon(id);
    for text in unsent {
        note_in(
            app,
            s,
            id,
            ItemKind::Error(format!("not sent (you were removed): \"{text}\"")),
        );
    }
    note_in(
        app,
        s,
        id,
        ItemKind::Error(format!(
            "{by} removed you from {label}. /join {id} asks to join again; /leave drops it \
             from your list."
        )),
    );
}

/// A conversation went away: left here or on another client, closed, or
/// its other person ignored.
pub(super) fn removed(app: &mut App, s: &Settings, id: &str) {
    let Some(chat) = app.chat_mut() else { return };
    let Some(conv) = chat.remove(id) else { return };
    let unsent = chat.composer.outbox.abandon(id);
    let label = conv.label();
    match conv.going {
        Some(said) if said.is_empty() => {}
        Some(said) => info(app, s, said),
        None => info(
            app,
            s,
            format!("{label} is no longer yours (left on another client, or closed)"),
        ),
    }
    say_unsent(app, s, &label, unsent, "it is gone");
}

/// Read up to `seq` on another client of the user.
pub(super) fn read_elsewhere(app: &mut App, id: &str, seq: Seq) {
    if let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(id)) {
        conv.unread.read_up_to(seq);
        conv.unread.told(seq);
    }
}

// ---------------------------------------------------------------- read positions

/// After every event: what the user sees of the conversation shown is
/// read.
pub(super) fn looked(app: &mut App) {
    let Some(id) = app
        .chat()
        .and_then(|chat| chat.selected().map(str::to_owned))
    else {
        return;
    };
    if !entries::looking_at(app, &id) {
        return;
    }
    if let Some(conv) = app.chat_mut().and_then(Chat::current_mut) {
        conv.timeline.looked();
        // What is shown is read: what arrived, and a page of history.
        if let Some(newest) = conv.seen.max(conv.timeline.newest_seq()) {
            conv.unread.read_up_to(newest);
        }
    }
}

/// Tells the server the read positions it does not know, a moment after
/// the first of them moved (at once when `quitting`).
pub(super) fn tell_reads(app: &mut App, quitting: bool) -> Vec<Effect> {
    let (now, connected) = (app.now, connected(app));
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    let untold = chat
        .convs()
        .any(|conv| conv.readable() && conv.unread.to_tell().is_some());
    if !untold || !connected {
        chat.mark_due = None;
        return Vec::new();
    }
    match chat.mark_due {
        _ if quitting => {}
        None => {
            chat.mark_due = Some(now + MARK_READ_DELAY);
            return Vec::new();
        }
        Some(due) if due > now => return Vec::new(),
        Some(_) => {}
    }
    chat.mark_due = None;
    chat.convs_mut()
        .filter(|conv| conv.readable())
        .filter_map(|conv| {
            let seq = conv.unread.to_tell()?;
            conv.unread.told(seq);
            Some(Effect::Request(Purpose::MarkRead {
                conv: conv.id.clone(),
                seq,
            }))
        })
        .collect()
}

/// Says who the user ignores.
pub(super) fn on_ignored_list(app: &mut App, s: &Settings, names: Vec<String>) {
    if names.is_empty() {
        info(app, s, "you ignore nobody");
    } else {
        info(app, s, format!("you ignore: {}", names.join(", ")));
    }
}
