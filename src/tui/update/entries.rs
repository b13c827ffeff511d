//! Log entries on the messages pane: those the server pushes as they
//! happen (a catch-up after a reconnect among them), pages of older ones,
//! asked for when the pane opens empty and as the user scrolls to its top,
//! and, after a jump to a message a search found, the entries around it
//! and the pages below it back to the live end. All become items the same
//! way; only a fresh entry rings, notifies or downloads by itself.

use super::{
    files,
    screen::{add_to, connected, error, messages_size, note_in, scroll_by},
};
use crate::{
    protocol::{Body, LogEntry, Seq, mentions},
    tui::{
        action::{CONTEXT_AFTER, Effect, HISTORY_PAGE, Purpose, RequestError},
        app::App,
        model::{
            conversation::Conv,
            files::Files,
            timeline::{Item, ItemKind, Page, Timeline},
        },
        settings::{Notify, Settings},
        view::{messages::item_lines, widgets},
    },
};

pub(super) fn on_entry(app: &mut App, s: &Settings, id: &str, entry: LogEntry) -> Vec<Effect> {
    let looking = looking_at(app, id);
    let present = present_at(app, id);
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    let me = chat.me().to_owned();
    let Some(conv) = chat.conv_mut(id) else {
        return Vec::new();
    };
    let read = conv.unread.read();
    // Fresh: not read yet, here or anywhere.
    let fresh = entry.seq > read;
    conv.saw(entry.seq);
    conv.roster.apply(&entry);
    let catching_up = conv.timeline.catching_up(entry.seq);
    conv.timeline.arrived(entry.seq);
    let caught_up = conv.timeline.caught_up();
    let own = entry.from == me;
    let mention = match &entry.body {
        Body::Text { text } => !own && mentions(text, &me),
        _ => false,
    };
    let news = !own && matches!(entry.body, Body::Text { .. } | Body::File { .. });
    if news {
        conv.unread.arrived(entry.seq, mention);
    }
    // Scrolled back is still here: the marker below counts what comes.
    let divider = news && conv.timeline.divider_due(entry.seq, read, present);
    let shown = conv.timeline.take_seq(entry.seq);
    let direct = conv.peer.is_some();
    let title = conv.label();
    if let Body::Text { text } = &entry.body
        && own
    {
        chat.composer.outbox.stored(id, text);
    }
    if caught_up {
        chat.composer.outbox.caught_up(id);
    }
    let mut effects = Vec::new();
    if news && fresh && !catching_up && (mention || (direct && !looking)) {
        let body = match &entry.body {
            Body::Text { text } => format!("{}: {text}", entry.from),
            _ => format!("{} shared a file", entry.from),
        };
        effects.extend(alert(s, &title, body, looking));
    }
    if !shown {
        return effects;
    }
    if divider {
        let label = if catching_up {
            "while you were away"
        } else {
            "new messages"
        };
        note_in(app, s, id, ItemKind::Divider(label.into()));
    }
    let (seq, at_ms) = (entry.seq, entry.at_ms);
    let (kind, more) = describe(app, s, id, entry, fresh);
    effects.extend(more);
    let Some(kind) = kind else {
        return effects;
    };
    let item = Item {
        at_ms: Some(at_ms),
        seq: Some(seq),
        kind,
    };
    add_to(app, s, Some(id), item);
    effects
}

/// The bell, and a desktop notification where the user is not looking.
fn alert(s: &Settings, title: &str, body: String, looking: bool) -> Vec<Effect> {
    if !s.bell_on_mention {
        return Vec::new();
    }
    match s.notify {
        Notify::Off => Vec::new(),
        Notify::Bell => vec![Effect::Bell],
        Notify::Desktop(_) if looking => vec![Effect::Bell],
        Notify::Desktop(osc) => vec![
            Effect::Bell,
            Effect::Notify {
                osc,
                title: title.to_owned(),
                body,
            },
        ],
    }
}

