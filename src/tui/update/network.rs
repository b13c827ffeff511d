//! The connection and what the server pushes: the welcome and every
//! conversation in it, reconnects, the end of a session, presence and join
//! requests; log entries go on to `entries`, changes to the user's
//! conversations to `conversations`.

use super::{
    conversations, entries,
    screen::{add_to, back_to_login, error, info, note_in},
};
use crate::{
    client::{ClientEvent, CloseReason, Connected, server_list},
    protocol::{ConvId, Event, JoinStatus, Welcome},
    tui::{
        action::{Action, Effect, RequestError},
        app::{App, Conn, Screen},
        keymap::Context,
        model::{
            Chat,
            conversation::{Conv, Standing},
            timeline::{Item, ItemKind, Presence},
        },
        settings::Settings,
    },
};

pub(super) fn on_connected(
    app: &mut App,
    s: &Settings,
    result: Result<Connected, RequestError>,
) -> Vec<Effect> {
    let Connected { server, welcome } = match result {
        Ok(connected) => connected,
        Err(failure) => {
            app.conn = Conn::Offline(failure.message.clone());
            match &app.screen {
                Screen::Chat(_) => error(app, s, format!("cannot connect: {}", failure.message)),
                _ => back_to_login(app, failure.message),
            }
            return Vec::new();
        }
    };
    app.conn = Conn::Connected;
    app.server = Some(server);
    let again = app.chat().is_some();
    let mut effects = welcomed(app, s, welcome, again);
    app.remember();
    effects.insert(0, Effect::SaveSession);
    effects
}

/// A hello was answered, on the first connection or a reconnect: every
/// conversation of the user, each resuming where it was.
fn welcomed(app: &mut App, s: &Settings, welcome: Welcome, again: bool) -> Vec<Effect> {
    let resume = app.resume();
    // The group asked for opens first, else the conversation shown last.
    let open = std::mem::take(&mut app.target.group);
    let open = Some(open).filter(|g| !g.is_empty()).or_else(|| {
        app.session
            .conversation(&app.target.server, &welcome.name)
            .map(str::to_owned)
    });
    app.target.name = welcome.name.clone();
    if !again {
        app.screen = Screen::Chat(Box::new(Chat::new(&welcome.name, s.pace)));
    }
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    if again {
        chat.composer.outbox.reconnected();
    }
    let me = welcome.name.clone();
    let mut created = Vec::new();
    let mut arrived: Vec<ConvId> = Vec::new();
    for conversation in welcome.conversations {
        let id = conversation.id.clone();
        if conversation.status == JoinStatus::Created {
            created.push(id.clone());
        }
        match chat.conv_mut(&id) {
            Some(conv) => {
                let seen = conv.seen;
                conv.reset(conversation, seen);
            }
            None => {
                chat.insert(Conv::new(&me, conversation, resume.get(&id).copied()));
            }
        }
        arrived.push(id);
    }
    let gone: Vec<ConvId> = chat
        .convs_mut()
        .filter(|conv| {
            !arrived.contains(&conv.id) && !matches!(conv.standing, Standing::Removed { .. })
        })
        .map(|conv| {
            conv.standing = Standing::Removed { by: None };
            conv.roster.left();
            conv.id.clone()
        })
        .collect();
    let caught_up: Vec<ConvId> = chat
        .convs()
        .filter(|conv| conv.timeline.caught_up())
        .map(|conv| conv.id.clone())
        .collect();
    for id in &caught_up {
        chat.composer.outbox.caught_up(id);
    }
    if let Some(open) = &open {
        chat.select(open);
    }
    let mut effects = Vec::new();
    for id in &arrived {
        effects.extend(entries::open(app, id));
    }
    for id in &created {
        note_in(
            app,
            s,
            id,
            ItemKind::Info("You are the admin: join requests appear in the Requests panel.".into()),
        );
    }
    for id in &gone {
        let label = app
            .chat()
            .and_then(|chat| chat.conv(id))
            .map(Conv::label)
            .unwrap_or_default();
        note_in(
            app,
            s,
            id,
            ItemKind::Error(format!(
                "you are no longer in {label} (removed, or it closed, while you were away)"
            )),
        );
    }
    if again {
        // With several servers, say which one answered.
        match app.server.clone() {
            Some(server) if server_list(&app.target.server).len() > 1 => {
                info(app, s, format!("reconnected to {server}"));
            }
            _ => info(app, s, "reconnected"),
        }
    } else {
        effects.extend(requests_waiting(app, s));
    }
    effects
}

