//! Drawing: `draw` reads the state and the settings and never changes
//! them. The layout is a pure function of the chat and the area, so
//! `update` uses the same one to scroll by a page and to find what a mouse
//! click hit. Each pane and popup has its own file; they share only
//! [`widgets`].

pub mod confirm;
pub mod conversations;
pub mod files;
pub mod help;
pub mod input;
pub mod login;
pub mod members;
pub mod messages;
pub mod pending;
pub mod picker;
pub mod requests;
pub mod search;
pub mod status;
pub mod switcher;
pub mod widgets;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    widgets::{Paragraph, Wrap},
};

use super::{
    app::{App, Popup, Screen},
    model::{Chat, Focus},
    settings::Settings,
};

/// Below this the chat cannot be drawn usefully; a notice says so.
pub const MIN_WIDTH: u16 = 30;
pub const MIN_HEIGHT: u16 = 8;
/// Below this width the side panes are hidden (the messages need the room).
pub const NARROW_WIDTH: u16 = 64;
/// From this width the side panes are wider.
pub const WIDE_WIDTH: u16 = 100;

/// Where each part of the chat screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLayout {
    pub status: Rect,
    /// The list of conversations, on the left.
    pub conversations: Option<Rect>,
    pub messages: Rect,
    pub members: Option<Rect>,
    pub requests: Option<Rect>,
    /// Transfers in progress, above the input line.
    pub transfers: Option<Rect>,
    pub input: Rect,
    pub footer: Rect,
}

impl ChatLayout {
    pub fn new(area: Rect, chat: &Chat) -> ChatLayout {
        let [status, body, strip, input, footer] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(files::strip_height(chat)),
            Constraint::Length(3),
            Constraint::Length(1),
        ]));
        let mut layout = ChatLayout {
            status,
            conversations: None,
            messages: body,
            members: None,
            requests: None,
            transfers: (!strip.is_empty()).then_some(strip),
            input,
            footer,
        };
        let mut body = body;
        if chat.conv_pane && area.width >= NARROW_WIDTH {
            let width = if area.width >= WIDE_WIDTH { 20 } else { 14 };
            let [list, rest] = body.layout(&Layout::horizontal([
                Constraint::Length(width),
                Constraint::Fill(1),
            ]));
            layout.conversations = Some(list);
            layout.messages = rest;
            body = rest;
        }
        let Some(conv) = chat.current().filter(|conv| conv.readable()) else {
            return layout;
        };
        let admin = conv.is_admin();
        let requests = conv.roster.requests();
        let wanted = requests.len() as u16 + 2;
        if !chat.side_panes {
            return layout;
        }
        if area.width >= NARROW_WIDTH {
            let side_width = if area.width >= WIDE_WIDTH { 26 } else { 20 };
            let [messages, side] = body.layout(&Layout::horizontal([
                Constraint::Fill(1),
                Constraint::Length(side_width),
            ]));
            layout.messages = messages;
            if admin {
                let height = wanted.clamp(3, (side.height / 2).max(3));
                let [members, requests] = side.layout(&Layout::vertical([
                    Constraint::Fill(1),
                    Constraint::Length(height),
                ]));
                layout.members = Some(members);
                layout.requests = Some(requests);
            } else {
                layout.members = Some(side);
            }
        } else if admin && !requests.is_empty() {
            let height = wanted.min(5).min(body.height / 2);
            let [messages, requests] = body.layout(&Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(height),
            ]));
            layout.messages = messages;
            layout.requests = Some(requests);
        }
        layout
    }

    /// The panes Tab cycles through, in order.
    pub fn focus_order(&self) -> Vec<Focus> {
        let mut order = vec![Focus::Input, Focus::Messages];
        if self.members.is_some() {
            order.push(Focus::Members);
        }
        if self.requests.is_some() {
            order.push(Focus::Requests);
        }
        order
    }
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

pub fn draw(frame: &mut Frame, app: &App, s: &Settings) {
    let area = frame.area();
    if too_small(area) {
        let text = format!(
            "Terminal too small ({}×{}). PyconChat needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(text)
                .style(s.theme.error)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    match &app.screen {
        Screen::Login(form) => login::draw(frame, area, app, form, s),
        Screen::Chat(chat) if chat.lone_waiting().is_none() => draw_chat(frame, area, app, chat, s),
        Screen::Connecting | Screen::Chat(_) => pending::draw(frame, area, app, s),
    }
    match &app.popup {
        None => {}
        Some(Popup::Help { scroll }) => help::draw(frame, area, s, *scroll),
        Some(Popup::Confirm(confirm)) => confirm::draw(frame, area, confirm, s),
        Some(Popup::Menu(menu)) => confirm::draw_menu(frame, area, menu, s),
        Some(Popup::Picker(picker)) => picker::draw(frame, area, picker, s),
        Some(Popup::Files { selected }) => {
            if let Some(conv) = app.chat().and_then(|chat| chat.current()) {
                files::draw_popup(frame, area, conv, s, *selected);
            }
        }
        Some(Popup::Switcher(switcher)) => {
            if let Some(chat) = app.chat() {
                switcher::draw(frame, area, chat, switcher, s);
            }
        }
        Some(Popup::Search(search)) => {
            if let Some(chat) = app.chat() {
                search::draw(frame, area, chat, search, s);
            }
        }
    }
}

fn draw_chat(frame: &mut Frame, area: Rect, app: &App, chat: &Chat, s: &Settings) {
    let layout = ChatLayout::new(area, chat);
    let focus = app.popup.is_none().then_some(chat.focus);
    let pane = layout.conversations;
    status::draw_status(frame, layout.status, app, chat, s, pane.is_some());
    if let Some(area) = pane {
        conversations::draw(frame, area, chat, s);
    }
    messages::draw(
        frame,
        layout.messages,
        chat,
        s,
        focus == Some(Focus::Messages),
    );
    if let Some(conv) = chat.current() {
        if let Some(area) = layout.members {
            members::draw(frame, area, conv, s, focus == Some(Focus::Members));
        }
        if let Some(area) = layout.requests {
            requests::draw(frame, area, conv, s, focus == Some(Focus::Requests));
        }
    }
    if let Some(area) = layout.transfers {
        files::draw_strip(frame, area, chat, s);
    }
    input::draw(
        frame,
        layout.input,
        app,
        chat,
        s,
        focus == Some(Focus::Input),
    );
    status::draw_footer(frame, layout.footer, app, chat, s);
}
