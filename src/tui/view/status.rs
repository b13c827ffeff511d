//! The status bar (group, you, server, connection, what waits to be sent)
//! and the footer (the keys that work where the focus is, from the keymap).

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{connection_text, footer_line};
use crate::tui::{
    action::Action,
    app::{App, Popup},
    keymap::Context,
    model::{Chat, Focus},
    settings::Settings,
};

pub fn draw_status(frame: &mut Frame, area: Rect, app: &App, chat: &Chat, s: &Settings) {
    let theme = &s.theme;
    let role = if chat.roster.is_admin() {
        "admin"
    } else {
        "member"
    };
    let (conn, conn_style) = connection_text(app, s);
    let mut right = vec![Span::styled(format!(" {conn} "), conn_style)];
    let queued = chat.composer.outbox.queued();
    if queued > 0 {
        right.insert(
            0,
            Span::styled(format!(" queued ({queued}) "), theme.status_warn),
        );
    }
    if !app.mouse_captured {
        let key = s.keymap.key_for(Context::Global, Action::ToggleMouse);
        right.insert(
            0,
            Span::styled(format!(" mouse off ({key}) "), theme.status_bar),
        );
    }
    let right_width = right.iter().map(Span::width).sum::<usize>() as u16;
    let who = format!(" #{} │ {} ({role}) ", app.target.group, chat.roster.me());
    let server = format!("│ {} ", app.target.server);
    // The server goes first when room runs out; the connection state stays.
    let left_room = area.width.saturating_sub(right_width) as usize;
    let mut spans = vec![Span::styled(who.clone(), theme.status_bar)];
    if who.width() + server.width() <= left_room {
        spans.push(Span::styled(server, theme.status_bar));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.status_bar),
        area,
    );
    if right_width <= area.width {
        let right_area = Rect {
            x: area.right() - right_width,
            width: right_width,
            ..area
        };
        frame.render_widget(Paragraph::new(Line::from(right)), right_area);
    }
}

/// The contexts whose keys the footer shows.
fn footer_contexts(app: &App, chat: &Chat) -> Vec<Context> {
    match app.popup {
        Some(Popup::Confirm(_)) => vec![Context::Confirm],
        Some(Popup::Menu(_)) => vec![Context::Menu],
        Some(Popup::Help { .. }) => vec![Context::Popup],
        Some(Popup::Picker(_)) => vec![Context::Picker],
        Some(Popup::Files { .. }) => vec![Context::Files],
        None => {
            let pane = match chat.focus {
                Focus::Input => Context::Input,
                Focus::Messages => Context::Messages,
                Focus::Members => Context::Members,
                Focus::Requests => Context::Requests,
            };
            vec![pane, Context::Global]
        }
    }
}

pub fn draw_footer(frame: &mut Frame, area: Rect, app: &App, chat: &Chat, s: &Settings) {
    let admin = chat.roster.is_admin();
    let moving = !chat.files.transfers().is_empty();
    let shown = |action| match action {
        Action::Kick | Action::MakeAdmin | Action::Choose if chat.focus == Focus::Members => admin,
        Action::CancelTransfer => moving,
        _ => true,
    };
    let line = footer_line(s, &footer_contexts(app, chat), area.width, shown);
    frame.render_widget(Paragraph::new(line), area);
}
