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
    app::{App, Conn, Screen},
    keymap::Context,
    model::conversation::Standing,
    settings::Settings,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Settings) {
    let theme = &s.theme;
    let keymap = &s.keymap;
    let quit = keymap.key_for(Context::Pending, Action::Quit);
    let target = &app.target;
    let conv = match &app.screen {
        Screen::Chat(chat) => chat.lone_waiting(),
        _ => None,
    };
    let rejected = conv.and_then(|conv| match &conv.standing {
        Standing::Rejected { by, again_at } => Some((by, *again_at)),
        _ => None,
    });
    let group = conv.map(|conv| conv.label()).unwrap_or_default();
    let (title, mut lines) = if conv.is_none() {
        (
            " Connecting ",
            vec![Line::raw(format!(
                "Connecting to {} as {}…",
                target.server, target.name
            ))],
        )
    } else if let Some((by, again_at)) = rejected {
        let again = keymap.key_for(Context::Pending, Action::AskAgain);
        let next = match again_at {
            Some(at) if at > app.now => format!(
                "You can ask again in {} s; {quit} quits.",
                app.seconds_until(at)
            ),
            _ => format!("Press {again} to ask again, or {quit} to quit."),
        };
        (
            " Request turned down ",
            vec![
                Line::styled(
                    format!("{by} turned down your request to join {group}."),
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
                Line::raw(format!("You asked to join {group} as {}.", target.name)),
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
    if !matches!(app.conn, Conn::Connected | Conn::Connecting) && rejected.is_none() {
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
    let can_ask = rejected.is_some();
    frame.render_widget(
        Paragraph::new(footer_line(s, &[Context::Pending], footer.width, |a| {
            a != Action::AskAgain || can_ask
        })),
        footer,
    );
}
