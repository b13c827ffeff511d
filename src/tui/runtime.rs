//! The effect runtime: the one place that touches the network, the disk
//! and the terminal on `update`'s behalf. It owns the connection, starts
//! transfers on tasks of their own and reports back as events, so the
//! render loop never awaits the network.

use std::{
    collections::HashMap,
    future::Future,
    io::Write,
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crossterm::{
    event::{DisableMouseCapture, EnableMouseCapture},
    execute,
};
use tokio::{sync::mpsc::UnboundedSender, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{
    action::{Effect, Failure, Purpose, RequestError, Target},
    app::App,
    event::AppEvent,
    model::{
        picker,
        transfer::{Finish, TransferId, TransferUpdate},
    },
};
use crate::{
    client::{
        Client, ClientError, ClientEvent, ConnectOptions, Identity, LAST_SERVER_FILE,
        TransferError, Transport,
    },
    protocol::{ConvId, ErrorCode, FileInfo},
};

/// Writes straight to the terminal (the bell, a notification's escape
/// sequence), between frames.
fn write_out(text: &str) {
    let mut out = std::io::stdout();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// A client error as a failure kind and one plain sentence; the details
/// (TLS internals, frame errors) go to the log, not the screen.
fn request_error(error: ClientError) -> RequestError {
    let failure = match &error {
        ClientError::Server(body) if body.code == ErrorCode::RateLimited => Failure::RateLimited,
        ClientError::Server(_) | ClientError::Unexpected(_) => Failure::Refused,
        ClientError::NotConnected | ClientError::Connect { .. } => Failure::NotSent,
        _ => Failure::Lost,
    };
    RequestError {
        failure,
        message: plain(&error),
    }
}

/// What went wrong, in words for the screen.
fn plain(error: &ClientError) -> String {
    match error {
        ClientError::Server(body) => body.message.clone(),
        ClientError::Tls { server, source } => {
            tracing::warn!(%server, %source, "TLS failed");
            format!(
                "could not open an encrypted connection to {server} (is it a PyconChat server? \
                 one started with --plaintext needs --plaintext here too); details in the log"
            )
        }
        ClientError::Frame(source) => {
            tracing::warn!(%source, "connection error");
            "the connection broke; details in the log".to_owned()
        }
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
        TransferError::Client(error) => Finish::Failed(plain(&error)),
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

/// The slot, even if a task panicked while holding it (the slot holds no
/// invariant a panic could break).
fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// How to connect, fixed for the client's run.
pub struct Connection {
    pub identity: Identity,
    pub max_frame_bytes: usize,
    pub transport: Transport,
}

pub struct Runtime {
    /// Shared with the connect task, which fills it in.
    client: Arc<Mutex<Slot>>,
    connection: Connection,
    data_dir: PathBuf,
    tx: UnboundedSender<AppEvent>,
    /// Where downloads go, or why there is nowhere.
    download_dir: PathBuf,
    transfers: HashMap<TransferId, Running>,
    /// The next frame must clear the terminal first.
    redraw: bool,
}

impl Runtime {
    pub fn new(
        connection: Connection,
        data_dir: PathBuf,
        download_dir: PathBuf,
        tx: UnboundedSender<AppEvent>,
    ) -> Runtime {
        Runtime {
            client: Arc::new(Mutex::new(Slot::default())),
            connection,
            data_dir,
            tx,
            download_dir,
            transfers: HashMap::new(),
            redraw: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        lock(&self.client)
    }

    pub fn perform(&mut self, app: &mut App, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Connect(target) => self.connect(app, target),
                Effect::Hurry => {
                    if let Some(client) = &self.lock().client {
                        client.reconnect_now();
                    }
                }
                Effect::Request(purpose) => self.request(purpose),
                Effect::Bell => write_out("\x07"),
                Effect::Notify { osc, title, body } => write_out(&osc.sequence(&title, &body)),
                Effect::Redraw => self.redraw = true,
                Effect::CaptureMouse(on) => {
                    let _ = if on {
                        execute!(std::io::stdout(), EnableMouseCapture)
                    } else {
                        execute!(std::io::stdout(), DisableMouseCapture)
                    };
                }
                Effect::SaveSession => self.save(app),
                Effect::SaveSavedFiles => {
                    if let Err(error) = app.saved.save(&self.data_dir) {
                        tracing::warn!(%error, "cannot save the record of saved files");
                    }
                }
                Effect::ListDir(dir) => self.list_dir(dir),
                Effect::SendFile { id, conv, path } => self.send_file(id, conv, path),
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

    /// Whether the next frame must clear the terminal first (once).
    pub fn take_redraw(&mut self) -> bool {
        std::mem::take(&mut self.redraw)
    }

    fn connect(&mut self, app: &App, target: Target) {
        let generation = {
            let mut slot = self.lock();
            slot.generation += 1;
            // Dropping the old handle ends its connection.
            slot.client = None;
            slot.generation
        };
        let mut options = ConnectOptions::new(
            &target.server,
            &target.name,
            &target.group,
            self.connection.identity.clone(),
        );
        options.max_frame_bytes = self.connection.max_frame_bytes;
        options.transport = self.connection.transport.clone();
        options.last_seq = app.resume();
        options.remember = Some(self.data_dir.join(LAST_SERVER_FILE));
        let tx = self.tx.clone();
        let slot = self.client.clone();
        tracing::info!(server = %target.server, name = %target.name, group = %target.group, "connecting");
        tokio::spawn(async move {
            let connect = tokio::time::timeout(Duration::from_secs(15), Client::connect(options));
            let result = match connect.await {
                Err(_) => Err(RequestError {
                    failure: Failure::NotSent,
                    message: format!("no answer from {} within 15 s", target.server),
                }),
                Ok(Err(e)) => Err(request_error(e)),
                Ok(Ok((client, connected, mut client_events))) => {
                    {
                        let mut slot = lock(&slot);
                        if slot.generation != generation {
                            return; // A newer connect replaced this one.
                        }
                        slot.client = Some(client);
                    }
                    let forward = tx.clone();
                    tokio::spawn(async move {
                        while let Some(event) = client_events.recv().await {
                            if let ClientEvent::Reconnecting {
                                reason, attempt, ..
                            } = &event
                            {
                                tracing::info!(%reason, attempt, "connection lost; reconnecting");
                            }
                            if forward.send(AppEvent::Client(event)).is_err() {
                                break;
                            }
                        }
                    });
                    Ok(connected)
                }
            };
            if let Err(error) = &result {
                tracing::warn!(error = %error.message, "connect failed");
                let slot = lock(&slot);
                if slot.generation != generation {
                    return;
                }
            }
            let _ = tx.send(AppEvent::Connected(result));
        });
    }

    /// Queues the request with the connection now, so requests leave in
    /// the order they were made, and awaits its reply on a task of its
    /// own, so a slow one holds up nothing.
    fn request(&self, purpose: Purpose) {
        let client = self.lock().client.clone();
        let reply = match client {
            Some(client) => client.queue(purpose.request()).map_err(request_error),
            None => Err(RequestError {
                failure: Failure::NotSent,
                message: "not connected to the server".to_owned(),
            }),
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = match reply {
                Ok(reply) => reply.await.map_err(request_error),
                Err(error) => Err(error),
            };
            let _ = tx.send(AppEvent::Reply { purpose, result });
        });
    }

    /// Reads a directory for the picker on a blocking thread.
    fn list_dir(&self, dir: PathBuf) {
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = picker::list_dir(&dir);
            let _ = tx.send(AppEvent::Listed { dir, result });
        });
    }

    fn send_file(&mut self, id: TransferId, conv: ConvId, path: PathBuf) {
        let client = self.lock().client.clone();
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
            match client.send_file(&conv, &path, progress, cancel).await {
                Ok(_) => Finish::Sent,
                Err(error) => finish(error),
            }
        });
    }

    fn fetch_file(&mut self, id: TransferId, file: FileInfo) {
        let client = self.lock().client.clone();
        let dir = self.download_dir.clone();
        self.spawn_transfer(id, move |_, done, cancel| async move {
            let Some(client) = client else {
                return Finish::Failed("not connected to the server".to_owned());
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
        let tx = self.tx.clone();
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
    pub fn progress(&mut self) -> Vec<AppEvent> {
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

    /// Writes the remembered session.
    pub fn save(&mut self, app: &mut App) {
        app.remember();
        if let Err(error) = app.session.save(&self.data_dir) {
            tracing::warn!(%error, "cannot save the session");
        }
    }

    /// Leaving: tell the server, remember where we were.
    pub async fn goodbye(&mut self, app: &mut App) {
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
        let client = self.lock().client.take();
        if let Some(client) = client {
            let _ = tokio::time::timeout(Duration::from_secs(2), client.disconnect()).await;
        }
        self.save(app);
        tracing::info!("client stopped");
    }
}
