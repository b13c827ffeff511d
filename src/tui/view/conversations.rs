//! The conversations pane, on the left (as WeeChat's buffer list or
//! iamb's room list): every group and direct conversation of the user,
//! numbered for Alt-1 … Alt-9, the one shown highlighted, each with its
//! unread count, marked when it mentions the user, and those not open
//! (asked to join, turned down, removed) marked as such.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{first_row, fit};
use crate::tui::{
    model::{
        Chat,
        conversation::{Conv, Standing},
    },
    settings::Settings,
};

/// The count at the end of a row: unread messages, `@` in front when one
/// of them mentions the user.
pub fn badge(conv: &Conv) -> Option<String> {
    let unread = conv.unread.count();
    if unread == 0 {
        return None;
    }
    let count = if unread >= crate::protocol::UNREAD_COUNT_MAX {
        format!("{unread}+")
    } else {
        unread.to_string()
    };
    Some(if conv.unread.mentions() > 0 {
        format!("@{count}")
    } else {
        count
    })
}

/// The mark before a conversation not open to the user.
fn standing_mark(standing: &Standing) -> &'static str {
    match standing {
        Standing::Member | Standing::Direct => "",
        Standing::Pending => "◌",
        Standing::Rejected { .. } | Standing::Removed { .. } => "✗",
    }
}

fn row(conv: &Conv, index: usize, width: usize, chosen: bool, s: &Settings) -> Line<'static> {
    let theme = &s.theme;
    let number = if index < 9 {
        format!("{} ", index + 1)
    } else {
        "  ".to_owned()
    };
    let mark = standing_mark(&conv.standing);
    let badge = badge(conv);
    let badge_width = badge.as_ref().map_or(0, |b| b.width() + 1);
    let room = width.saturating_sub(number.width() + mark.width() + badge_width);
    let label = fit(&conv.label(), room);
    let pad = room.saturating_sub(label.width());
    let label_style = match (&conv.standing, &badge) {
        (Standing::Member | Standing::Direct, Some(_)) => theme.title,
        (Standing::Member | Standing::Direct, None) => theme.text,
        _ => theme.offline,
    };
    let mut spans = vec![
        Span::styled(number, theme.time),
        Span::styled(mark, theme.offline),
        Span::styled(label, label_style),
        Span::raw(" ".repeat(pad)),
    ];
    if let Some(badge) = badge {
        let style = if conv.unread.mentions() > 0 {
            theme.mention
        } else {
            theme.divider
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(badge, style));
    }
    let line = Line::from(spans);
    if chosen {
        line.style(theme.selected)
    } else {
        line
    }
}

pub fn draw(frame: &mut Frame, area: Rect, chat: &Chat, s: &Settings) {
    let theme = &s.theme;
    let block = theme.pane(" Chats ", theme.title, false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    if chat.is_empty() {
        let hint = Line::styled(fit("/join GROUP", inner.width as usize), theme.hint);
        frame.render_widget(Paragraph::new(hint), inner);
        return;
    }
    let selected = chat
        .selected()
        .and_then(|id| chat.position(id))
        .unwrap_or(0);
    let first = first_row(selected, inner.height as usize);
    let width = inner.width as usize;
    let lines: Vec<Line> = chat
        .convs()
        .enumerate()
        .skip(first)
        .take(inner.height as usize)
        .map(|(i, conv)| row(conv, i, width, i == selected, s))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
