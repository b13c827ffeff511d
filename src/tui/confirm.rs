//! The confirm popup: it carries the request it confirms.

use ratatui::{
    Frame,
    layout::Rect,
    text::Line,
    widgets::{Paragraph, Wrap},
};

use super::{
    app::{App, Confirm},
    keymap::Context,
    status::footer_line,
    view,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, confirm: &Confirm) {
    let title = Line::styled(
        format!(" {} ", confirm.title),
        app.settings.theme.title_alert,
    );
    let inner = view::popup(frame, area, 50, 7, title, app);
    let text = vec![
        Line::raw(confirm.question.clone()),
        Line::raw(""),
        footer_line(app, &[Context::Confirm], inner.width),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
}
