//! The admin's panel of pending join requests, newest last.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::{action::Action, app::App, keymap::Context, members::first_row, messages::clock};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let theme = &app.settings.theme;
    let count = app.requests.len();
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
    let keymap = &app.settings.keymap;
    let first = first_row(app.selected_request, inner.height as usize);
    let lines: Vec<Line> = app
        .requests
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, r)| {
            let mut spans = vec![
                Span::styled(r.name.clone(), theme.name_style(&r.name)),
                Span::styled(format!(" {}", clock(r.at_ms, app.settings.utc)), theme.time),
            ];
            let selected = focused && i == app.selected_request;
            if selected {
                spans.push(Span::styled(
                    format!(
                        " {}/{}",
                        keymap.key_for(Context::Requests, Action::Approve),
                        keymap.key_for(Context::Requests, Action::Reject)
                    ),
                    theme.hint,
                ));
            }
            let line = Line::from(spans);
            if selected {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
