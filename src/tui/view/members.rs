//! The members pane: everyone in the group, online ones marked, the admin
//! starred. Once removed from the group, the list stays as it was, with no
//! claim about who is online: nothing is heard any more.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
};

use super::widgets::{ListPane, list_pane};
use crate::tui::{model::conversation::Conv, settings::Settings};

pub fn draw(frame: &mut Frame, area: Rect, conv: &Conv, s: &Settings, focused: bool) {
    let theme = &s.theme;
    let roster = &conv.roster;
    let members = roster.members();
    let title = if roster.removed() {
        " Members (stale) ".to_owned()
    } else {
        format!(" Members {}/{} ", roster.online_count(), members.len())
    };
    let pane = ListPane {
        title,
        title_style: theme.title,
        focused,
        selected: roster.selected_member(),
        empty: "",
    };
    list_pane(frame, area, s, pane, &members, |m, _| {
        let (dot, dot_style) = match (roster.removed(), m.online) {
            (true, _) => ("· ", theme.offline),
            (false, true) => ("● ", theme.online),
            (false, false) => ("○ ", theme.offline),
        };
        let name_style = if m.online && !roster.removed() {
            theme.text
        } else {
            theme.offline
        };
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
        Line::from(spans)
    });
}
