//! The one source of events for the UI loop. Terminal input, the client's
//! events, request replies and signals all arrive on one channel, fed by
//! small tasks; a timer fires only when the state asks for one (the
//! reconnect countdown, transfer progress). Nothing here draws or touches
//! state.

use std::{path::PathBuf, time::Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEvent, MouseEvent};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{
    action::{Purpose, RequestError},
    model::{
        picker::Entry,
        transfer::{TransferId, TransferUpdate},
    },
};
use crate::{
    client::{ClientEvent, Connected},
    protocol::ReplyData,
};

/// Everything `update` reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// Bracketed paste: the whole pasted text at once.
    Paste(String),
    Resize(u16, u16),
    FocusGained,
    FocusLost,
    /// The first connection's outcome: the welcome and the server that
    /// gave it, or why it failed.
    Connected(Result<Connected, RequestError>),
    Client(ClientEvent),
    Reply {
        purpose: Purpose,
        result: Result<ReplyData, RequestError>,
    },
    /// A directory's entries for the file picker, or why it cannot be read.
    Listed {
        dir: PathBuf,
        result: Result<Vec<Entry>, String>,
    },
    /// News of an upload or a download.
    Transfer {
        id: TransferId,
        update: TransferUpdate,
    },
    /// Time passed (a countdown, transfer progress, the send queue's pace).
    Tick,
    /// SIGTERM or SIGHUP: leave cleanly.
    Terminate,
}

impl AppEvent {
    fn from_terminal(event: TermEvent) -> Option<AppEvent> {
        match event {
            TermEvent::Key(key) => Some(AppEvent::Key(key)),
            TermEvent::Mouse(mouse) => Some(AppEvent::Mouse(mouse)),
            TermEvent::Paste(text) => Some(AppEvent::Paste(text)),
            TermEvent::Resize(w, h) => Some(AppEvent::Resize(w, h)),
            TermEvent::FocusGained => Some(AppEvent::FocusGained),
            TermEvent::FocusLost => Some(AppEvent::FocusLost),
        }
    }
}

/// The receiving end, plus a sender that tasks clone to report back.
pub struct Events {
    tx: mpsc::UnboundedSender<AppEvent>,
    rx: mpsc::UnboundedReceiver<AppEvent>,
}

impl Events {
    /// Starts the terminal reader and the signal watcher.
    pub fn start() -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        let terminal = tx.clone();
        tokio::spawn(async move {
            let mut stream = EventStream::new();
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { break };
                if let Some(event) = AppEvent::from_terminal(event)
                    && terminal.send(event).is_err()
                {
                    break;
                }
            }
        });
        let signals = tx.clone();
        tokio::spawn(async move {
            terminate_signal().await;
            let _ = signals.send(AppEvent::Terminate);
        });
        Events { tx, rx }
    }

    pub fn sender(&self) -> mpsc::UnboundedSender<AppEvent> {
        self.tx.clone()
    }

    /// An event that is already waiting, if any.
    pub fn try_next(&mut self) -> Option<AppEvent> {
        self.rx.try_recv().ok()
    }

    /// The next event, or a `Tick` at `tick` if nothing came before it.
    pub async fn next(&mut self, tick: Option<Instant>) -> Option<AppEvent> {
        match tick {
            Some(at) => tokio::select! {
                event = self.rx.recv() => event,
                () = tokio::time::sleep_until(at.into()) => Some(AppEvent::Tick),
            },
            None => self.rx.recv().await,
        }
    }
}

#[cfg(unix)]
async fn terminate_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

#[cfg(not(unix))]
async fn terminate_signal() {
    std::future::pending::<()>().await
}
