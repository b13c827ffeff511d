//! The status bar (the conversation, you, server, connection, the join
//! requests waiting in every group you run, unread news elsewhere when the
//! conversations pane is hidden, what waits to be sent) and the footer
//! (the keys that work where the focus is, from the keymap).

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
    model::{Chat, Focus, conversation::Standing},
    settings::Settings,
};

pub fn draw_status(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    chat: &Chat,
    s: &Settings,
    pane_shown: bool,
) {
    let theme = &s.theme;
    let current = chat.current();
    let role = match current.map(|conv| &conv.standing) {
        None => "",
        Some(_) if current.is_some_and(|conv| conv.is_admin()) => " (admin)",
        Some(Standing::Member) => " (member)",
        Some(Standing::Direct) => "",
        Some(Standing::Pending) => " (asked to join)",
        Some(Standing::Rejected { .. }) => " (turned down)",
        Some(Standing::Removed { .. }) => " (removed)",
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
    let requests = chat.requests_waiting();
    if requests > 0 {
        let key = s.keymap.key_for(Context::Global, Action::FocusRequests);
        let plural = if requests == 1 { "" } else { "s" };
        right.insert(
            0,
            Span::styled(
                format!(" {requests} request{plural} ({key}) "),
                theme.status_warn,
            ),
        );
    }
    if !pane_shown {
        let others = chat
            .convs()
            .filter(|conv| Some(conv.id.as_str()) != chat.selected());
        let (unread, mentioned) = others.fold((0, false), |(n, m), conv| {
            (n + conv.unread.count(), m || conv.unread.mentions() > 0)
        });
        if unread > 0 {
            let style = if mentioned {
                theme.mention
            } else {
                theme.status_bar
            };
            right.insert(0, Span::styled(format!(" +{unread} unread "), style));
        }
    }
    if !app.mouse_captured {
        let key = s.keymap.key_for(Context::Global, Action::ToggleMouse);
        right.insert(
            0,
            Span::styled(format!(" mouse off ({key}) "), theme.status_bar),
        );
    }
    let right_width = right.iter().map(Span::width).sum::<usize>() as u16;
    let label = current.map_or_else(|| "PyconChat".to_owned(), |conv| conv.label());
    let server = format!("│ {} ", app.server.as_ref().unwrap_or(&app.target.server));
    // When room runs out the server goes first, then who you are; the
    // conversation and the connection state stay.
    let left_room = area.width.saturating_sub(right_width) as usize;
    let mut who = format!(" {label} │ {}{role} ", chat.me());
    if who.width() > left_room {
        who = format!(" {label} ");
    }
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
        Some(Popup::Switcher(_)) => vec![Context::Switcher],
        Some(Popup::Search(_)) => vec![Context::Search],
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
    let admin = chat.current().is_some_and(|conv| conv.is_admin());
    let moving = chat.transfers().next().is_some();
    let shown = |action| match action {
        Action::Kick | Action::MakeAdmin | Action::Choose if chat.focus == Focus::Members => admin,
        Action::CancelTransfer => moving,
        _ => true,
    };
    let line = footer_line(s, &footer_contexts(app, chat), area.width, shown);
    frame.render_widget(Paragraph::new(line), area);
}
