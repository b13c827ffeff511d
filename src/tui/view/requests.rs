//! The admin's panel of pending join requests, newest last.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
};

use super::widgets::{ListPane, clock, list_pane};
use crate::tui::{action::Action, keymap::Context, model::conversation::Conv, settings::Settings};

pub fn draw(frame: &mut Frame, area: Rect, conv: &Conv, s: &Settings, focused: bool) {
    let theme = &s.theme;
    let requests = conv.roster.requests();
    let count = requests.len();
    let pane = ListPane {
        title: format!(" Requests ({count}) "),
        title_style: if count > 0 {
            theme.title_alert
        } else {
            theme.title
        },
        focused,
        selected: conv.roster.selected_request(),
        empty: "no one is waiting",
    };
    list_pane(frame, area, s, pane, requests, |r, chosen| {
        let mut spans = vec![
            Span::styled(r.name.clone(), theme.name_style(&r.name)),
            Span::styled(format!(" {}", clock(r.at_ms, s)), theme.time),
        ];
        if chosen {
            spans.push(Span::styled(
                format!(" {}", s.keymap.key_for(Context::Requests, Action::Choose)),
                theme.hint,
            ));
        }
        Line::from(spans)
    });
}
