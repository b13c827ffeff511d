//! The input line. The text may hold newlines (a multi-line paste is one
//! message); they are shown as `↵`. The cursor and the horizontal scroll
//! count display columns.

use ratatui::{
    Frame,
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::Paragraph,
};

use super::widgets::{cursor_and_scroll, window};
use crate::tui::{
    app::{App, Conn},
    model::{Chat, conversation::Standing},
    settings::Settings,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, chat: &Chat, s: &Settings, focused: bool) {
    let theme = &s.theme;
    let standing = chat.current().map(|conv| &conv.standing);
    let title = match (&app.conn, standing) {
        (_, None) => " Command (/join GROUP) ".to_owned(),
        (_, Some(Standing::Removed { .. })) => {
            " Message (not in the group: it will not send) ".to_owned()
        }
        (_, Some(Standing::Pending | Standing::Rejected { .. })) => {
            " Message (not in the group yet: it will not send) ".to_owned()
        }
        (Conn::Connected, _) => " Message ".to_owned(),
        _ => " Message (not connected: it waits and goes when back) ".to_owned(),
    };
    let mut block = theme.pane(title, theme.title, focused);
    if let Some(completion) = chat.composer.completion()
        && completion.candidates.len() > 1
    {
        block = block.title_bottom(Span::styled(
            format!(" Tab: {} ", completion.candidates.join(" ")),
            theme.hint,
        ));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    let input = &chat.composer.input;
    let value = input.value();
    if value.is_empty() {
        let hint = if focused {
            "Type a message, or /help for commands"
        } else {
            ""
        };
        frame.render_widget(Paragraph::new(Line::styled(hint, theme.hint)), inner);
    } else {
        let (scroll, _) = cursor_and_scroll(value, input.cursor(), inner.width as usize);
        frame.render_widget(
            Paragraph::new(Line::styled(
                window(value, scroll, inner.width as usize),
                theme.text,
            )),
            inner,
        );
    }
    if focused {
        let (_, col) = cursor_and_scroll(value, input.cursor(), inner.width as usize);
        frame.set_cursor_position(Position::new(inner.x + col as u16, inner.y));
    }
}
