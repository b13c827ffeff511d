//! `pyconchat join`: the full-screen client.
//!
//! The UI is state + update + view: terminal input and network events
//! arrive as [`event::AppEvent`]s from one source, [`update::update`] turns
//! each into state changes and [`action::Effect`]s, and [`view::draw`]
//! draws the state. [`runtime`] performs the effects (the render loop
//! never awaits the network); this module sets the terminal up, runs the
//! loop and redraws only after events.
//!
//! # Layout
//! - [`app`]: the state, a screen that carries its own; [`model`]: the
//!   chat's models (roster, timeline, composer and send queue, files) and
//!   the other screens', each tested on its own.
//! - [`settings`]: what is read and never changed (keymap, theme, limits),
//!   passed by reference.
//! - [`update`]: events → state + effects, a file per kind of event;
//!   [`action`]: intents and effects; [`runtime`]: effects performed.
//! - [`keymap`]: bindings as data (help and footer come from it);
//!   [`commands`]: slash commands.
//! - [`view`]: one file per pane or popup over shared [`view::widgets`];
//!   [`theme`]: every style.
//! - [`event`]: the event source; [`session`]: what is remembered between
//!   runs (the last session, the files saved).
//!
//! Imports go one way: `update` → `view` → `model`; no view imports another.

pub mod action;
pub mod app;
pub mod commands;
mod composite;
pub mod event;
pub mod keymap;
pub mod model;
pub mod runtime;
pub mod session;
pub mod settings;
pub mod theme;
pub mod update;
pub mod view;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod screens;

use std::{collections::BTreeMap, path::PathBuf};

use color_eyre::eyre::{Result, WrapErr, eyre};
use crossterm::{
    event::{
        DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
        EnableFocusChange, EnableMouseCapture,
    },
    execute,
    terminal::SetTitle,
};

use self::{
    action::Target,
    app::App,
    composite::Composites,
    event::Events,
    keymap::Keymap,
    model::outbox::Pace,
    runtime::{Connection, Runtime},
    session::{LastSession, SavedFiles},
    settings::Settings,
    theme::Theme,
};
use crate::{
    cli::JoinArgs,
    client::{Identity, KnownServers, Transport},
    config::{Config, default_server},
    protocol::{ConvId, Seq},
};

/// Runs the client until the user quits. Problems found before the screen
/// opens (a bad config, an unreadable identity) are returned and printed on
/// a normal terminal; the terminal is restored on every way out.
pub async fn run(config: Config, args: JoinArgs) -> Result<()> {
    let keymap = Keymap::with_overrides(&config.keys).map_err(|e| eyre!(e))?;
    let client = &config.client;
    let theme = match &client.theme {
        Some(path) => Theme::load(path).map_err(|e| eyre!(e))?,
        None => Theme::default(),
    };
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => client.data_dir()?,
    };
    std::fs::create_dir_all(&data_dir)
        .wrap_err_with(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let _log = init_logging(&data_dir)?;
    let identity = Identity::load_or_create(&data_dir.join(Identity::FILE_NAME))
        .wrap_err("cannot load this client's identity")?;
    let last = LastSession::load(&data_dir);
    let saved = SavedFiles::load(&data_dir);

    let server_known = args
        .server
        .clone()
        .or_else(|| (client.server != default_server()).then(|| client.server.clone()));
    let name_known = args.name.clone().or_else(|| client.name.clone());
    let group_known = args.group.clone().or_else(|| client.group.clone());
    // Without a group, the conversation shown last opens.
    let straight = name_known.is_some();
    let target = Target {
        server: server_known
            .or(last.server.clone())
            .unwrap_or_else(default_server),
        name: name_known.or(last.name.clone()).unwrap_or_default(),
        group: group_known.unwrap_or_default(),
    };

    let plaintext = args.plaintext || client.plaintext;
    let settings = Settings {
        keymap,
        theme,
        bell_on_mention: client.bell_on_mention,
        notify: client.notify.resolve(|key| std::env::var(key).ok()),
        bell_on_request: client.bell_on_request,
        utc: false,
        timestamp_format: client.timestamp_format.clone(),
        plaintext,
        auto_download_mb: client.auto_download_mb,
        pace: Pace::default(),
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        home: directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_owned()),
    };
    let transport = if plaintext {
        Transport::Plaintext
    } else {
        Transport::Tls {
            known_servers: Some(KnownServers::new(data_dir.join(KnownServers::FILE_NAME))),
        }
    };
    let connection = Connection {
        identity,
        max_frame_bytes: client.max_frame_bytes,
        transport,
    };
    let download_dir = client.download_dir(&data_dir);
    let mut app = App::new(target, last, saved);
    let mut terminal = init_terminal()?;
    let events = Events::start();
    let mut runtime = Runtime::new(connection, data_dir, download_dir, events.sender());
    let outcome = event_loop(
        &mut terminal,
        &mut app,
        &settings,
        &mut runtime,
        events,
        straight,
    )
    .await;
    restore_terminal();
    runtime.goodbye(&mut app).await;
    outcome
}

