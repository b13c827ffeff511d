//! The client's state: which screen shows (each screen carries its own
//! state), the popup over it, and the connection. `update` changes it; the
//! view only reads it. Settings live apart, in [`super::settings`].

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use ratatui::layout::Size;

use super::{
    action::{Purpose, Target},
    model::{
        Chat, conversation::Standing, login::LoginForm, picker::Picker, search::Search,
        switcher::Switcher, transfer::PROGRESS_INTERVAL,
    },
    session::{LastSession, SavedFiles},
};
use crate::protocol::{ConvId, Seq};

#[derive(Debug, Clone)]
pub enum Screen {
    Login(Box<LoginForm>),
    /// Waiting for the first connection to answer.
    Connecting,
    /// Every conversation of the user; when the only one waits for an
    /// admin, it shows as the waiting screen.
    Chat(Box<Chat>),
}

/// The connection as the status bar tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Reconnecting { attempt: u32, at: Instant },
    Offline(String),
}

/// A question before a consequential action; it carries what it confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub title: String,
    pub question: String,
    pub purpose: Purpose,
}

/// What can be done to the selected member or request; each choice asks
/// before it acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub title: String,
    pub choices: Vec<(String, Confirm)>,
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    Confirm(Confirm),
    Menu(Menu),
    /// Pick a file to send.
    Picker(Picker),
    /// The files shared, newest first; `selected` counts from the newest.
    Files {
        selected: usize,
    },
    /// Go to a conversation by typing part of its name.
    Switcher(Switcher),
    /// Search the history of every conversation.
    Search(Search),
}

pub struct App {
    pub screen: Screen,
    pub popup: Option<Popup>,
    /// Where we connect (or are connected) and as whom.
    pub target: Target,
    /// The address of the target's server list that answered last.
    pub server: Option<String>,
    pub conn: Conn,
    /// What is remembered between runs; the runtime writes it.
    pub session: LastSession,
    /// The files saved here, in this run and earlier ones; the runtime
    /// writes it.
    pub saved: SavedFiles,
    pub window_focused: bool,
    /// The mouse is captured (wheel, clicks); off, the terminal selects text.
    pub mouse_captured: bool,
    /// The terminal's size, for layout-dependent decisions (scrolling, clicks).
    pub size: Size,
    pub now: Instant,
    pub quit: bool,
}

impl App {
    pub fn new(target: Target, session: LastSession, saved: SavedFiles) -> App {
        App {
            screen: Screen::Login(Box::new(LoginForm::new(&target))),
            popup: None,
            target,
            server: None,
            conn: Conn::Connecting,
            session,
            saved,
            window_focused: true,
            mouse_captured: true,
            size: Size::new(80, 24),
            now: Instant::now(),
            quit: false,
        }
    }

    pub fn chat(&self) -> Option<&Chat> {
        match &self.screen {
            Screen::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    pub fn chat_mut(&mut self) -> Option<&mut Chat> {
        match &mut self.screen {
            Screen::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    /// The chat, with the record of saved files to look files up in.
    pub fn chat_and_saved(&mut self) -> Option<(&mut Chat, &SavedFiles)> {
        match &mut self.screen {
            Screen::Chat(chat) => Some((chat, &self.saved)),
            _ => None,
        }
    }

    /// Per conversation, where the log resumes on the next connection:
    /// after what was received here and read; before the chat opens,
    /// where the remembered session says.
    pub fn resume(&self) -> BTreeMap<ConvId, Seq> {
        match self.chat() {
            Some(chat) => chat
                .convs()
                .filter_map(|conv| {
                    let seen = conv.seen?;
                    Some((conv.id.clone(), seen.min(conv.unread.read())))
                })
                .collect(),
            None => self.session.resume(&self.target.server, &self.target.name),
        }
    }

    /// Notes in the remembered session where we are.
    pub fn remember(&mut self) {
        let resume = self.resume();
        let shown = self
            .chat()
            .and_then(|chat| chat.selected().map(str::to_owned));
        let Target { server, name, .. } = &self.target;
        if !name.is_empty() {
            self.session.record(server, name, shown, resume);
        }
    }

    /// Seconds until `at`, rounded up.
    pub fn seconds_until(&self, at: Instant) -> u64 {
        let left = at.saturating_duration_since(self.now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }

    /// Seconds until the next reconnect attempt.
    pub fn reconnect_in(&self) -> Option<u64> {
        match self.conn {
            Conn::Reconnecting { at, .. } => Some(self.seconds_until(at)),
            _ => None,
        }
    }

    /// When the screen needs an update with no event: a countdown's next
    /// second, transfer progress (which the runtime collects at these
    /// ticks, so a fast transfer costs ten frames a second at most), and
    /// the next message the send queue may let out.
    pub fn next_tick(&self) -> Option<Instant> {
        let second = |at: Instant| {
            (at > self.now).then(|| {
                let left = at - self.now;
                let sub = Duration::from_nanos(u64::from(left.subsec_nanos()));
                self.now
                    + if sub.is_zero() {
                        Duration::from_secs(1)
                    } else {
                        sub
                    }
            })
        };
        let countdown = match self.conn {
            Conn::Reconnecting { at, .. } => second(at),
            _ => None,
        };
        let Some(chat) = self.chat() else {
            return countdown;
        };
        let progress = (chat.transfers().next().is_some()).then(|| self.now + PROGRESS_INTERVAL);
        let queue = chat
            .composer
            .outbox
            .wake_at(self.now)
            .filter(|&at| at > self.now);
        let again = chat.convs().find_map(|conv| match conv.standing {
            Standing::Rejected {
                again_at: Some(at), ..
            } => second(at),
            _ => None,
        });
        [countdown, progress, queue, again, chat.mark_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// The terminal window's title: the conversation shown and the unread
    /// count of them all.
    pub fn title(&self) -> String {
        let Some(chat) = self.chat() else {
            return "pyconchat".to_owned();
        };
        let shown = chat
            .current()
            .map(|conv| format!(" · {}", conv.label()))
            .unwrap_or_default();
        match chat.unread() {
            0 => format!("pyconchat{shown}"),
            n => format!("({n}) pyconchat{shown}"),
        }
    }
}
