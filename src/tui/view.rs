//! Drawing: `draw` reads the state and never changes it. The layout is a
//! pure function of the state and the area, so `update` uses the same one
//! to scroll by a page and to find what a mouse click hit.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    text::Line,
    widgets::{Block, Borders, Clear, Paragraph, Wrap},
};

use super::{
    app::{App, Focus, Popup, Screen},
    confirm, files, help, input, login, members, messages, pending, picker, requests, status,
};

/// Below this the chat cannot be drawn usefully; a notice says so.
pub const MIN_WIDTH: u16 = 30;
pub const MIN_HEIGHT: u16 = 8;
/// Below this width the members pane is hidden (the messages need the room).
pub const NARROW_WIDTH: u16 = 64;
pub const SIDE_WIDTH: u16 = 26;

/// Where each part of the chat screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLayout {
    pub status: Rect,
    pub messages: Rect,
    pub members: Option<Rect>,
    pub requests: Option<Rect>,
    /// Transfers in progress, above the input line.
    pub transfers: Option<Rect>,
    pub input: Rect,
    pub footer: Rect,
}

impl ChatLayout {
    pub fn new(area: Rect, app: &App) -> ChatLayout {
        let [status, body, strip, input, footer] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(files::strip_height(app)),
            Constraint::Length(3),
            Constraint::Length(1),
        ]));
        let transfers = (!strip.is_empty()).then_some(strip);
        let wanted = app.requests.len() as u16 + 2;
        if area.width >= NARROW_WIDTH {
            let [messages, side] = body.layout(&Layout::horizontal([
                Constraint::Fill(1),
                Constraint::Length(SIDE_WIDTH),
            ]));
            if app.is_admin() {
                let height = wanted.clamp(3, (side.height / 2).max(3));
                let [members, requests] = side.layout(&Layout::vertical([
                    Constraint::Fill(1),
                    Constraint::Length(height),
                ]));
                ChatLayout {
                    status,
                    messages,
                    members: Some(members),
                    requests: Some(requests),
                    transfers,
                    input,
                    footer,
                }
            } else {
                ChatLayout {
                    status,
                    messages,
                    members: Some(side),
                    requests: None,
                    transfers,
                    input,
                    footer,
                }
            }
        } else if app.is_admin() && !app.requests.is_empty() {
            let height = wanted.min(5).min(body.height / 2);
            let [messages, requests] = body.layout(&Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(height),
            ]));
            ChatLayout {
                status,
                messages,
                members: None,
                requests: Some(requests),
                transfers,
                input,
                footer,
            }
        } else {
            ChatLayout {
                status,
                messages: body,
                members: None,
                requests: None,
                transfers,
                input,
                footer,
            }
        }
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

/// The inside of a bordered pane.
pub fn inner(area: Rect) -> Rect {
    Block::new().borders(Borders::ALL).inner(area)
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if too_small(area) {
        let text = format!(
            "Terminal too small ({}×{}). PyconChat needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(text)
                .style(app.settings.theme.error)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    match app.screen {
        Screen::Login => login::draw(frame, area, app),
        Screen::Connecting | Screen::Pending => pending::draw(frame, area, app),
        Screen::Chat => draw_chat(frame, area, app),
    }
    match &app.popup {
        None => {}
        Some(Popup::Help { scroll }) => help::draw(frame, area, app, *scroll),
        Some(Popup::Confirm(confirm)) => confirm::draw(frame, area, app, confirm),
        Some(Popup::Picker(state)) => picker::draw(frame, area, app, state),
        Some(Popup::Files { selected }) => files::draw_popup(frame, area, app, *selected),
    }
}

fn draw_chat(frame: &mut Frame, area: Rect, app: &App) {
    let layout = ChatLayout::new(area, app);
    let focus = if app.popup.is_some() {
        None
    } else {
        Some(app.focus)
    };
    status::draw_status(frame, layout.status, app);
    messages::draw(frame, layout.messages, app, focus == Some(Focus::Messages));
    if let Some(area) = layout.members {
        members::draw(frame, area, app, focus == Some(Focus::Members));
    }
    if let Some(area) = layout.requests {
        requests::draw(frame, area, app, focus == Some(Focus::Requests));
    }
    if let Some(area) = layout.transfers {
        files::draw_strip(frame, area, app);
    }
    input::draw(frame, layout.input, app, focus == Some(Focus::Input));
    status::draw_footer(frame, layout.footer, app);
}

/// A centred popup of at most `width` × `height`, cleared and bordered;
/// returns the area inside the border.
pub fn popup(
    frame: &mut Frame,
    area: Rect,
    width: u16,
    height: u16,
    title: Line<'_>,
    app: &App,
) -> Rect {
    let width = width.min(area.width.saturating_sub(2)).max(1);
    let height = height.min(area.height.saturating_sub(2)).max(1);
    let rect = Rect {
        x: area.x + area.width.saturating_sub(width) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(app.settings.theme.border_focused)
        .title(title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}
