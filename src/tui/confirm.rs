//! The confirm popup (it carries the request it confirms) and plain notices.

use ratatui::{
    Frame,
    layout::Rect,
    text::Line,
    widgets::{Paragraph, Wrap},
};

use super::{
    action::Action,
    app::{App, Confirm},
    keymap::Context,
    status::{footer_line, key_hint},
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

pub fn draw_notice(frame: &mut Frame, area: Rect, app: &App, title: &str, text: &str) {
    let title = Line::styled(format!(" {title} "), app.settings.theme.title);
    let width = 56;
    let height = (text.len() as u16 / (width - 4) + 6).min(16);
    let inner = view::popup(frame, area, width, height, title, app);
    let mut lines: Vec<Line> = text.lines().map(|l| Line::raw(l.to_owned())).collect();
    lines.push(Line::raw(""));
    lines.push(key_hint(app, Context::Popup, Action::ClosePopup, "close"));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}
