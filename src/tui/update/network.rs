//! The connection and what the server pushes: the welcome, reconnects,
//! the end of a session, presence and join requests; log entries go on to
//! `entries`.

use std::time::Duration;

use super::{
    entries,
    screen::{add, back_to_login, error, info, note},
};
use crate::{
    client::{ClientEvent, CloseReason},
    protocol::{Event, GroupSnapshot, JoinStatus, Welcome},
    tui::{
        action::{Action, Effect, Failure, RequestError},
        app::{App, Conn, Screen, Waiting},
        keymap::Context,
        model::{
            Chat, Focus,
            timeline::{Item, ItemKind, Presence},
        },
        settings::Settings,
    },
};

/// How long to wait before asking again when the server's refusal does
/// not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

pub(super) fn on_connected(
    app: &mut App,
    s: &Settings,
    result: Result<Welcome, RequestError>,
) -> Vec<Effect> {
    let welcome = match result {
        Ok(welcome) => welcome,
        Err(failure) => {
            app.conn = Conn::Offline(failure.message.clone());
            match &mut app.screen {
                // Asked again too soon after a rejection: wait here.
                Screen::Pending(waiting)
                    if failure.failure == Failure::RateLimited && waiting.rejected_by.is_some() =>
                {
                    waiting.again_at = Some(app.now + wait_asked_for(&failure.message));
                }
                Screen::Chat(_) => error(app, s, format!("cannot connect: {}", failure.message)),
                _ => back_to_login(app, failure.message),
            }
            return Vec::new();
        }
    };
    app.conn = Conn::Connected;
    app.target.name = welcome.name.clone();
    app.target.group = welcome.group.clone();
    app.remember();
    let mut effects = vec![Effect::SaveSession];
    effects.extend(welcomed(app, s, welcome, false));
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

/// A hello was answered, on the first connection or a reconnect.
fn welcomed(app: &mut App, s: &Settings, welcome: Welcome, again: bool) -> Vec<Effect> {
    let Some(snapshot) = welcome
        .snapshot
        .filter(|_| welcome.status != JoinStatus::Pending)
    else {
        let earlier = match std::mem::replace(&mut app.screen, Screen::Connecting) {
            Screen::Chat(chat) => Some(chat),
            Screen::Pending(waiting) => waiting.earlier,
            _ => None,
        };
        app.screen = Screen::Pending(Waiting {
            earlier,
            ..Waiting::default()
        });
        return Vec::new();
    };
    let created = welcome.status == JoinStatus::Created;
    let first_visit = app.chat().is_none();
    enter_chat(app, s, snapshot, !created);
    let effects = entries::open(app);
    if created {
        info(
            app,
            s,
            "You are the admin: join requests appear in the Requests panel.",
        );
    } else if again {
        info(app, s, "reconnected");
    } else if let Some(chat) = app.chat()
        && first_visit
        && chat.roster.is_admin()
        && !chat.roster.requests().is_empty()
    {
        let n = chat.roster.requests().len();
        note(
            app,
            s,
            ItemKind::Event(format!(
                "{n} join request{} waiting ({} to see them)",
                if n == 1 { "" } else { "s" },
                s.keymap.key_for(Context::Global, Action::FocusRequests)
            )),
        );
    }
    effects
}

/// Shows the chat for `snapshot`: the same chat again after a reconnect
/// or after being let back in, else a new one.
fn enter_chat(app: &mut App, s: &Settings, snapshot: GroupSnapshot, catch_up: bool) {
    let head = snapshot.head;
    let chat = match std::mem::replace(&mut app.screen, Screen::Connecting) {
        Screen::Chat(mut chat)
        | Screen::Pending(Waiting {
            earlier: Some(mut chat),
            ..
        }) => {
            chat.roster.reset(snapshot);
            chat.kicked_by = None;
            chat
        }
        _ => Box::new(Chat::new(&app.target.name, snapshot, s.pace)),
    };
    app.screen = Screen::Chat(chat);
    let last_seq = app.last_seq;
    if let Some(chat) = app.chat_mut() {
        chat.timeline.start_catch_up(head, last_seq, catch_up);
        if chat.timeline.caught_up() {
            chat.composer.outbox.caught_up();
        }
        if !chat.roster.is_admin() && chat.focus == Focus::Requests {
            chat.focus = Focus::Input;
        }
    }
}

/// Removed from the group: ask to join again, keeping the chat to come back to.
pub(super) fn ask_to_come_back(app: &mut App) -> Vec<Effect> {
    let chat = match std::mem::replace(&mut app.screen, Screen::Connecting) {
        Screen::Chat(chat) => Some(chat),
        _ => None,
    };
    app.screen = Screen::Pending(Waiting {
        earlier: chat,
        ..Waiting::default()
    });
    app.conn = Conn::Connecting;
    vec![Effect::Connect(app.target.clone())]
}

pub(super) fn on_client(app: &mut App, s: &Settings, event: ClientEvent) -> Vec<Effect> {
    match event {
        ClientEvent::Server(event) => on_server(app, s, event),
        ClientEvent::Reconnecting { attempt, delay, .. } => {
            if attempt == 1 {
                let key = s.keymap.key_for(Context::Global, Action::Reconnect);
                error(
                    app,
                    s,
                    format!(
                        "lost the connection to the server; trying again by itself \
                         ({key} tries now). What you type waits and goes when back."
                    ),
                );
            }
            app.conn = Conn::Reconnecting {
                attempt,
                at: app.now + delay,
            };
            Vec::new()
        }
        ClientEvent::Reconnected(welcome) => {
            app.conn = Conn::Connected;
            if let Some(chat) = app.chat_mut() {
                chat.composer.outbox.reconnected();
            }
            welcomed(app, s, welcome, true)
        }
        ClientEvent::ServerPinned {
            server,
            fingerprint,
        } => {
            info(
                app,
                s,
                format!(
                    "First connection to {server}: its certificate {fingerprint} is now \
                     pinned. If that is not the fingerprint the server printed, quit now."
                ),
            );
            Vec::new()
        }
        ClientEvent::Closed(reason) => {
            closed(app, s, reason);
            Vec::new()
        }
    }
}

/// The session is over for good (this one says why, once).
fn closed(app: &mut App, s: &Settings, reason: CloseReason) {
    match reason {
        CloseReason::Disconnected => app.quit = true,
        CloseReason::Kicked { by } => {
            app.conn = Conn::Offline(format!("removed by {by}"));
            let group = app.target.group.clone();
            let Some(chat) = app.chat_mut() else { return };
            chat.kicked_by = Some(by.clone());
            chat.roster.left();
            if chat.focus != Focus::Messages {
                chat.focus = Focus::Input;
            }
            let unsent = chat.composer.outbox.abandon();
            for text in unsent {
                error(app, s, format!("not sent (you were removed): \"{text}\""));
            }
            let key = s.keymap.key_for(Context::Global, Action::Reconnect);
            error(
                app,
                s,
                format!(
                    "{by} removed you from #{group}. {key} (or /reconnect) asks to join again."
                ),
            );
        }
        CloseReason::Rejected { by } => {
            app.conn = Conn::Offline(format!("turned down by {by}"));
            let earlier = match std::mem::replace(&mut app.screen, Screen::Connecting) {
                Screen::Pending(waiting) => waiting.earlier,
                _ => None,
            };
            app.screen = Screen::Pending(Waiting {
                rejected_by: Some(by),
                again_at: None,
                earlier,
            });
        }
        CloseReason::Refused(body) => {
            error(
                app,
                s,
                format!("the server ended the session: {}", body.message),
            );
            app.conn = Conn::Offline(body.message);
        }
        CloseReason::Lost(_) => {
            error(app, s, "lost the connection to the server");
            app.conn = Conn::Offline("connection lost".to_owned());
        }
        CloseReason::Untrusted(warning) => {
            error(app, s, warning);
            app.conn = Conn::Offline("server certificate changed".into());
        }
    }
}

fn on_server(app: &mut App, s: &Settings, event: Event) -> Vec<Effect> {
    match event {
        Event::Message { entry } => return entries::on_entry(app, s, entry),
        Event::MemberOnline { name } => presence(app, s, &name, true),
        Event::MemberOffline { name } => presence(app, s, &name, false),
        Event::JoinRequested { request } => {
            let Some(chat) = app.chat_mut() else {
                return Vec::new();
            };
            let (name, at_ms) = (request.name.clone(), request.at_ms);
            if chat.roster.request_arrived(request) {
                let keymap = &s.keymap;
                let hint = format!(
                    "{name} asks to join ({} goes to the requests, then {} to decide)",
                    keymap.key_for(Context::Global, Action::FocusRequests),
                    keymap.key_for(Context::Requests, Action::Choose),
                );
                add(
                    app,
                    s,
                    Item {
                        at_ms: Some(at_ms),
                        kind: ItemKind::Event(hint),
                    },
                );
                if s.bell_on_request {
                    return vec![Effect::Bell];
                }
            }
        }
        Event::RequestApproved { by, snapshot } => {
            enter_chat(app, s, snapshot, false);
            if let Some(chat) = app.chat_mut() {
                chat.focus = Focus::Input;
            }
            let group = app.target.group.clone();
            note(
                app,
                s,
                ItemKind::Event(format!("{by} let you into #{group}")),
            );
        }
        // The client library ends the session on these and says so once,
        // as the reason it closed; a shutdown comes as a reconnect.
        Event::RequestRejected { .. } | Event::Kicked { .. } | Event::ServerShutdown => {}
    }
    Vec::new()
}

/// Someone came online or left: one line gathers such changes in a row.
fn presence(app: &mut App, s: &Settings, name: &str, online: bool) {
    let Some(chat) = app.chat_mut() else { return };
    if !chat.roster.set_online(name, online) {
        return;
    }
    if let Some(line) = chat.timeline.presence_mut() {
        line.add(name, online);
        return;
    }
    let mut line = Presence::default();
    line.add(name, online);
    note(app, s, ItemKind::Presence(line));
}

/// `/reconnect` or its key: waiting to reconnect, try now; removed from
/// the group, ask to join again; offline, connect again.
pub(super) fn reconnect(app: &mut App, s: &Settings) -> Vec<Effect> {
    if app.chat().is_some_and(|chat| chat.kicked_by.is_some()) {
        return ask_to_come_back(app);
    }
    match app.conn {
        Conn::Reconnecting { .. } => vec![Effect::Hurry],
        Conn::Offline(_) => {
            app.conn = Conn::Connecting;
            vec![Effect::Connect(app.target.clone())]
        }
        Conn::Connected | Conn::Connecting => {
            info(app, s, "already connected");
            Vec::new()
        }
    }
}
