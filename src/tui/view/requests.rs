//! The admin's panel of pending join requests, newest last.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::widgets::{clock, first_row};
use crate::tui::{action::Action, keymap::Context, model::Chat, settings::Settings};

pub fn draw(frame: &mut Frame, area: Rect, chat: &Chat, s: &Settings, focused: bool) {
    let theme = &s.theme;
    let requests = chat.roster.requests();
    let count = requests.len();
    let title_style = if count > 0 {
        theme.title_alert
    } else {
        theme.title
    };
    let block = theme.pane(format!(" Requests ({count}) "), title_style, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if count == 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("no one is waiting", theme.hint)),
            inner,
        );
        return;
    }
    let selected = chat.roster.selected_request();
    let first = first_row(selected, inner.height as usize);
    let lines: Vec<Line> = requests
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, r)| {
            let mut spans = vec![
                Span::styled(r.name.clone(), theme.name_style(&r.name)),
                Span::styled(format!(" {}", clock(r.at_ms, s)), theme.time),
            ];
            let chosen = focused && i == selected;
            if chosen {
                spans.push(Span::styled(
                    format!(" {}", s.keymap.key_for(Context::Requests, Action::Choose)),
                    theme.hint,
                ));
            }
            let line = Line::from(spans);
            if chosen {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
