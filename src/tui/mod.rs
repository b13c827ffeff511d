//! `pyconchat join`: the full-screen client.
//!
//! The UI is state + update + view: terminal input and network events
//! arrive as [`event::AppEvent`]s from one source, [`update::update`] turns
//! each into state changes and [`action::Effect`]s, and [`view::draw`]
//! draws the state. This module is the runtime between them: it owns the
//! terminal and the connection, performs effects on spawned tasks (the
//! render loop never awaits the network), and redraws only after events.
//!
//! # Layout
//! - [`app`]: the state; [`update`]: events → state + effects; [`action`]: intents and effects.
//! - [`keymap`]: bindings as data (help and footer come from it); [`commands`]: slash commands.
//! - [`view`] and one file per pane or popup; [`theme`]: every style.
//! - [`event`]: the event source; [`session`]: the remembered last session.
//! - File sharing: [`transfer`] (transfers and shared files), [`picker`]
//!   (the file picker), [`sharing`] (their update logic), [`files`] (how
//!   they look).

pub mod action;
pub mod app;
pub mod commands;
pub mod confirm;
pub mod event;
pub mod files;
pub mod help;
pub mod input;
pub mod keymap;
pub mod login;
pub mod members;
pub mod messages;
pub mod pending;
pub mod picker;
pub mod requests;
pub mod session;
pub mod sharing;
pub mod status;
pub mod theme;
pub mod transfer;
pub mod update;
pub mod view;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod screens;

