//! The members pane: everyone in the group, online ones marked, the admin starred.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::app::App;

/// The first row shown so that `selected` stays visible in `height` rows.
pub fn first_row(selected: usize, height: usize) -> usize {
    selected.saturating_sub(height.saturating_sub(1))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let theme = &app.settings.theme;
    let members = app.sorted_members();
    let online = members.iter().filter(|m| m.online).count();
    let title = format!(" Members {online}/{} ", members.len());
    let block = theme.pane(title, theme.title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let first = first_row(app.selected_member, inner.height as usize);
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
            if m.name == app.admin {
                spans.push(Span::styled(" ★", theme.admin));
            }
            if m.name == app.name {
                spans.push(Span::styled(" (you)", theme.hint));
            }
            let line = Line::from(spans);
            if focused && i == app.selected_member {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