/// On arrival, an admin hears of the join requests waiting in each group
/// they run.
fn requests_waiting(app: &mut App, s: &Settings) -> Vec<Effect> {
    let waiting: Vec<(ConvId, usize)> = app
        .chat()
        .map(|chat| {
            chat.convs()
                .filter(|conv| conv.requests_waiting() > 0)
                .map(|conv| (conv.id.clone(), conv.requests_waiting()))
                .collect()
        })
        .unwrap_or_default();
    for (id, n) in waiting {
        let key = s.keymap.key_for(Context::Global, Action::FocusRequests);
        note_in(
            app,
            s,
            &id,
            ItemKind::Event(format!(
                "{n} join request{} waiting ({key} to see them)",
                if n == 1 { "" } else { "s" },
            )),
        );
    }
    Vec::new()
}

pub(super) fn on_client(app: &mut App, s: &Settings, event: ClientEvent) -> Vec<Effect> {
    match event {
        ClientEvent::Server(event) => on_server(app, s, event),
        ClientEvent::Reconnecting {
            attempt,
            delay,
            moving,
            ..
        } => {
            if attempt == 1 {
                let key = s.keymap.key_for(Context::Global, Action::Reconnect);
                let what = match (moving, server_list(&app.target.server).len() > 1) {
                    (true, true) => "the server is shutting down; moving to the next server",
                    (true, false) => "the server is shutting down (a restart?); trying again",
                    (false, _) => "lost the connection to the server; trying again",
                };
                error(
                    app,
                    s,
                    format!(
                        "{what} by itself ({key} tries now). What you type waits and goes \
                         when back."
                    ),
                );
            }
            app.conn = Conn::Reconnecting {
                attempt,
                at: app.now + delay,
            };
            Vec::new()
        }
        ClientEvent::Reconnected(Connected { server, welcome }) => {
            app.conn = Conn::Connected;
            app.server = Some(server);
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
        Event::Message { conv, entry } => return entries::on_entry(app, s, &conv, entry),
        Event::MemberOnline { conv, name } => presence(app, s, &conv, &name, true),
        Event::MemberOffline { conv, name } => presence(app, s, &conv, &name, false),
        Event::JoinRequested { conv, request } => {
            let Some(target) = app.chat_mut().and_then(|chat| chat.conv_mut(&conv)) else {
                return Vec::new();
            };
            let (name, at_ms) = (request.name.clone(), request.at_ms);
            if target.roster.request_arrived(request) {
                let keymap = &s.keymap;
                let hint = format!(
                    "{name} asks to join ({} goes to the requests, then {} to decide)",
                    keymap.key_for(Context::Global, Action::FocusRequests),
                    keymap.key_for(Context::Requests, Action::Choose),
                );
                let item = Item {
                    at_ms: Some(at_ms),
                    seq: None,
                    kind: ItemKind::Event(hint),
                };
                add_to(app, s, Some(&conv), item);
                if s.bell_on_request {
                    return vec![Effect::Bell];
                }
            }
        }
        Event::RequestApproved { conv, by, snapshot } => {
            conversations::approved(app, s, &conv, &by, snapshot);
        }
        Event::RequestRejected { conv, by } => conversations::rejected(app, s, &conv, by),
        Event::Kicked { conv, by } => conversations::kicked(app, s, &conv, &by),
        Event::ConversationAdded { conversation } => {
            return conversations::added(app, conversation, false);
        }
        Event::ConversationRemoved { conv } => conversations::removed(app, s, &conv),
        Event::ReadUpTo { conv, seq } => conversations::read_elsewhere(app, &conv, seq),
        // The client library reconnects by itself.
        Event::ServerShutdown => {}
    }
    Vec::new()
}

/// Someone came online or left: one line gathers such changes in a row.
fn presence(app: &mut App, s: &Settings, conv: &str, name: &str, online: bool) {
    let Some(target) = app.chat_mut().and_then(|chat| chat.conv_mut(conv)) else {
        return;
    };
    if !target.roster.set_online(name, online) {
        return;
    }
    if let Some(line) = target.timeline.presence_mut() {
        line.add(name, online);
        return;
    }
    let mut line = Presence::default();
    line.add(name, online);
    note_in(app, s, conv, ItemKind::Presence(line));
}

/// `/reconnect` or its key: waiting to reconnect, try now; offline,
/// connect again.
pub(super) fn reconnect(app: &mut App, s: &Settings) -> Vec<Effect> {
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
