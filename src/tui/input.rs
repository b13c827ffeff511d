//! The input line. The text may hold newlines (a multi-line paste is one
//! message); they are shown as `↵`. The cursor and the horizontal scroll
//! count display columns.

use ratatui::{
    Frame,
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use super::app::{App, Conn};

/// How the text is shown: newlines and tabs as visible one-column marks.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' => '→',
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

/// The columns scrolled off the left and the cursor's column within the
/// visible part, so the cursor stays in a field `width` columns wide.
pub fn cursor_and_scroll(text: &str, cursor: usize, width: usize) -> (usize, usize) {
    let before: String = shown(text).chars().take(cursor).collect();
    let col = before.width();
    let scroll = col.saturating_sub(width.saturating_sub(1));
    (scroll, col - scroll)
}

/// `text` without its first `skip` columns, cut to `width` columns.
pub fn window(text: &str, skip: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for g in shown(text).graphemes(true) {
        let w = g.width();
        if col >= skip && col + w <= skip + width {
            out.push_str(g);
        }
        col += w;
        if col >= skip + width {
            break;
        }
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let theme = &app.settings.theme;
    let title = match app.conn {
        Conn::Connected => " Message ".to_owned(),
        _ => " Message (not connected: it will not send) ".to_owned(),
    };
    let mut block = theme.pane(title, theme.title, focused);
    if let Some(completion) = &app.completion
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
    let value = app.input.value();
    if value.is_empty() {
        let hint = if focused {
            "Type a message, or /help for commands"
        } else {
            ""
        };
        frame.render_widget(Paragraph::new(Line::styled(hint, theme.hint)), inner);
    } else {
        let (scroll, _) = cursor_and_scroll(value, app.input.cursor(), inner.width as usize);
        frame.render_widget(
            Paragraph::new(Line::styled(
                window(value, scroll, inner.width as usize),
                theme.text,
            )),
            inner,
        );
    }
    if focused {
        let (_, col) = cursor_and_scroll(value, app.input.cursor(), inner.width as usize);
        frame.set_cursor_position(Position::new(inner.x + col as u16, inner.y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_counts_display_columns() {
        // "日本" is 4 columns; the cursor after it is at column 4.
        assert_eq!(cursor_and_scroll("日本語", 2, 20), (0, 4));
        // A field 5 columns wide scrolls so the cursor stays inside.
        assert_eq!(cursor_and_scroll("abcdefgh", 8, 5), (4, 4));
        assert_eq!(window("abcdefgh", 4, 5), "efgh");
        // A wide character that does not fit the window's edge is left out.
        assert_eq!(window("a日本", 2, 2), "");
        assert_eq!(window("a日本", 1, 2), "日");
        assert_eq!(shown("a\nb"), "a↵b");
        // Combining marks take no column.
        assert_eq!(cursor_and_scroll("e\u{301}x", 2, 20), (0, 1));
    }
}
