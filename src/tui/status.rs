//! The status bar (server, group, you, connection) and the footer (the keys
//! that work in the focused pane, from the keymap).

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use unicode_width::UnicodeWidthStr;

use super::{
    action::Action,
    app::{App, Conn, Focus, Popup},
    keymap::Context,
};

pub fn connection_text(app: &App) -> (String, ratatui::style::Style) {
    let theme = &app.settings.theme;
    match &app.conn {
        Conn::Connecting => ("◌ connecting…".to_owned(), theme.status_warn),
        Conn::Connected if app.settings.plaintext => {
            ("● connected, unencrypted".to_owned(), theme.status_warn)
        }
        Conn::Connected => ("● connected".to_owned(), theme.status_ok),
        Conn::Reconnecting { attempt, .. } => (
            format!(
                "◌ reconnecting in {} s (attempt {attempt})",
                app.reconnect_in().unwrap_or(0)
            ),
            theme.status_warn,
        ),
        Conn::Offline(reason) => (format!("○ offline: {reason}"), theme.status_bad),
    }
}

pub fn draw_status(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let role = if app.is_admin() { "admin" } else { "member" };
    let (conn, conn_style) = connection_text(app);
    let conn = format!(" {conn} ");
    let conn_width = conn.width() as u16;
    let who = format!(" #{} │ {} ({role}) ", app.group, app.name);
    let server = format!("│ {} ", app.server);
    // The server goes first when room runs out; the connection state stays.
    let left_room = area.width.saturating_sub(conn_width) as usize;
    let mut spans = vec![Span::styled(who.clone(), theme.status_bar)];
    if who.width() + server.width() <= left_room {
        spans.push(Span::styled(server, theme.status_bar));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.status_bar),
        area,
    );
    if conn_width <= area.width {
        let right = Rect {
            x: area.right() - conn_width,
            width: conn_width,
            ..area
        };
        frame.render_widget(Paragraph::new(Span::styled(conn, conn_style)), right);
    }
}

/// The contexts whose keys the footer shows for the focused pane.
pub fn footer_contexts(app: &App) -> Vec<Context> {
    let pane = match app.focus {
        Focus::Input => Context::Input,
        Focus::Messages => Context::Messages,
        Focus::Members => Context::Members,
        Focus::Requests => Context::Requests,
    };
    vec![pane, Context::Global]
}

/// The footer's keys, as many whole entries as fit in `width` columns.
pub fn footer_line<'a>(app: &App, contexts: &[Context], width: u16) -> Line<'a> {
    let theme = &app.settings.theme;
    let mut seen = Vec::new();
    let mut spans = Vec::new();
    let mut used = 0;
    let admin = app.is_admin();
    let moving = !app.transfers.is_empty();
    let shown = |action| match action {
        Action::Kick | Action::MakeAdmin => admin,
        Action::CancelTransfer => moving,
        _ => true,
    };
    for (keys, label) in app.settings.keymap.footer_where(contexts, shown) {
        if seen.contains(&label) {
            continue;
        }
        seen.push(label);
        let key = format!(" {keys} ");
        let label = format!(" {label}  ");
        let w = key.width() + label.width();
        if used + w > width as usize + 2 {
            break;
        }
        used += w;
        spans.push(Span::styled(key, theme.footer_key));
        spans.push(Span::styled(label, theme.footer_label));
    }
    Line::from(spans)
}

pub fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let contexts = match app.popup {
        Some(Popup::Confirm(_)) => vec![Context::Confirm],
        Some(Popup::Help { .. }) => vec![Context::Popup],
        Some(Popup::Picker(_)) => vec![Context::Picker],
        Some(Popup::Files { .. }) => vec![Context::Files],
        None => footer_contexts(app),
    };
    let line = footer_line(app, &contexts, area.width);
    frame.render_widget(Paragraph::new(line), area);
}