/// Is the user in conversation `id` now: shown, the window focused?
fn present_at(app: &App, id: &str) -> bool {
    app.window_focused
        && app.chat().is_some_and(|chat| {
            chat.selected() == Some(id)
                && chat.lone_waiting().is_none()
                && chat.current().is_some_and(|conv| conv.readable())
        })
}

/// Does the user see the newest entries of conversation `id` now: in it,
/// at the bottom, nothing over it?
pub(super) fn looking_at(app: &App, id: &str) -> bool {
    present_at(app, id)
        && app.popup.is_none()
        && app
            .chat()
            .and_then(|chat| chat.current())
            .is_some_and(|conv| conv.timeline.at_newest())
}

/// What `entry` shows in the messages pane (`None` for a file already
/// shown), and the download it starts when it is `fresh` and the
/// automatic rule says so.
fn describe(
    app: &mut App,
    s: &Settings,
    id: &str,
    entry: LogEntry,
    fresh: bool,
) -> (Option<ItemKind>, Vec<Effect>) {
    let Some(chat) = app.chat() else {
        return (None, Vec::new());
    };
    let me = chat.me().to_owned();
    let direct = chat.conv(id).is_some_and(|conv| conv.peer.is_some());
    let label = chat.conv(id).map(Conv::label).unwrap_or_default();
    let from = entry.from;
    let kind = match entry.body {
        Body::File { file } => {
            return files::announced(app, s, id, from, file, entry.at_ms, fresh);
        }
        Body::Text { text } => {
            let own = from == me;
            let mention = !own && mentions(&text, &me);
            ItemKind::Chat {
                from,
                text,
                own,
                mention,
            }
        }
        Body::GroupCreated if direct => {
            ItemKind::Event(format!("{from} started this direct conversation"))
        }
        Body::GroupCreated => ItemKind::Event(format!("{from} created {label}")),
        Body::MemberJoined { name } => {
            ItemKind::Event(format!("{name} joined (approved by {from})"))
        }
        Body::MemberKicked { name } => {
            ItemKind::Event(format!("{from} removed {name} from the group"))
        }
        Body::MemberLeft { name } => ItemKind::Event(format!("{name} left the group")),
        Body::AdminChanged { to } if to == me => ItemKind::Event(format!(
            "{from} made you the admin: join requests now come to you"
        )),
        Body::AdminChanged { to } => ItemKind::Event(format!("{from} made {to} the admin")),
    };
    (Some(kind), Vec::new())
}

/// Asks for the page of history above what conversation `id` shows,
/// unless one is on its way, the start is shown, or no request could go
/// now.
pub(super) fn ask_older(app: &mut App, id: &str) -> Vec<Effect> {
    let connected = connected(app);
    let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(id)) else {
        return Vec::new();
    };
    if !connected || !conv.readable() {
        return Vec::new();
    }
    // With nothing shown: up to what this client has, else the newest.
    let below = conv
        .seen
        .or((conv.head > 0).then_some(conv.head))
        .map_or(Seq::MAX, |seq| seq.saturating_add(1));
    conv.timeline
        .ask_older(below)
        .map(|before| {
            Effect::Request(Purpose::History {
                conv: id.to_owned(),
                before,
            })
        })
        .into_iter()
        .collect()
}

/// A conversation opened (on arrival, after a reconnect, when chosen): a
/// pane with no entry yet shows what was said before, when this client
/// has read there before or the user is looking at it.
pub(super) fn open(app: &mut App, id: &str) -> Vec<Effect> {
    let Some(chat) = app.chat() else {
        return Vec::new();
    };
    let selected = chat.selected() == Some(id);
    let empty = chat.conv(id).is_some_and(|conv| {
        conv.timeline.oldest_seq().is_none() && (conv.seen.is_some() || selected)
    });
    if empty {
        ask_older(app, id)
    } else {
        Vec::new()
    }
}

