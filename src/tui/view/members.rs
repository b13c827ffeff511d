//! The members pane: everyone in the group, online ones marked, the admin starred.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::widgets::first_row;
use crate::tui::{model::Chat, settings::Settings};

pub fn draw(frame: &mut Frame, area: Rect, chat: &Chat, s: &Settings, focused: bool) {
    let theme = &s.theme;
    let roster = &chat.roster;
    let members = roster.members();
    let title = format!(" Members {}/{} ", roster.online_count(), members.len());
    let block = theme.pane(title, theme.title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let selected = roster.selected_member();
    let first = first_row(selected, inner.height as usize);
    let lines: Vec<Line> = members
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, m)| {
            let (dot, dot_style) = if m.online {
                ("● ", theme.online)
            } else {
                ("○ ", theme.offline)
            };
            let name_style = if m.online { theme.text } else { theme.offline };
            let mut spans = vec![
                Span::styled(dot, dot_style),
                Span::styled(m.name.clone(), name_style),
            ];
            if m.name == roster.admin() {
                spans.push(Span::styled(" ★", theme.admin));
            }
            if m.name == roster.me() {
                spans.push(Span::styled(" (you)", theme.hint));
            }
            let line = Line::from(spans);
            if focused && i == selected {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
