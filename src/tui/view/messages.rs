//! The messages pane: how an item becomes screen lines (wrapped by display
//! width, so CJK, emoji and combining marks line up), and which of those
//! lines the scroll position shows.

use ratatui::{
    Frame,
    layout::{Alignment, Rect},
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{announcement, clock, wrap};
use crate::{
    protocol::{mention_spans, reveal},
    tui::{
        action::Action,
        keymap::Context,
        model::{
            Chat,
            conversation::{Conv, Standing},
            files::Files,
            timeline::{Item, ItemKind, Timeline},
        },
        settings::Settings,
        theme::Theme,
    },
};

/// Spans for one wrapped line of a chat message, with mentions of `me` marked.
fn text_spans(line: String, base: Style, me: &str, theme: &Theme) -> Vec<Span<'static>> {
    if me.is_empty() {
        return vec![Span::styled(line, base)];
    }
    let mut spans = Vec::new();
    let mut at = 0;
    for (start, end) in mention_spans(&line, me).collect::<Vec<_>>() {
        if start > at {
            spans.push(Span::styled(line[at..start].to_owned(), base));
        }
        spans.push(Span::styled(line[start..end].to_owned(), theme.mention));
        at = end;
    }
    if at < line.len() {
        spans.push(Span::styled(line[at..].to_owned(), base));
    }
    spans
}

/// `prefix` then `text` wrapped under it with a hanging indent; on a pane
/// too narrow for that, the text goes under the prefix.
fn hanging(
    prefix: Vec<Span<'static>>,
    text: &str,
    style: Style,
    me: &str,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let text = &reveal(text);
    let prefix_w: usize = prefix.iter().map(|s| s.width()).sum();
    let mut out: Vec<Line<'static>> = Vec::new();
    if width < prefix_w + 10 {
        out.push(Line::from(prefix));
        for l in wrap(text, width.saturating_sub(2)) {
            let mut spans = vec![Span::raw("  ")];
            spans.extend(text_spans(l, style, me, theme));
            out.push(Line::from(spans));
        }
        return out;
    }
    for (i, l) in wrap(text, width - prefix_w).into_iter().enumerate() {
        let mut spans = if i == 0 {
            prefix.clone()
        } else {
            vec![Span::raw(" ".repeat(prefix_w))]
        };
        spans.extend(text_spans(l, style, me, theme));
        out.push(Line::from(spans));
    }
    out
}

/// A label centred in a rule across the pane.
fn rule(text: &str, width: usize, style: Style) -> Line<'static> {
    let label = format!(" {text} ");
    let side = width.saturating_sub(label.width()) / 2;
    let line = format!(
        "{}{label}{}",
        "─".repeat(side),
        "─".repeat(width.saturating_sub(side + label.width()))
    );
    Line::styled(line, style)
}

/// The screen lines of one item at `width` columns, for user `me` in a
/// conversation whose files are `files`.
pub fn item_lines(
    item: &Item,
    width: usize,
    me: &str,
    files: &Files,
    s: &Settings,
) -> Vec<Line<'static>> {
    let theme = &s.theme;
    let time = match item.at_ms {
        Some(ms) => clock(ms, s),
        None => " ".repeat(clock(0, s).width()),
    };
    let time_span = Span::styled(format!("{time} "), theme.time);
    let noted = |mark: &'static str, text: &str, style: Style| {
        hanging(
            vec![time_span.clone(), Span::styled(mark, style)],
            text,
            style,
            "",
            width,
            theme,
        )
    };
    match &item.kind {
        ItemKind::Chat {
            from, text, own, ..
        } => {
            let (name_style, text_style, me) = if *own {
                (theme.own_name, theme.own_text, "")
            } else {
                (theme.name_style(from), theme.text, me)
            };
            hanging(
                vec![
                    time_span.clone(),
                    Span::styled(from.clone(), name_style),
                    Span::raw(" "),
                ],
                text,
                text_style,
                me,
                width,
                theme,
            )
        }
        ItemKind::Event(text) => noted("∙ ", text, theme.system),
        ItemKind::Presence(presence) => noted("∙ ", &presence.text(), theme.hint),
        ItemKind::Info(text) => noted("» ", text, theme.info),
        ItemKind::Error(text) => noted("✗ ", text, theme.error),
        ItemKind::File { id, own } => {
            let Some(file) = files.file(id) else {
                return Vec::new();
            };
            let (who, text, style) = announcement(me, files, file, s);
            let (arrow, who_style) = if *own {
                ("⇡ ", theme.own_name)
            } else {
                ("⇣ ", theme.name_style(&file.from))
            };
            hanging(
                vec![
                    time_span,
                    Span::styled(arrow, theme.file),
                    Span::styled(who, who_style),
                    Span::raw(" "),
                ],
                &text,
                style,
                "",
                width,
                theme,
            )
        }
        ItemKind::Divider(text) => vec![rule(text, width, theme.divider)],
        ItemKind::Day(text) => vec![rule(text, width, theme.time)],
    }
}

