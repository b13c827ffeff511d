//! The history search popup: the query, then the matches, newest first,
//! each with its conversation, sender and time, the words found
//! highlighted.

use ratatui::{
    Frame,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{first_row, fit, footer_line, mark, popup, shown, stamp};
use crate::{
    protocol::{Body, SearchHit},
    tui::{
        keymap::Context,
        model::{
            Chat,
            conversation::label,
            search::{Results, Search, match_spans},
        },
        settings::Settings,
    },
};

/// `text` as spans in `style`, the parts in `spans` (byte ranges) in `found`.
fn highlighted(
    text: &str,
    spans: &[(usize, usize)],
    style: Style,
    found: Style,
) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(start, end) in spans {
        if start > at {
            out.push(Span::styled(text[at..start].to_owned(), style));
        }
        out.push(Span::styled(text[start..end].to_owned(), found));
        at = end;
    }
    if at < text.len() {
        out.push(Span::styled(text[at..].to_owned(), style));
    }
    out
}

/// One match in `width` columns: where, who, when, and the text with the
/// query's words highlighted.
fn hit_line(
    chat: &Chat,
    hit: &SearchHit,
    query: &str,
    width: usize,
    s: &Settings,
) -> Line<'static> {
    let theme = &s.theme;
    let peer = crate::protocol::direct_peer(&hit.conv, chat.me());
    let place = fit(&label(&hit.conv, peer), 12);
    let head = format!("{place:<12} {} ", stamp(hit.entry.at_ms, s));
    let who = format!("{}: ", hit.entry.from);
    let text = match &hit.entry.body {
        Body::Text { text } => shown(text),
        Body::File { file } => format!("shared {}", file.name),
        _ => String::new(),
    };
    let room = width.saturating_sub(head.width() + who.width() + 2);
    let text = fit(&text, room);
    let spans = match_spans(&text, query);
    let mut line = vec![
        Span::styled(head, theme.time),
        Span::styled(who, theme.name_style(&hit.entry.from)),
    ];
    line.extend(highlighted(&text, &spans, theme.text, theme.mention));
    Line::from(line)
}

pub fn draw(frame: &mut Frame, area: Rect, chat: &Chat, search: &Search, s: &Settings) {
    let theme = &s.theme;
    let title = Line::styled(" Search every conversation ", theme.title);
    let inner = popup(
        frame,
        area,
        96,
        area.height.saturating_sub(4).max(8),
        title,
        s,
    );
    if inner.height < 4 {
        return;
    }
    let width = inner.width as usize;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Find: ", theme.hint),
            Span::styled(search.query.clone(), theme.field_focused),
            Span::styled("▏", theme.field_focused),
        ]),
        Line::raw(""),
    ];
    let list_height = inner.height.saturating_sub(4) as usize;
    let query = search.searched.clone().unwrap_or_default();
    match &search.results {
        Results::None => lines.push(Line::styled(
            "Type words to find, then Enter: messages with every word, newest first.",
            theme.hint,
        )),
        Results::Asking => lines.push(Line::styled("Searching…", theme.hint)),
        Results::Failed(message) => {
            lines.push(Line::styled(
                format!("The search failed: {message}"),
                theme.error,
            ));
        }
        Results::Found(hits) if hits.is_empty() => {
            lines.push(Line::styled(
                format!("Nothing found for \"{query}\"."),
                theme.hint,
            ));
        }
        Results::Found(hits) => {
            let first = first_row(search.selected, list_height);
            for (i, hit) in hits.iter().enumerate().skip(first).take(list_height) {
                let chosen = i == search.selected;
                let mut line = hit_line(chat, hit, &query, width.saturating_sub(2), s);
                line.spans.insert(0, Span::raw(mark(chosen)));
                lines.push(if chosen {
                    line.style(theme.selected)
                } else {
                    line
                });
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
    let footer = Rect {
        y: inner.bottom() - 1,
        height: 1,
        ..inner
    };
    frame.render_widget(
        Paragraph::new(footer_line(s, &[Context::Search], footer.width, |_| true)),
        footer,
    );
}