/// Scrolls the messages by `delta` lines; reaching the top asks for the
/// page before it, reaching the bottom of an older stretch the page after.
pub(super) fn scroll(app: &mut App, s: &Settings, delta: isize) -> Vec<Effect> {
    let at_top = scroll_by(app, s, delta);
    let Some(id) = app
        .chat()
        .and_then(|chat| chat.selected().map(str::to_owned))
    else {
        return Vec::new();
    };
    if at_top && delta > 0 {
        return ask_older(app, &id);
    }
    let connected = connected(app);
    let Some(conv) = app.chat_mut().and_then(|chat| chat.current_mut()) else {
        return Vec::new();
    };
    if delta < 0 && connected && conv.timeline.scroll().offset == 0 {
        return conv
            .timeline
            .ask_newer(HISTORY_PAGE)
            .map(|before| Effect::Request(Purpose::Newer { conv: id, before }))
            .into_iter()
            .collect();
    }
    Vec::new()
}

/// To the newest message of the conversation shown; from an older
/// stretch of the log (after a jump), back to the live end.
pub(super) fn to_newest(app: &mut App, s: &Settings) -> Vec<Effect> {
    let Some(conv) = app.chat_mut().and_then(|chat| chat.current_mut()) else {
        return scroll(app, s, isize::MIN / 2);
    };
    if conv.timeline.live() {
        return scroll(app, s, isize::MIN / 2);
    }
    conv.timeline = Timeline::default();
    let id = conv.id.clone();
    open(app, &id)
}

/// Items for `entries` (oldest first), with day lines where the date
/// changes after `last_day`; the date of the last.
fn items_of(
    app: &mut App,
    s: &Settings,
    id: &str,
    entries: Vec<LogEntry>,
    mut last_day: Option<String>,
) -> (Vec<Item>, Option<String>) {
    let mut items = Vec::new();
    for entry in entries {
        let (seq, at_ms) = (entry.seq, entry.at_ms);
        let (Some(kind), _) = describe(app, s, id, entry, false) else {
            continue;
        };
        let day = widgets::day(at_ms, s);
        if last_day.as_ref().is_some_and(|last| *last != day) {
            items.push(Item::note(ItemKind::Day(day.clone())));
        }
        last_day = Some(day);
        items.push(Item {
            at_ms: Some(at_ms),
            seq: Some(seq),
            kind,
        });
    }
    (items, last_day)
}

/// A page of history came: its entries go above the oldest shown, with
/// day lines where the date changes.
pub(super) fn on_history(
    app: &mut App,
    s: &Settings,
    id: &str,
    result: Result<Vec<LogEntry>, RequestError>,
) {
    let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(id)) else {
        return;
    };
    let entries = match result {
        Ok(entries) => entries,
        Err(failure) => {
            conv.timeline.older_failed();
            let message = format!("cannot load older messages: {}", failure.message);
            note_in(app, s, id, ItemKind::Error(message));
            return;
        }
    };
    if entries.is_empty() {
        conv.timeline.prepend(None);
        return;
    }
    let entries: Vec<LogEntry> = entries
        .into_iter()
        .filter(|e| conv.timeline.is_older(e.seq))
        .collect();
    let (Some(oldest), Some(newest)) = (entries.first(), entries.last()) else {
        // All of it is shown already: the next page starts lower.
        conv.timeline.older_failed();
        return;
    };
    let (oldest, newest) = (oldest.seq, newest.seq);
    let (mut items, last_day) = items_of(app, s, id, entries, None);
    let Some(conv) = app.chat_mut().and_then(|chat| chat.conv_mut(id)) else {
        return;
    };
    let first_shown = conv.timeline.items().iter().find_map(|i| i.at_ms);
    if let (Some(ms), Some(last)) = (first_shown, &last_day) {
        let day = widgets::day(ms, s);
        if day != *last {
            items.push(Item::note(ItemKind::Day(day)));
        }
    }
    conv.timeline.prepend(Some(Page {
        items,
        oldest,
        newest,
        last_day,
    }));
}