/// What the messages pane shows: the timeline of the conversation shown
/// (or the lobby's), and what its items need.
struct Shown<'a> {
    timeline: &'a Timeline,
    files: &'a Files,
    me: &'a str,
}

fn shown<'a>(chat: &'a Chat, no_files: &'a Files) -> Shown<'a> {
    let current = chat.current();
    Shown {
        timeline: chat.timeline(),
        files: current.map_or(no_files, |conv| &conv.files),
        me: chat.me(),
    }
}

/// How many screen lines all items shown take at `width`.
pub fn total_height(chat: &Chat, s: &Settings, width: usize) -> usize {
    let no_files = Files::default();
    let shown = shown(chat, &no_files);
    shown
        .timeline
        .items()
        .iter()
        .map(|item| item_lines(item, width, shown.me, shown.files, s).len())
        .sum()
}

/// The lines that fill a pane of `width` × `height` at the current scroll:
/// the newest lines minus the scroll offset from the bottom. The message
/// a search jumped to stands out.
pub fn visible_lines(chat: &Chat, s: &Settings, width: usize, height: usize) -> Vec<Line<'static>> {
    let no_files = Files::default();
    let shown = shown(chat, &no_files);
    let offset = shown.timeline.scroll().offset;
    let highlight = shown.timeline.highlight();
    let wanted = height + offset;
    let mut lines: Vec<Line<'static>> = Vec::new();
    for item in shown.timeline.items().iter().rev() {
        let mut these = item_lines(item, width, shown.me, shown.files, s);
        if highlight.is_some() && item.seq == highlight {
            these = these
                .into_iter()
                .map(|line| line.style(s.theme.selected))
                .collect();
        }
        these.append(&mut lines);
        lines = these;
        if lines.len() >= wanted {
            break;
        }
    }
    let end = lines.len().saturating_sub(offset);
    let start = end.saturating_sub(height);
    lines.drain(start..end).collect()
}

/// What stands in the pane of a conversation the user is not in yet, or
/// of none at all: paragraphs and their styles.
fn waiting_text(conv: Option<&Conv>, s: &Settings) -> Option<Vec<(String, Style)>> {
    let theme = &s.theme;
    let Some(conv) = conv else {
        return Some(vec![
            ("You are in no conversation yet.".to_owned(), theme.text),
            (
                "/join GROUP joins a group, or creates it with you as its admin.".to_owned(),
                theme.hint,
            ),
        ]);
    };
    let (label, id) = (conv.label(), &conv.id);
    match &conv.standing {
        Standing::Pending => Some(vec![
            (format!("You asked to join {label}."), theme.text),
            (String::new(), theme.text),
            (
                "Its admin decides; this opens by itself as soon as they let you in.".to_owned(),
                theme.text,
            ),
            (format!("/leave {id} withdraws the request."), theme.hint),
        ]),
        Standing::Rejected { by, .. } => Some(vec![
            (
                format!("{by} turned down your request to join {label}."),
                theme.error,
            ),
            (String::new(), theme.text),
            (
                format!("/join {id} asks again; /leave {id} drops it from your list."),
                theme.hint,
            ),
        ]),
        _ => None,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, chat: &Chat, s: &Settings, focused: bool) {
    let theme = &s.theme;
    let current = chat.current();
    let title = current.map_or_else(
        || " PyconChat ".to_owned(),
        |conv| format!(" {} ", conv.label()),
    );
    let block = theme.pane(title, theme.title, focused);
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    if let Some(text) = waiting_text(current, s) {
        let lines: Vec<Line> = text
            .iter()
            .flat_map(|(text, style)| {
                wrap(text, inner.width as usize)
                    .into_iter()
                    .map(|line| Line::styled(line, *style))
            })
            .collect();
        let height = (lines.len() as u16).min(inner.height);
        frame.render_widget(Paragraph::new(lines), inner);
        if current.is_some() {
            return;
        }
        // The lobby's notes go below.
        inner.y += height + 1;
        inner.height = inner.height.saturating_sub(height + 1);
        if inner.is_empty() {
            return;
        }
    }
    let lines = visible_lines(chat, s, inner.width as usize, inner.height as usize);
    frame.render_widget(Paragraph::new(lines), inner);
    let timeline = chat.timeline();
    let scroll = timeline.scroll();
    if scroll.offset > 0 || !timeline.live() {
        // Name the key that works from where the user is: End only in
        // this pane, the global one elsewhere (End edits the input line).
        let context = if focused {
            Context::Messages
        } else {
            Context::Global
        };
        let end = s.keymap.key_for(context, Action::Bottom);
        let text = match scroll.new_below {
            _ if !timeline.live() => format!(" ↓ newer messages · {end} goes to the newest "),
            0 => format!(" ↓ more below · {end} "),
            1 => format!(" ↓ 1 new message below · {end} "),
            n => format!(" ↓ {n} new messages below · {end} "),
        };
        let marker = Rect {
            y: inner.bottom() - 1,
            height: 1,
            ..inner
        };
        let style = if scroll.new_below > 0 {
            theme.new_below
        } else {
            theme.hint
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, style)).alignment(Alignment::Right),
            marker,
        );
    }
}
