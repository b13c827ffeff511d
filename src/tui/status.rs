//! The status bar (server, group, you, connection) and the footer (the keys
//! that work in the focused pane, from the keymap).

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::{
    app::{App, Conn, Focus},
    keymap::Context,
};

pub fn connection_text(app: &App) -> (String, ratatui::style::Style) {
    let theme = &app.settings.theme;
    match &app.conn {
        Conn::Connecting => ("◌ connecting…".to_owned(), theme.status_warn),
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
    let line = Line::from(vec![
        Span::styled(" pyconchat ", theme.status_ok),
        Span::raw(format!(
            "│ {} │ #{} │ {} ({role}) │ ",
            app.server, app.group, app.name
        )),
        Span::styled(conn, conn_style),
    ])
    .style(theme.status_bar);
    frame.render_widget(Paragraph::new(line).style(theme.status_bar), area);
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

pub fn footer_line<'a>(app: &App, contexts: &[Context]) -> Line<'a> {
    let theme = &app.settings.theme;
    let mut seen = Vec::new();
    let mut spans = Vec::new();
    for (keys, label) in app.settings.keymap.footer(contexts) {
        if seen.contains(&label) {
            continue;
        }
        seen.push(label);
        spans.push(Span::styled(format!(" {keys} "), theme.footer_key));
        spans.push(Span::styled(format!(" {label}  "), theme.footer_label));
    }
    Line::from(spans)
}

pub fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let contexts = match app.popup {
        Some(super::app::Popup::Confirm(_)) => vec![Context::Confirm],
        Some(_) => vec![Context::Popup],
        None => footer_contexts(app),
    };
    frame.render_widget(Paragraph::new(footer_line(app, &contexts)), area);
}
