//! The login form: server, name and group, checked as you type with the
//! server's own rules. Every line is wrapped here, before drawing, so the
//! cursor's row counts the rows a long hint takes.

use ratatui::{
    Frame,
    layout::{Position, Rect},
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::widgets::{cursor_and_scroll, footer_line, popup, window, wrap};
use crate::tui::{app::App, keymap::Context, model::login::LoginForm, settings::Settings};

/// `text` wrapped to `width`, each row indented by `indent` columns.
fn wrapped(text: &str, width: usize, indent: usize, style: Style) -> Vec<Line<'static>> {
    wrap(text, width.saturating_sub(indent))
        .into_iter()
        .map(|row| Line::styled(format!("{:indent$}{row}", ""), style))
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, form: &LoginForm, s: &Settings) {
    let theme = &s.theme;
    let title = Line::styled(" PyconChat — join a group ", theme.title);
    let inner = popup(frame, area, 64, 16, title, s);
    let width = inner.width as usize;
    let label_w = 8;
    let field_w = width.saturating_sub(label_w + 1).max(1);
    let mut lines = wrapped(
        "A group that does not exist yet is created, with you as its admin.",
        width,
        0,
        theme.hint,
    );
    lines.push(Line::raw(""));
    let mut cursor = None;
    for (i, label) in LoginForm::LABELS.iter().enumerate() {
        let focused = form.focus == i;
        let value = form.fields[i].value();
        let (scroll, col) = cursor_and_scroll(value, form.fields[i].cursor(), field_w);
        if focused {
            cursor = Some((lines.len(), label_w + col));
        }
        let label_style = if focused {
            theme.field_focused
        } else {
            theme.field
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{label:>6}: "), label_style),
            Span::styled(window(value, scroll, field_w), theme.text),
        ]));
        match form.problem(i) {
            Some(problem) => lines.extend(wrapped(
                &format!("✗ {problem}"),
                width,
                label_w,
                theme.invalid,
            )),
            None if i == 2 && form.no_group() => lines.push(Line::styled(
                format!("{:label_w$}✓ none: your conversations open", ""),
                theme.valid,
            )),
            None => lines.push(Line::styled(format!("{:label_w$}✓", ""), theme.valid)),
        }
    }
    lines.push(Line::raw(""));
    if let Some(error) = &form.error {
        lines.extend(wrapped(&format!("✗ {error}"), width, 0, theme.error));
    }
    let footer = Rect {
        y: inner.bottom().saturating_sub(1),
        height: 1,
        ..inner
    };
    frame.render_widget(Paragraph::new(lines), inner);
    frame.render_widget(
        Paragraph::new(footer_line(
            s,
            &[Context::Login, Context::Global],
            footer.width,
            |_| true,
        )),
        footer,
    );
    if let Some((row, col)) = cursor
        && app.popup.is_none()
        && row < usize::from(inner.height)
    {
        frame.set_cursor_position(Position::new(inner.x + col as u16, inner.y + row as u16));
    }
}
