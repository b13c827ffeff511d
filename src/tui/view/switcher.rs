//! The quick switcher popup: the filter typed, and the conversations it
//! matches, the selected one marked.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::{
    conversations::badge,
    widgets::{first_row, fit, footer_line, mark, popup},
};
use crate::tui::{
    keymap::Context,
    model::{Chat, switcher::Switcher},
    settings::Settings,
};

pub fn draw(frame: &mut Frame, area: Rect, chat: &Chat, switcher: &Switcher, s: &Settings) {
    let theme = &s.theme;
    let matches = switcher.matches(chat);
    let title = Line::styled(" Go to a conversation ", theme.title);
    let height = (matches.len() as u16).clamp(1, 12) + 6;
    let inner = popup(frame, area, 44, height, title, s);
    if inner.height < 3 {
        return;
    }
    let width = inner.width as usize;
    let filter = Line::from(vec![
        Span::styled("Name: ", theme.hint),
        Span::styled(switcher.filter.clone(), theme.field_focused),
        Span::styled("▏", theme.field_focused),
    ]);
    let list_height = inner.height.saturating_sub(4) as usize;
    let first = first_row(switcher.selected, list_height);
    let mut lines = vec![filter, Line::raw("")];
    if matches.is_empty() {
        lines.push(Line::styled(
            "No conversation has that in its name.",
            theme.hint,
        ));
    }
    for (i, id) in matches.iter().enumerate().skip(first).take(list_height) {
        let Some(conv) = chat.conv(id) else { continue };
        let chosen = i == switcher.selected;
        let badge = badge(conv).map(|b| format!(" {b}")).unwrap_or_default();
        let label = fit(&conv.label(), width.saturating_sub(2 + badge.len()));
        let line = Line::from(vec![
            Span::raw(mark(chosen)),
            Span::styled(label, theme.text),
            Span::styled(badge, theme.divider),
        ]);
        lines.push(if chosen {
            line.style(theme.selected)
        } else {
            line
        });
    }
    frame.render_widget(Paragraph::new(lines), inner);
    let footer = Rect {
        y: inner.bottom() - 1,
        height: 1,
        ..inner
    };
    frame.render_widget(
        Paragraph::new(footer_line(s, &[Context::Switcher], footer.width, |_| true)),
        footer,
    );
}
