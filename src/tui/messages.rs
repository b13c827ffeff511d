//! The messages pane: how an [`Item`] becomes screen lines (wrapped by
//! display width, so CJK, emoji and combining marks line up), and which of
//! those lines the current scroll position shows.

use chrono::{Local, TimeZone, Utc};
use ratatui::{
    Frame,
    layout::{Alignment, Rect},
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use super::{
    app::{App, Item, ItemKind},
    files,
    theme::Theme,
};
use crate::protocol::reveal;

/// Wraps `text` into lines of at most `width` display columns: at spaces
/// where possible, inside a word only when the word alone is too wide, and
/// never inside a grapheme cluster. `\n` starts a new line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for token in paragraph.split_word_bounds() {
            let w = token.width();
            let blank = token.chars().all(char::is_whitespace);
            if used + w <= width {
                if !(blank && used == 0 && !line.is_empty()) {
                    line.push_str(token);
                    used += w;
                }
                continue;
            }
            if blank {
                // A break: the space is dropped.
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                used = 0;
                continue;
            }
            if w <= width {
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                line.push_str(token);
                used = w;
                continue;
            }
            // A word wider than the line: start it on a fresh line and
            // break it between graphemes.
            if used > 0 {
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                used = 0;
            }
            for grapheme in token.graphemes(true) {
                let gw = grapheme.width();
                if used + gw > width && used > 0 {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push_str(grapheme);
                used += gw;
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// `HH:MM` in local time (or UTC).
pub fn clock(at_ms: i64, utc: bool) -> String {
    if utc {
        Utc.timestamp_millis_opt(at_ms)
            .single()
            .map(|t| t.format("%H:%M").to_string())
    } else {
        Local
            .timestamp_millis_opt(at_ms)
            .single()
            .map(|t| t.format("%H:%M").to_string())
    }
    .unwrap_or_else(|| "--:--".to_owned())
}

/// Does `text` mention `@name` (not as a prefix of a longer name)?
pub fn mentions(text: &str, name: &str) -> bool {
    !name.is_empty() && mention_spans(text, name).next().is_some()
}

/// Byte ranges of `@name` mentions in `text`.
fn mention_spans<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
    let needle_len = name.len() + 1;
    text.match_indices('@').filter_map(move |(i, _)| {
        let rest = &text[i + 1..];
        let end = i + needle_len;
        let next_ok = rest
            .strip_prefix(name)?
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-')));
        next_ok.then_some((i, end))
    })
}

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

/// The screen lines of one item at `width` columns.
pub fn item_lines(item: &Item, width: usize, app: &App) -> Vec<Line<'static>> {
    let theme = &app.settings.theme;
    let time = item
        .at_ms
        .map_or_else(|| "     ".to_owned(), |ms| clock(ms, app.settings.utc));
    let time_span = Span::styled(format!("{time} "), theme.time);
    let hanging = |prefix: Vec<Span<'static>>, text: &str, style: Style, me: &str| {
        let text = &reveal(text);
        let prefix_w: usize = prefix.iter().map(|s| s.width()).sum();
        let (first_w, indent) = if width >= prefix_w + 10 {
            (width - prefix_w, prefix_w)
        } else {
            (0, 2)
        };
        let mut out: Vec<Line<'static>> = Vec::new();
        if first_w == 0 {
            out.push(Line::from(prefix));
            for l in wrap(text, width.saturating_sub(indent)) {
                let mut spans = vec![Span::raw(" ".repeat(indent))];
                spans.extend(text_spans(l, style, me, theme));
                out.push(Line::from(spans));
            }
            return out;
        }
        for (i, l) in wrap(text, first_w).into_iter().enumerate() {
            let mut spans = if i == 0 {
                prefix.clone()
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            spans.extend(text_spans(l, style, me, theme));
            out.push(Line::from(spans));
        }
        out
    };
    match &item.kind {
        ItemKind::Chat {
            from, text, own, ..
        } => {
            let name_style = if *own {
                theme.own_name
            } else {
                theme.name_style(from)
            };
            let text_style = if *own { theme.own_text } else { theme.text };
            let me = if *own { "" } else { app.name.as_str() };
            hanging(
                vec![
                    time_span,
                    Span::styled(from.clone(), name_style),
                    Span::raw(" "),
                ],
                text,
                text_style,
                me,
            )
        }
        ItemKind::Event(text) => hanging(
            vec![time_span, Span::styled("∙ ", theme.system)],
            text,
            theme.system,
            "",
        ),
        ItemKind::Info(text) => hanging(
            vec![time_span, Span::styled("» ", theme.info)],
            text,
            theme.info,
            "",
        ),
        ItemKind::Error(text) => hanging(
            vec![time_span, Span::styled("✗ ", theme.error)],
            text,
            theme.error,
            "",
        ),
        ItemKind::File(id) => {
            let Some(file) = app.file(id) else {
                return Vec::new();
            };
            let (who, text, style) = files::announcement(app, file);
            let who_style = if file.from == app.name {
                theme.own_name
            } else {
                theme.name_style(&file.from)
            };
            hanging(
                vec![
                    time_span,
                    Span::styled("⇣ ", theme.file),
                    Span::styled(who, who_style),
                    Span::raw(" "),
                ],
                &text,
                style,
                "",
            )
        }
        ItemKind::Divider(text) => {
            let label = format!(" {text} ");
            let side = width.saturating_sub(label.width()) / 2;
            let line = format!(
                "{}{label}{}",
                "─".repeat(side),
                "─".repeat(width.saturating_sub(side + label.width()))
            );
            vec![Line::styled(line, theme.divider)]
        }
    }
}

/// How many screen lines all items take at `width`.
pub fn total_height(app: &App, width: usize) -> usize {
    app.items
        .iter()
        .map(|item| item_lines(item, width, app).len())
        .sum()
}

/// The lines that fill a pane of `width` × `height` at the current scroll:
/// the newest lines minus `scroll.offset` from the bottom.
pub fn visible_lines(app: &App, width: usize, height: usize) -> Vec<Line<'static>> {
    let wanted = height + app.scroll.offset;
    let mut lines: Vec<Line<'static>> = Vec::new();
    for item in app.items.iter().rev() {
        let mut these = item_lines(item, width, app);
        these.append(&mut lines);
        lines = these;
        if lines.len() >= wanted {
            break;
        }
    }
    let end = lines.len().saturating_sub(app.scroll.offset);
    let start = end.saturating_sub(height);
    lines.drain(start..end).collect()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let theme = &app.settings.theme;
    let title = format!(" {} ", app.group);
    let block = theme.pane(title, theme.title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    let lines = visible_lines(app, inner.width as usize, inner.height as usize);
    frame.render_widget(Paragraph::new(lines), inner);
    if app.scroll.offset > 0 {
        let end = app.settings.keymap.key_for(
            super::keymap::Context::Messages,
            super::action::Action::Bottom,
        );
        let text = match app.scroll.new_below {
            0 => format!(" ↓ more below · {end} "),
            1 => format!(" ↓ 1 new message below · {end} "),
            n => format!(" ↓ {n} new messages below · {end} "),
        };
        let marker = Rect {
            y: inner.bottom() - 1,
            height: 1,
            ..inner
        };
        let style = if app.scroll.new_below > 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_by_display_width() {
        assert_eq!(
            wrap("hello brave new world", 11),
            vec!["hello brave", "new world"]
        );
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("a\nb", 5), vec!["a", "b"]);
        // CJK characters are two columns wide.
        assert_eq!(wrap("東京は晴れ", 4), vec!["東京", "は晴", "れ"]);
        // A combining mark stays with its letter: "é" as e + U+0301.
        let word = "e\u{301}e\u{301}e\u{301}";
        assert_eq!(wrap(word, 2), vec!["e\u{301}e\u{301}", "e\u{301}"]);
        // An emoji with a skin tone is one grapheme.
        assert_eq!(wrap("👍🏽👍🏽👍🏽", 4), vec!["👍🏽👍🏽", "👍🏽"]);
        // Long words break, short ones move down whole.
        assert_eq!(wrap("ab abcdefgh", 4), vec!["ab", "abcd", "efgh"]);
        for line in wrap("naïve café — 日本語のテキスト and more words here", 7) {
            assert!(line.width() <= 7, "{line:?}");
        }
    }

    #[test]
    fn finds_mentions_but_not_prefixes() {
        assert!(mentions("hi @bob!", "bob"));
        assert!(mentions("@bob", "bob"));
        assert!(!mentions("hi @bobby", "bob"));
        assert!(!mentions("hi bob", "bob"));
        assert!(!mentions("hi @bob", ""));
    }

    #[test]
    fn visible_lines_follow_the_scroll_offset() {
        let mut app = App::new(Default::default(), "s", "me", "g");
        app.settings.utc = true;
        for i in 0..10 {
            app.push(Item {
                at_ms: Some(0),
                kind: ItemKind::Info(format!("line {i}")),
            });
        }
        let text = |app: &App| -> Vec<String> {
            visible_lines(app, 30, 3)
                .iter()
                .map(|l| l.to_string())
                .collect()
        };
        assert_eq!(
            text(&app),
            ["00:00 » line 7", "00:00 » line 8", "00:00 » line 9"]
        );
        app.scroll.offset = 7;
        assert_eq!(
            text(&app),
            ["00:00 » line 0", "00:00 » line 1", "00:00 » line 2"]
        );
        assert_eq!(total_height(&app, 30), 10);
    }
}