fn init_logging(data_dir: &std::path::Path) -> Result<tracing_appender::non_blocking::WorkerGuard> {
    let file = tracing_appender::rolling::never(data_dir, "pyconchat.log");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "client starting");
    Ok(guard)
}

fn init_terminal() -> Result<ratatui::DefaultTerminal> {
    let terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(error) => {
            restore_terminal();
            return Err(error).wrap_err("pyconchat join needs an interactive terminal");
        }
    };
    // ratatui's hook restores raw mode and the screen; this one first turns
    // off what we turned on, so a panic leaves a usable shell. A panic on
    // any thread ends the process: a client drawing on a restored terminal
    // would be worse than none.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
        std::process::exit(101);
    }));
    if let Err(error) = execute!(
        std::io::stdout(),
        EnableMouseCapture,
        EnableBracketedPaste,
        EnableFocusChange
    ) {
        restore_terminal();
        return Err(error.into());
    }
    Ok(terminal)
}

fn disable_extras() {
    let _ = execute!(
        std::io::stdout(),
        DisableFocusChange,
        DisableBracketedPaste,
        DisableMouseCapture,
        SetTitle("")
    );
}

/// Restores the terminal, quietly: when the terminal itself is gone (its
/// window closed), there is nothing to restore and nowhere to say so.
fn restore_terminal() {
    disable_extras();
    let _ = ratatui::try_restore();
}

/// Draws a frame, and draws it again over a cleared screen when a flag or
/// another composite emoji left the screen (see [`Composites`]).
fn draw(
    terminal: &mut ratatui::DefaultTerminal,
    app: &App,
    s: &Settings,
    composites: &mut Composites,
) -> std::io::Result<()> {
    let frame = terminal.draw(|frame| view::draw(frame, app, s))?;
    if composites.track(frame.buffer) {
        repaint_whole(terminal)?;
        let frame = terminal.draw(|frame| view::draw(frame, app, s))?;
        composites.track(frame.buffer);
    }
    Ok(())
}

/// Clears the screen and forgets what was drawn, so the next frame is
/// written whole. Unlike `Terminal::clear` it asks the terminal nothing:
/// the answer to a cursor query goes to the event reader, and the query
/// timed out and ended the client.
fn repaint_whole(terminal: &mut ratatui::DefaultTerminal) -> std::io::Result<()> {
    let area = terminal.size()?.into();
    terminal.resize(area)
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    s: &Settings,
    runtime: &mut Runtime,
    mut events: Events,
    straight: bool,
) -> Result<()> {
    app.size = terminal.size()?;
    let effects = update::start(app, straight);
    runtime.perform(app, effects);
    let mut title = String::new();
    let mut saved = remembered(app);
    let mut composites = Composites::default();
    loop {
        if runtime.take_redraw() {
            repaint_whole(terminal)?;
        }
        let drawn = draw(terminal, app, s, &mut composites);
        let drawn = drawn.and_then(|()| {
            let wanted = app.title();
            if wanted != title {
                execute!(std::io::stdout(), SetTitle(&wanted))?;
                title = wanted;
            }
            Ok(())
        });
        match drawn {
            // Leaving anyway (a hangup closes the terminal first): fine.
            _ if app.quit => return Ok(()),
            Err(error) => return Err(error.into()),
            Ok(()) => {}
        }
        let Some(event) = events.next(app.next_tick()).await else {
            return Ok(());
        };
        app.now = std::time::Instant::now();
        let effects = update::update(app, s, event);
        runtime.perform(app, effects);
        // Take whatever else is queued before drawing again, so a burst of
        // messages costs one frame.
        while let Some(event) = events.try_next() {
            let effects = update::update(app, s, event);
            runtime.perform(app, effects);
        }
        for event in runtime.progress() {
            let effects = update::update(app, s, event);
            runtime.perform(app, effects);
        }
        // Remember how far we read and where, so even a killed client
        // resumes there.
        let now = remembered(app);
        if now != saved {
            saved = now;
            runtime.save(app);
        }
    }
}

/// What the session file remembers of the chat: where each conversation
/// resumes, and the one shown.
fn remembered(app: &App) -> (BTreeMap<ConvId, Seq>, Option<ConvId>) {
    let shown = app
        .chat()
        .and_then(|chat| chat.selected().map(str::to_owned));
    (app.resume(), shown)
}