/// Entries for the bottom of a timeline that shows an older stretch of
/// the log: around a message a search jumped to (`jumped`), or the page
/// below. The view holds still; a jump puts the message in sight.
pub(super) fn on_newer(
    app: &mut App,
    s: &Settings,
    id: &str,
    jumped: Option<Seq>,
    result: Result<Vec<LogEntry>, RequestError>,
) {
    let size = app.size;
    let Some(chat) = app.chat_mut() else { return };
    let (width, page) = messages_size(size, chat);
    let me = chat.me().to_owned();
    let Some(conv) = chat.conv_mut(id) else {
        return;
    };
    let entries = match result {
        Ok(entries) => entries,
        Err(failure) => {
            conv.timeline.newer_failed();
            let message = format!("cannot load newer messages: {}", failure.message);
            error(app, s, message);
            return;
        }
    };
    let newest_known = conv.seen.unwrap_or(0).max(conv.head);
    let short = entries.len() < HISTORY_PAGE as usize;
    let entries: Vec<LogEntry> = entries
        .into_iter()
        .filter(|e| {
            conv.timeline
                .newest_seq()
                .is_none_or(|newest| e.seq > newest)
        })
        .collect();
    let range = entries
        .first()
        .zip(entries.last())
        .map(|(a, b)| (a.seq, b.seq));
    // The log ends within what was asked for, or at what is known here.
    let ends = match jumped {
        Some(seq) => range.is_none_or(|(_, newest)| newest < seq + CONTEXT_AFTER),
        None => short,
    };
    let live = ends || range.is_none_or(|(_, newest)| newest >= newest_known);
    let last_day = conv.timeline.items().iter().rev().find_map(|i| i.at_ms);
    let last_day = last_day.map(|ms| widgets::day(ms, s));
    let (items, last_day) = items_of(app, s, id, entries, last_day);
    let Some(chat) = app.chat_mut() else { return };
    let Some(conv) = chat.conv_mut(id) else {
        return;
    };
    let heights: Vec<usize> = items
        .iter()
        .map(|item| item_lines(item, width, &me, &conv.files, s).len())
        .collect();
    let page_of = range.map(|(oldest, newest)| Page {
        items,
        oldest,
        newest,
        last_day,
    });
    conv.timeline.append(page_of, &heights, live);
    if let Some(seq) = jumped {
        reveal(&mut conv.timeline, &conv.files, &me, s, width, page, seq);
    }
}

/// Scrolls so that entry `seq` shows in the middle of a pane `page` lines
/// tall, and marks it.
pub(super) fn reveal(
    timeline: &mut Timeline,
    files: &Files,
    me: &str,
    s: &Settings,
    width: usize,
    page: usize,
    seq: Seq,
) {
    let Some(at) = timeline.items().iter().rposition(|i| i.seq == Some(seq)) else {
        return;
    };
    let below: usize = timeline.items()[at..]
        .iter()
        .map(|item| item_lines(item, width, me, files, s).len())
        .sum();
    timeline.scroll_to(below.saturating_sub(page / 2 + 1));
    timeline.mark(seq);
}

/// Goes to entry `seq` of conversation `id`, which a search found: shown
/// in the middle of the pane when loaded, else loaded with the entries
/// around it.
pub(super) fn jump(app: &mut App, s: &Settings, id: &str, seq: Seq) -> Vec<Effect> {
    let size = app.size;
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    if !chat.select(id) {
        return Vec::new();
    }
    let (width, page) = messages_size(size, chat);
    let me = chat.me().to_owned();
    let Some(conv) = chat.current_mut() else {
        return Vec::new();
    };
    let loaded = conv
        .timeline
        .oldest_seq()
        .zip(conv.timeline.newest_seq())
        .is_some_and(|(oldest, newest)| (oldest..=newest).contains(&seq));
    if loaded {
        reveal(&mut conv.timeline, &conv.files, &me, s, width, page, seq);
        return Vec::new();
    }
    conv.timeline.jump(seq);
    vec![Effect::Request(Purpose::Context {
        conv: id.to_owned(),
        seq,
    })]
}