use std::{
    collections::HashMap,
    io::Write,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use color_eyre::eyre::{Result, WrapErr, eyre};
use crossterm::{
    event::{
        DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
        EnableFocusChange, EnableMouseCapture,
    },
    execute,
    terminal::SetTitle,
};
use tokio::{sync::mpsc::UnboundedSender, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use self::{
    action::{Effect, Target},
    app::{App, Settings},
    event::{AppEvent, Events},
    keymap::Keymap,
    session::LastSession,
    theme::Theme,
    transfer::{Finish, TransferId, TransferUpdate},
};
use crate::{
    cli::JoinArgs,
    client::{
        Client, ClientError, ConnectOptions, Identity, KnownServers, TransferError, Transport,
    },
    config::{Config, default_server},
    protocol::{ErrorCode, FileInfo},
};

/// Runs the client until the user quits. Problems found before the screen
/// opens (a bad config, an unreadable identity) are returned and printed on
/// a normal terminal; the terminal is restored on every way out.
pub async fn run(config: Config, args: JoinArgs) -> Result<()> {
    let keymap = Keymap::with_overrides(&config.keys).map_err(|e| eyre!(e))?;
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => config.client.data_dir()?,
    };
    std::fs::create_dir_all(&data_dir)
        .wrap_err_with(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let _log = init_logging(&data_dir)?;
    let identity = Identity::load_or_create(&data_dir.join(Identity::FILE_NAME))
        .wrap_err("cannot load this client's identity")?;
    let last = LastSession::load(&data_dir);

    let client = &config.client;
    let server_known = args
        .server
        .clone()
        .or_else(|| (client.server != default_server()).then(|| client.server.clone()));
    let name_known = args.name.clone().or_else(|| client.name.clone());
    let group_known = args.group.clone().or_else(|| client.group.clone());
    let straight = name_known.is_some() && group_known.is_some();
    let server = server_known
        .or(last.server.clone())
        .unwrap_or_else(default_server);
    let name = name_known.or(last.name.clone()).unwrap_or_default();
    let group = group_known.or(last.group.clone()).unwrap_or_default();

    let settings = Settings {
        keymap,
        theme: Theme::default(),
        bell_on_mention: client.bell_on_mention,
        bell_on_request: client.bell_on_request,
        utc: false,
        plaintext: args.plaintext || client.plaintext,
        auto_download_mb: client.auto_download_mb,
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        home: directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_owned()),
    };
    let transport = if settings.plaintext {
        Transport::Plaintext
    } else {
        let pins = KnownServers::new(data_dir.join(KnownServers::FILE_NAME));
        Transport::Tls {
            known_servers: Some(pins),
        }
    };
    let mut app = App::new(settings, &server, &name, &group);
    let mut runtime = Runtime {
        client: Arc::new(Mutex::new(Slot::default())),
        identity,
        data_dir,
        max_frame_bytes: client.max_frame_bytes,
        transport,
        last,
        tx: None,
        download_dir: client.download_dir().map_err(|e| e.to_string()),
        transfers: HashMap::new(),
        outbox: {
            let (outbox, queued) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(send_in_order(queued));
            outbox
        },
    };

    let mut terminal = init_terminal()?;
    let outcome = event_loop(&mut terminal, &mut app, &mut runtime, straight).await;
    restore_terminal();
    runtime.goodbye(&app).await;
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

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    runtime: &mut Runtime,
    straight: bool,
) -> Result<()> {
    let mut events = Events::start();
    runtime.tx = Some(events.sender());
    app.size = terminal.size()?;
    let effects = update::start(app, straight);
    runtime.perform(app, effects);
    let mut title = String::new();
    let mut saved_seq = app.last_seq;
    loop {
        let drawn = terminal.draw(|frame| view::draw(frame, app)).map(drop);
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
        app.now = Instant::now();
        let effects = update::update(app, event);
        runtime.perform(app, effects);
        // Take whatever else is queued before drawing again, so a burst of
        // messages costs one frame.
        while let Some(event) = events.try_next() {
            let effects = update::update(app, event);
            runtime.perform(app, effects);
        }
        for event in runtime.progress() {
            let effects = update::update(app, event);
            runtime.perform(app, effects);
        }
        // Remember how far we read, so even a killed client resumes there.
        if app.last_seq != saved_seq {
            saved_seq = app.last_seq;
            runtime.save(app);
        }
    }
}

/// A client error as one sentence for the screen: the server's own words
/// when it said no.
fn describe(error: ClientError) -> String {
    match error {
        ClientError::Server(body) => body.message,
        other => other.to_string(),
    }
}

/// A transfer's end in the words the screen uses: the server's own when it
/// said no.
fn finish(error: TransferError) -> Finish {
    match error {
        TransferError::Cancelled => Finish::Cancelled,
        TransferError::Client(error) if error.code() == Some(ErrorCode::FileUnavailable) => {
            Finish::Unavailable
        }
        TransferError::Client(error) => Finish::Failed(describe(error)),
        other => Finish::Failed(other.to_string()),
    }
}

/// A transfer the runtime is running. The task stores its progress in
/// `done` instead of sending an event per chunk; the event loop reads it
/// once per frame ([`Runtime::progress`]), so however fast chunks come,
/// progress costs no more frames than the ten a second the tick asks for.
struct Running {
    done: Arc<AtomicU64>,
    reported: u64,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The current connection, if any, and which connect attempt it belongs to.
#[derive(Default)]
struct Slot {
    /// Bumped on every connect, so a late answer to an older one is ignored.
    generation: u64,
    client: Option<Client>,
}

/// Owns the connection and performs effects.
struct Runtime {
    /// Shared with the connect task, which fills it in.
    client: Arc<Mutex<Slot>>,
    identity: Identity,
    data_dir: PathBuf,
    max_frame_bytes: usize,
    transport: Transport,
    last: LastSession,
    tx: Option<UnboundedSender<AppEvent>>,
    /// Where downloads go, or why there is nowhere.
    download_dir: Result<PathBuf, String>,
    transfers: HashMap<TransferId, Running>,
    /// Requests on their way out; see [`send_in_order`].
    outbox: UnboundedSender<Outgoing>,
}

/// A request the user made, with where its reply goes.
struct Outgoing {
    client: Option<Client>,
    purpose: action::Purpose,
    tx: UnboundedSender<AppEvent>,
}

/// Queues requests with the client one at a time, in the order the user
/// made them (two messages sent in quick succession must not swap), and
/// awaits each reply on a task of its own so a slow one holds up nothing.
async fn send_in_order(mut outbox: tokio::sync::mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(Outgoing {
        client,
        purpose,
        tx,
    }) = outbox.recv().await
    {
        let reply = match client {
            Some(client) => client.queue(purpose.request()).await.map_err(describe),
            None => Err("not connected to the server".to_owned()),
        };
        tokio::spawn(async move {
            let result = match reply {
                Ok(reply) => reply.await.map_err(describe),
                Err(error) => Err(error),
            };
            let _ = tx.send(AppEvent::Reply { purpose, result });
        });
    }
}

impl Runtime {
    fn perform(&mut self, app: &mut App, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Connect(target) => self.connect(app, target),
                Effect::Request(purpose) => self.request(purpose),
                Effect::Bell => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                }
                Effect::SaveSession => self.save(app),
                Effect::ListDir(dir) => self.list_dir(dir),
                Effect::SendFile { id, path } => self.send_file(id, path),
                Effect::FetchFile { id, file } => self.fetch_file(id, file),
                Effect::CancelTransfer(id) => {
                    if let Some(running) = self.transfers.get(&id) {
                        running.cancel.cancel();
                    }
                }
                Effect::Quit => app.quit = true,
            }
        }
    }

    fn connect(&mut self, app: &App, target: Target) {
        let generation = {
            let mut slot = self.client.lock().expect("client lock");
            slot.generation += 1;
            // Dropping the old handle ends its connection.
            slot.client = None;
            slot.generation
        };
        let mut options = ConnectOptions::new(
            &target.server,
            &target.name,
            &target.group,
            self.identity.clone(),
        );
        options.max_frame_bytes = self.max_frame_bytes;
        options.transport = self.transport.clone();
        options.last_seq = app.last_seq.or_else(|| {
            self.last
                .last_seq(&target.server, &target.group, &target.name)
        });
        let Some(tx) = self.tx.clone() else { return };
        let slot = self.client.clone();
        tracing::info!(server = %target.server, name = %target.name, group = %target.group, "connecting");
        tokio::spawn(async move {
            let connect = tokio::time::timeout(Duration::from_secs(15), Client::connect(options));
            let result = match connect.await {
                Err(_) => Err(format!("no answer from {} within 15 s", target.server)),
                Ok(Err(e)) => Err(describe(e)),
                Ok(Ok((client, welcome, mut client_events))) => {
                    {
                        let mut slot = slot.lock().expect("client lock");
                        if slot.generation != generation {
                            return; // A newer connect replaced this one.
                        }
                        slot.client = Some(client);
                    }
                    let forward = tx.clone();
                    tokio::spawn(async move {
                        while let Some(event) = client_events.recv().await {
                            if forward.send(AppEvent::Client(event)).is_err() {
                                break;
                            }
                        }
                    });
                    Ok(welcome)
                }
            };
            if let Err(error) = &result {
                tracing::warn!(%error, "connect failed");
                if slot.lock().expect("client lock").generation != generation {
                    return;
                }
            }
            let _ = tx.send(AppEvent::Connected(result));
        });
    }

    fn request(&self, purpose: action::Purpose) {
        let Some(tx) = self.tx.clone() else { return };
        let client = self.client.lock().expect("client lock").client.clone();
        let _ = self.outbox.send(Outgoing {
            client,
            purpose,
            tx,
        });
    }

    /// Reads a directory for the picker on a blocking thread.
    fn list_dir(&self, dir: PathBuf) {
        let Some(tx) = self.tx.clone() else { return };
        tokio::task::spawn_blocking(move || {
            let result = picker::list_dir(&dir);
            let _ = tx.send(AppEvent::Listed { dir, result });
        });
    }

    fn send_file(&mut self, id: TransferId, path: PathBuf) {
        let client = self.client.lock().expect("client lock").client.clone();
        self.spawn_transfer(id, move |tx, done, cancel| async move {
            let Some(client) = client else {
                return Finish::Failed("not connected to the server".to_owned());
            };
            match tokio::fs::metadata(&path).await {
                Ok(meta) if meta.is_file() => {
                    let _ = tx.send(AppEvent::Transfer {
                        id,
                        update: TransferUpdate::Size(meta.len()),
                    });
                }
                Ok(_) => return Finish::Failed(format!("{} is not a file", path.display())),
                Err(e) => return Finish::Failed(format!("cannot read {}: {e}", path.display())),
            }
            let progress = move |n| done.store(n, Ordering::Relaxed);
            match client.send_file(&path, progress, cancel).await {
                Ok(_) => Finish::Sent,
                Err(error) => finish(error),
            }
        });
    }

    fn fetch_file(&mut self, id: TransferId, file: FileInfo) {
        let client = self.client.lock().expect("client lock").client.clone();
        let dir = self.download_dir.clone();
        self.spawn_transfer(id, move |_, done, cancel| async move {
            let Some(client) = client else {
                return Finish::Failed("not connected to the server".to_owned());
            };
            let dir = match dir {
                Ok(dir) => dir,
                Err(message) => return Finish::Failed(message),
            };
            let progress = move |n| done.store(n, Ordering::Relaxed);
            match client.fetch_file(&file, &dir, progress, cancel).await {
                Ok(path) => Finish::Saved(path),
                Err(error) => finish(error),
            }
        });
    }

    /// Runs a transfer on its own task and reports how it ended.
    fn spawn_transfer<F, Fut>(&mut self, id: TransferId, run: F)
    where
        F: FnOnce(UnboundedSender<AppEvent>, Arc<AtomicU64>, CancellationToken) -> Fut,
        Fut: Future<Output = Finish> + Send + 'static,
    {
        let Some(tx) = self.tx.clone() else { return };
        let done = Arc::new(AtomicU64::new(0));
        let cancel = CancellationToken::new();
        let work = run(tx.clone(), done.clone(), cancel.clone());
        let task = tokio::spawn(async move {
            let finish = work.await;
            if let Finish::Failed(error) = &finish {
                tracing::warn!(id, %error, "transfer failed");
            }
            let _ = tx.send(AppEvent::Transfer {
                id,
                update: TransferUpdate::Finished(finish),
            });
        });
        self.transfers.insert(
            id,
            Running {
                done,
                reported: 0,
                cancel,
                task,
            },
        );
    }

    /// The progress made since the last frame, as events; forgets
    /// transfers whose task is over (their end is already queued).
    fn progress(&mut self) -> Vec<AppEvent> {
        self.transfers
            .retain(|_, running| !running.task.is_finished());
        self.transfers
            .iter_mut()
            .filter_map(|(&id, running)| {
                let done = running.done.load(Ordering::Relaxed);
                (done != running.reported).then(|| {
                    running.reported = done;
                    AppEvent::Transfer {
                        id,
                        update: TransferUpdate::Progress(done),
                    }
                })
            })
            .collect()
    }

    fn save(&mut self, app: &App) {
        if app.name.is_empty() || app.group.is_empty() {
            return;
        }
        self.last
            .record(&app.server, &app.group, &app.name, app.last_seq);
        if let Err(error) = self.last.save(&self.data_dir) {
            tracing::warn!(%error, "cannot save the session");
        }
    }

    /// Leaving: tell the server, remember where we were.
    async fn goodbye(&mut self, app: &App) {
        // Unfinished uploads are withdrawn; partial downloads are deleted.
        let tasks: Vec<_> = self
            .transfers
            .drain()
            .map(|(_, running)| {
                running.cancel.cancel();
                running.task
            })
            .collect();
        let _ =
            tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(tasks)).await;
        let client = self.client.lock().expect("client lock").client.take();
        if let Some(client) = client {
            let _ = tokio::time::timeout(Duration::from_secs(2), client.disconnect()).await;
        }
        self.save(app);
        tracing::info!("client stopped");
    }
}
