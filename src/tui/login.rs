//! The login form: server, name and group, checked as you type with the
//! server's own rules.

use ratatui::{
    Frame,
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::{Paragraph, Wrap},
};

use super::{
    app::{App, LoginForm},
    input::{cursor_and_scroll, window},
    keymap::Context,
    status::footer_line,
    view,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let form = &app.login;
    let title = Line::styled(" PyconChat — join a group ", theme.title);
    let inner = view::popup(frame, area, 64, 15, title, app);
    let label_w = 8;
    let field_w = (inner.width as usize).saturating_sub(label_w + 1).max(1);
    let mut lines = vec![
        Line::styled(
            "A group that does not exist yet is created, with you as its admin.",
            theme.hint,
        ),
        Line::raw(""),
    ];
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
        lines.push(match form.problem(i) {
            Some(problem) => Line::styled(format!("{:label_w$}✗ {problem}", ""), theme.invalid),
            None => Line::styled(format!("{:label_w$}✓", ""), theme.valid),
        });
    }
    lines.push(Line::raw(""));
    if let Some(error) = &form.error {
        lines.push(Line::styled(format!("✗ {error}"), theme.error));
    }
    let footer = Rect {
        y: inner.bottom().saturating_sub(1),
        height: 1,
        ..inner
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    frame.render_widget(
        Paragraph::new(footer_line(
            app,
            &[Context::Login, Context::Global],
            footer.width,
        )),
        footer,
    );
    if let Some((row, col)) = cursor
        && app.popup.is_none()
    {
        frame.set_cursor_position(Position::new(inner.x + col as u16, inner.y + row as u16));
    }
}
