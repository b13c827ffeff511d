//! The screens before the chat: connecting, and waiting for the admin.

use ratatui::{
    Frame,
    layout::Rect,
    text::Line,
    widgets::{Paragraph, Wrap},
};

use super::{
    action::Action,
    app::{App, Conn, Screen},
    keymap::Context,
    status::{connection_text, footer_line},
    view,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let keymap = &app.settings.keymap;
    let quit = keymap.key_for(Context::Pending, Action::Quit);
    let (title, mut lines) = if app.screen == Screen::Connecting {
        (
            " Connecting ",
            vec![Line::raw(format!(
                "Connecting to {} as {}…",
                app.server, app.name
            ))],
        )
    } else if let Some(by) = &app.rejected_by {
        let again = keymap.key_for(Context::Pending, Action::AskAgain);
        (
            " Request turned down ",
            vec![
                Line::styled(
                    format!("{by} turned down your request to join #{}.", app.group),
                    theme.error,
                ),
                Line::raw(""),
                Line::raw(format!("Press {again} to ask again, or {quit} to quit.")),
            ],
        )
    } else {
        (
            " Waiting for approval ",
            vec![
                Line::raw(format!("You asked to join #{} as {}.", app.group, app.name)),
                Line::raw(""),
                Line::raw(
                    "The group's admin has been asked. This screen moves on by itself as soon as they let you in.",
                ),
                Line::raw(""),
                Line::styled(
                    format!("Press {quit} to quit; your request stays open."),
                    theme.hint,
                ),
            ],
        )
    };
    if !matches!(app.conn, Conn::Connected | Conn::Connecting) && app.rejected_by.is_none() {
        let (conn, style) = connection_text(app);
        lines.push(Line::raw(""));
        lines.push(Line::styled(conn, style));
    }
    let inner = view::popup(
        frame,
        area,
        60,
        lines.len() as u16 + 5,
        Line::styled(title, theme.title),
        app,
    );
    let footer = Rect {
        y: inner.bottom().saturating_sub(1),
        height: 1,
        ..inner
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    let contexts = [Context::Pending];
    frame.render_widget(
        Paragraph::new(footer_line(app, &contexts, footer.width)),
        footer,
    );
}
