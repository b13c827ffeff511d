//! The screens before the chat: connecting, and waiting for the admin.

use ratatui::{
    Frame,
    layout::Rect,
    text::Line,
    widgets::{Paragraph, Wrap},
};

use super::widgets::{connection_text, footer_line, popup};
use crate::tui::{
    action::Action,
    app::{App, Conn, Screen, Waiting},
    keymap::Context,
    settings::Settings,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Settings) {
    let theme = &s.theme;
    let keymap = &s.keymap;
    let quit = keymap.key_for(Context::Pending, Action::Quit);
    let target = &app.target;
    let waiting = match &app.screen {
        Screen::Pending(waiting) => waiting.clone(),
        _ => Waiting::default(),
    };
    let (title, mut lines) = if matches!(app.screen, Screen::Connecting) {
        (
            " Connecting ",
            vec![Line::raw(format!(
                "Connecting to {} as {}…",
                target.server, target.name
            ))],
        )
    } else if let Some(by) = &waiting.rejected_by {
        let again = keymap.key_for(Context::Pending, Action::AskAgain);
        let next = match waiting.again_at {
            Some(at) if at > app.now => format!(
                "You can ask again in {} s; {quit} quits.",
                app.seconds_until(at)
            ),
            _ if app.conn == Conn::Connecting => "Asking again…".to_owned(),
            _ => format!("Press {again} to ask again, or {quit} to quit."),
        };
        (
            " Request turned down ",
            vec![
                Line::styled(
                    format!("{by} turned down your request to join #{}.", target.group),
                    theme.error,
                ),
                Line::raw(""),
                Line::raw(next),
            ],
        )
    } else {
        (
            " Waiting for approval ",
            vec![
                Line::raw(format!(
                    "You asked to join #{} as {}.",
                    target.group, target.name
                )),
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
    if !matches!(app.conn, Conn::Connected | Conn::Connecting) && waiting.rejected_by.is_none() {
        let (conn, style) = connection_text(app, s);
        lines.push(Line::raw(""));
        lines.push(Line::styled(conn, style));
    }
    let inner = popup(
        frame,
        area,
        60,
        lines.len() as u16 + 6,
        Line::styled(title, theme.title),
        s,
    );
    let footer = Rect {
        y: inner.bottom().saturating_sub(1),
        height: 1,
        ..inner
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    let can_ask = waiting.rejected_by.is_some();
    frame.render_widget(
        Paragraph::new(footer_line(s, &[Context::Pending], footer.width, |a| {
            a != Action::AskAgain || can_ask
        })),
        footer,
    );
}
