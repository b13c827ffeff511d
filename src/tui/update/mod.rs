//! `update`: an event comes in, the state changes, and effects go out for
//! the runtime to perform. No I/O happens here, so every path is tested
//! without a terminal or a network. Split by what is handled: `keys`
//! (keyboard, mouse, paste), `standing` (what changes other people's
//! standing, always asked first), [`line`] (the input line's messages and
//! commands), `network` (the connection and what the server pushes),
//! `conversations` (joining, leaving, switching, direct conversations,
//! read positions), `entries` (log entries, live and pages of history),
//! `search` (the history search), `replies` (answers to requests), `files`
//! (sharing files), over the small steps they share in `screen`. This file
//! only dispatches.

mod conversations;
mod entries;
mod files;
mod keys;
mod line;
mod network;
mod replies;
mod screen;
mod search;
mod standing;
#[cfg(test)]
mod tests;

use ratatui::layout::Size;

use super::{
    action::{Effect, Purpose},
    app::{App, Conn, Screen},
    event::AppEvent,
    settings::Settings,
};

/// Where the app begins: straight to connecting when everything is known
/// and valid, else the login form.
pub fn start(app: &mut App, straight: bool) -> Vec<Effect> {
    match &app.screen {
        Screen::Login(form) if straight && form.first_problem().is_none() => {
            let target = form.target();
            screen::connect(app, target)
        }
        _ => Vec::new(),
    }
}

pub fn update(app: &mut App, s: &Settings, event: AppEvent) -> Vec<Effect> {
    let mut effects = match event {
        AppEvent::Key(key) => keys::on_key(app, s, key),
        AppEvent::Mouse(mouse) => keys::on_mouse(app, s, mouse),
        AppEvent::Paste(text) => keys::on_paste(app, &text),
        AppEvent::Resize(w, h) => {
            app.size = Size::new(w, h);
            screen::scroll_by(app, s, 0);
            Vec::new()
        }
        AppEvent::FocusGained => {
            app.window_focused = true;
            Vec::new()
        }
        AppEvent::FocusLost => {
            app.window_focused = false;
            Vec::new()
        }
        AppEvent::Tick => Vec::new(),
        AppEvent::Connected(result) => network::on_connected(app, s, result),
        AppEvent::Client(event) => network::on_client(app, s, event),
        AppEvent::Reply { purpose, result } => replies::on_reply(app, s, purpose, result),
        AppEvent::Listed { dir, result } => {
            files::on_listed(app, dir, result);
            Vec::new()
        }
        AppEvent::Transfer { id, update } => files::on_transfer(app, s, id, update),
        AppEvent::Terminate => vec![Effect::Quit],
    };
    let quitting = effects.contains(&Effect::Quit);
    screen::keep_focus_shown(app);
    conversations::looked(app);
    effects.extend(conversations::tell_reads(app, quitting));
    effects.extend(send_queued(app));
    effects
}

/// Lets the next queued message out when the connection is up, its
/// conversation caught up with its log, and the pace allows.
fn send_queued(app: &mut App) -> Option<Effect> {
    let (now, connected) = (app.now, app.conn == Conn::Connected);
    let chat = app.chat_mut().filter(|_| connected)?;
    let ready: Vec<String> = chat
        .convs()
        .filter(|conv| conv.readable() && conv.timeline.caught_up())
        .map(|conv| conv.id.clone())
        .collect();
    let out = chat
        .composer
        .outbox
        .next(now, |conv| ready.iter().any(|id| id == conv))?;
    Some(Effect::Request(Purpose::Send {
        id: out.id,
        conv: out.conv,
        text: out.text,
    }))
}
