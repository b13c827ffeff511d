//! Log entries on the messages pane: those the server pushes as they
//! happen (a catch-up after a reconnect among them), and pages of older
//! ones, asked for when the pane opens empty and as the user scrolls to
//! its top, down to the start of what the member may read. Both become
//! items the same way; only a fresh entry rings or downloads by itself.

use super::{
    files,
    screen::{add_item, chat_to_ask, error, note, scroll_by},
};
use crate::{
    protocol::{Body, LogEntry, Seq},
    tui::{
        action::{Effect, Purpose, RequestError},
        app::App,
        model::{
            Focus,
            timeline::{Item, ItemKind, Page, mentions},
        },
        settings::Settings,
        view::widgets,
    },
};

pub(super) fn on_entry(app: &mut App, s: &Settings, entry: LogEntry) -> Vec<Effect> {
    // Fresh: never seen by this client, in this run or an earlier one.
    let fresh = app.last_seq.is_none_or(|last| entry.seq > last);
    if fresh {
        app.last_seq = Some(entry.seq);
    }
    let me = app.target.name.clone();
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    chat.roster.apply(&entry);
    if !chat.roster.is_admin() && chat.focus == Focus::Requests {
        chat.focus = Focus::Input;
    }
    if let Body::Text { text } = &entry.body
        && entry.from == me
    {
        chat.composer.outbox.stored(text);
    }
    let catching_up = chat.timeline.catching_up(entry.seq);
    let divider = chat.timeline.divider_before(entry.seq, fresh);
    if chat.timeline.caught_up() {
        chat.composer.outbox.caught_up();
    }
    if !chat.timeline.take_seq(entry.seq) {
        return Vec::new();
    }
    if divider {
        note(app, s, ItemKind::Divider("while you were away".into()));
    }
    let at_ms = entry.at_ms;
    let (kind, mut effects) = describe(app, s, entry, fresh);
    let Some(kind) = kind else {
        return effects;
    };
    if let ItemKind::Chat { mention: true, .. } = kind
        && fresh
        && !catching_up
        && s.bell_on_mention
    {
        effects.push(Effect::Bell);
    }
    // A replay is history, not news: it counts as read.
    let looking = app.window_focused || !fresh;
    let item = Item {
        at_ms: Some(at_ms),
        kind,
    };
    add_item(app, s, item, looking);
    effects
}

/// What `entry` shows in the messages pane (`None` for a file already
/// shown), and the download it starts when it is `fresh` and the
/// automatic rule says so.
fn describe(
    app: &mut App,
    s: &Settings,
    entry: LogEntry,
    fresh: bool,
) -> (Option<ItemKind>, Vec<Effect>) {
    let group = &app.target.group;
    let me = &app.target.name;
    let from = entry.from;
    let kind = match entry.body {
        Body::File { file } => return files::announced(app, s, from, file, entry.at_ms, fresh),
        Body::Text { text } => {
            let own = &from == me;
            let mention = !own && mentions(&text, me);
            ItemKind::Chat {
                from,
                text,
                own,
                mention,
            }
        }
        Body::GroupCreated => ItemKind::Event(format!("{from} created #{group}")),
        Body::MemberJoined { name } => {
            ItemKind::Event(format!("{name} joined (approved by {from})"))
        }
        Body::MemberKicked { name } => {
            ItemKind::Event(format!("{from} removed {name} from the group"))
        }
        Body::AdminChanged { to } if &to == me => ItemKind::Event(format!(
            "{from} made you the admin: join requests now come to you"
        )),
        Body::AdminChanged { to } => ItemKind::Event(format!("{from} made {to} the admin")),
    };
    (Some(kind), Vec::new())
}

/// Asks for the page of history above what is shown, unless one is on
/// its way, the start is shown, or no request could go now.
pub(super) fn ask_older(app: &mut App) -> Vec<Effect> {
    // With nothing shown: what this client read before, else the newest.
    let below = app.last_seq.map_or(Seq::MAX, |seq| seq.saturating_add(1));
    let Some(chat) = chat_to_ask(app) else {
        return Vec::new();
    };
    chat.timeline
        .ask_older(below)
        .map(|before| Effect::Request(Purpose::History { before }))
        .into_iter()
        .collect()
}

/// Entering the chat, or back after a reconnect: a pane with no entry yet
/// shows what was said before, when this client has read here before
/// (a first visit is caught up from the start of what may be read).
pub(super) fn open(app: &mut App) -> Vec<Effect> {
    let empty = app
        .chat()
        .is_some_and(|chat| chat.timeline.oldest_seq().is_none());
    if empty && app.last_seq.is_some() {
        ask_older(app)
    } else {
        Vec::new()
    }
}

/// Scrolls the messages by `delta` lines; reaching the top asks for the
/// page before it.
pub(super) fn scroll(app: &mut App, s: &Settings, delta: isize) -> Vec<Effect> {
    if scroll_by(app, s, delta) && delta > 0 {
        ask_older(app)
    } else {
        Vec::new()
    }
}

/// A page of history came: its entries go above the oldest shown, with
/// day lines where the date changes.
pub(super) fn on_history(app: &mut App, s: &Settings, result: Result<Vec<LogEntry>, RequestError>) {
    let Some(chat) = app.chat_mut() else { return };
    let entries = match result {
        Ok(entries) => entries,
        Err(failure) => {
            chat.timeline.older_failed();
            error(
                app,
                s,
                format!("cannot load older messages: {}", failure.message),
            );
            return;
        }
    };
    if entries.is_empty() {
        chat.timeline.prepend(None);
        return;
    }
    let entries: Vec<LogEntry> = entries
        .into_iter()
        .filter(|e| chat.timeline.is_older(e.seq))
        .collect();
    let (Some(oldest), Some(newest)) = (entries.first(), entries.last()) else {
        // All of it is shown already: the next page starts lower.
        chat.timeline.older_failed();
        return;
    };
    let (oldest, newest) = (oldest.seq, newest.seq);
    let mut items = Vec::new();
    let mut last_day: Option<String> = None;
    for entry in entries {
        let at_ms = entry.at_ms;
        let (Some(kind), _) = describe(app, s, entry, false) else {
            continue;
        };
        let day = widgets::day(at_ms, s);
        if last_day.as_ref().is_some_and(|last| *last != day) {
            items.push(day_line(day.clone()));
        }
        last_day = Some(day);
        items.push(Item {
            at_ms: Some(at_ms),
            kind,
        });
    }
    let Some(chat) = app.chat_mut() else { return };
    let first_shown = chat.timeline.items().iter().find_map(|i| i.at_ms);
    if let (Some(ms), Some(last)) = (first_shown, &last_day) {
        let day = widgets::day(ms, s);
        if day != *last {
            items.push(day_line(day));
        }
    }
    chat.timeline.prepend(Some(Page {
        items,
        oldest,
        newest,
        last_day,
    }));
}

fn day_line(day: String) -> Item {
    Item {
        at_ms: None,
        kind: ItemKind::Day(day),
    }
}
