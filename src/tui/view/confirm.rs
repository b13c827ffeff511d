//! The popups that guard actions on other people: the menu of what can be
//! done to a member or a request, and the question before it is done.

use ratatui::{
    Frame,
    layout::Rect,
    text::Line,
    widgets::{Paragraph, Wrap},
};

use super::widgets::{footer_line, mark, popup};
use crate::tui::{
    app::{Confirm, Menu},
    keymap::Context,
    settings::Settings,
};

pub fn draw(frame: &mut Frame, area: Rect, confirm: &Confirm, s: &Settings) {
    let title = Line::styled(format!(" {} ", confirm.title), s.theme.title_alert);
    let inner = popup(frame, area, 50, 7, title, s);
    let text = vec![
        Line::raw(confirm.question.clone()),
        Line::raw(""),
        footer_line(s, &[Context::Confirm], inner.width, |_| true),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
}

pub fn draw_menu(frame: &mut Frame, area: Rect, menu: &Menu, s: &Settings) {
    let theme = &s.theme;
    let title = Line::styled(format!(" {} ", menu.title), theme.title);
    let height = menu.choices.len() as u16 + 4;
    let inner = popup(frame, area, 50, height, title, s);
    let mut lines: Vec<Line> = menu
        .choices
        .iter()
        .enumerate()
        .map(|(i, (label, _))| {
            let line = Line::raw(format!("{}{label}", mark(i == menu.selected)));
            if i == menu.selected {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(footer_line(s, &[Context::Menu], inner.width, |_| true));
    frame.render_widget(Paragraph::new(lines), inner);
}
