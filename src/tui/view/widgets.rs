//! Drawing helpers every view shares: the inside of a pane, a centred
//! popup, a footer of keys, text wrapped or cut to a width, times. Views
//! import these and the models, never each other.

use chrono::{Local, TimeZone, Utc};
use ratatui::{
    Frame,
    buffer::Buffer,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::{Block, Borders, Clear, Paragraph},
};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::tui::{
    action::Action,
    app::{App, Conn},
    keymap::Context,
    model::{
        files::Files,
        transfer::{FileState, SharedFile, Transfer, human_size},
    },
    settings::Settings,
};

/// The inside of a bordered pane.
pub fn inner(area: Rect) -> Rect {
    Block::new().borders(Borders::ALL).inner(area)
}

/// A centred popup of at most `width` × `height`, cleared and bordered;
/// returns the area inside the border.
pub fn popup(
    frame: &mut Frame,
    area: Rect,
    width: u16,
    height: u16,
    title: Line<'_>,
    s: &Settings,
) -> Rect {
    let width = width.min(area.width.saturating_sub(2)).max(1);
    let height = height.min(area.height.saturating_sub(2)).max(1);
    let rect = Rect {
        x: area.x + area.width.saturating_sub(width) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    cut_wide_edges(frame.buffer_mut(), rect);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(s.theme.border_focused)
        .title(title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}

/// A wide character just left of `rect` would spill its right half into
/// it: the terminal draws both halves or neither, so it is blanked.
fn cut_wide_edges(buffer: &mut Buffer, rect: Rect) {
    if rect.x == 0 {
        return;
    }
    for y in rect.top()..rect.bottom() {
        if let Some(cell) = buffer.cell_mut((rect.x - 1, y))
            && cell.symbol().width() > 1
        {
            cell.set_symbol(" ");
        }
    }
}

/// The footer's keys, as many whole entries as fit in `width` columns,
/// leaving out actions for which `shown` is false.
pub fn footer_line(
    s: &Settings,
    contexts: &[Context],
    width: u16,
    shown: impl Fn(Action) -> bool,
) -> Line<'static> {
    let theme = &s.theme;
    let mut seen = Vec::new();
    let mut spans = Vec::new();
    let mut used = 0;
    for (keys, label) in s.keymap.footer_where(contexts, shown) {
        if seen.contains(&label) {
            continue;
        }
        seen.push(label);
        let key = format!(" {keys} ");
        let label = format!(" {label}  ");
        let w = key.width() + label.width();
        if used + w > width as usize + 2 {
            break;
        }
        used += w;
        spans.push(Span::styled(key, theme.footer_key));
        spans.push(Span::styled(label, theme.footer_label));
    }
    Line::from(spans)
}

/// The first row shown so that `selected` stays visible in `height` rows.
pub fn first_row(selected: usize, height: usize) -> usize {
    selected.saturating_sub(height.saturating_sub(1))
}

/// A side pane that lists things, one a row, with a selection.
pub struct ListPane<'a> {
    pub title: String,
    pub title_style: Style,
    pub focused: bool,
    pub selected: usize,
    /// Shown when there is nothing to list.
    pub empty: &'a str,
}

/// Draws `items` in a bordered pane, from the row that keeps the selected
/// one in sight; the selected row is highlighted while the pane has the
/// focus. `row(item, chosen)` makes one row (`chosen`: selected and focused).
pub fn list_pane<T>(
    frame: &mut Frame,
    area: Rect,
    s: &Settings,
    pane: ListPane<'_>,
    items: &[T],
    row: impl Fn(&T, bool) -> Line<'static>,
) {
    let theme = &s.theme;
    let block = theme.pane(pane.title, pane.title_style, pane.focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if items.is_empty() {
        let empty = Line::styled(pane.empty.to_owned(), theme.hint);
        frame.render_widget(Paragraph::new(empty), inner);
        return;
    }
    let first = first_row(pane.selected, inner.height as usize);
    let lines: Vec<Line> = items
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, item)| {
            let chosen = pane.focused && i == pane.selected;
            let line = row(item, chosen);
            if chosen {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Columns taken by the selection mark in front of a row.
pub const MARK_WIDTH: usize = 2;

/// The selection mark: seen even where reversed colours are not.
pub fn mark(selected: bool) -> &'static str {
    if selected { "▸ " } else { "  " }
}

/// `text` cut to `width` columns, with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    for g in text.graphemes(true) {
        if out.width() + g.width() + 1 > width {
            break;
        }
        out.push_str(g);
    }
    out.push('…');
    out
}

/// A time in the configured format, local or UTC.
pub fn clock(at_ms: i64, s: &Settings) -> String {
    format_time(at_ms, s, &s.timestamp_format)
}

/// The date of a time, for the line that marks a new day.
pub fn day(at_ms: i64, s: &Settings) -> String {
    format_time(at_ms, s, "%a %-d %b %Y")
}

/// A date and time, short: where search results were said.
pub fn stamp(at_ms: i64, s: &Settings) -> String {
    format_time(at_ms, s, "%-d %b %H:%M")
}

fn format_time(at_ms: i64, s: &Settings, format: &str) -> String {
    if s.utc {
        Utc.timestamp_millis_opt(at_ms)
            .single()
            .map(|t| t.format(format).to_string())
    } else {
        Local
            .timestamp_millis_opt(at_ms)
            .single()
            .map(|t| t.format(format).to_string())
    }
    .unwrap_or_else(|| "--:--".to_owned())
}

/// Columns between tab stops in shown text.
pub const TAB_STOP: usize = 4;

/// Tabs replaced by spaces up to the next tab stop, counted in display
/// columns from the start of each line.
pub fn expand_tabs(text: &str) -> String {
    if !text.contains('\t') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for g in text.graphemes(true) {
        match g {
            "\t" => {
                let spaces = TAB_STOP - column % TAB_STOP;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            "\n" => {
                out.push('\n');
                column = 0;
            }
            g => {
                out.push_str(g);
                column += g.width();
            }
        }
    }
    out
}

/// Does a token open or close nothing on its own, so it must stay with
/// the word before it (`word,` `word.` `word)` `word…`)?
fn clings(token: &str) -> bool {
    token.chars().all(|c| {
        matches!(
            c,
            ',' | '.' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '»' | '…' | '"' | '\'' | '%'
        )
    })
}

/// Does a token open something, so it must stay with the word after it?
fn opens(token: &str) -> bool {
    token
        .chars()
        .all(|c| matches!(c, '(' | '[' | '{' | '«' | '¿' | '¡'))
}

/// Splits a paragraph into pieces that wrap as a whole: words with the
/// punctuation around them, and runs of spaces.
fn pieces(paragraph: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut opened = String::new();
    for token in paragraph.split_word_bounds() {
        let blank = token.chars().all(char::is_whitespace);
        match out.last_mut() {
            _ if opens(token) => opened.push_str(token),
            Some(last)
                if clings(token) && opened.is_empty() && !last.chars().all(char::is_whitespace) =>
            {
                last.push_str(token);
            }
            _ if blank && !opened.is_empty() => {
                out.push(std::mem::take(&mut opened));
                out.push(token.to_owned());
            }
            _ => out.push(std::mem::take(&mut opened) + token),
        }
    }
    if !opened.is_empty() {
        out.push(opened);
    }
    out
}

/// Wraps `text` into lines of at most `width` display columns: at spaces
/// where possible, inside a word only when the word alone is too wide, and
/// never inside a grapheme cluster; punctuation stays with its word. `\n`
/// starts a new line; tabs go to the next tab stop.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let text = expand_tabs(text);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for token in pieces(paragraph) {
            let w = token.width();
            let blank = token.chars().all(char::is_whitespace);
            if used + w <= width {
                if !(blank && used == 0 && !line.is_empty()) {
                    line.push_str(&token);
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
                line.push_str(&token);
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

/// How the text is shown: newlines and tabs as visible one-column marks.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' => '→',
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

/// The columns scrolled off the left and the cursor's column within the
/// visible part, so the cursor stays in a field `width` columns wide.
pub fn cursor_and_scroll(text: &str, cursor: usize, width: usize) -> (usize, usize) {
    let before: String = shown(text).chars().take(cursor).collect();
    let col = before.width();
    let scroll = col.saturating_sub(width.saturating_sub(1));
    (scroll, col - scroll)
}

/// `text` without its first `skip` columns, cut to `width` columns.
pub fn window(text: &str, skip: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for g in shown(text).graphemes(true) {
        let w = g.width();
        if col >= skip && col + w <= skip + width {
            out.push_str(g);
        }
        col += w;
        if col >= skip + width {
            break;
        }
    }
    out
}

/// The connection in a few plain words, and how to show it.
pub fn connection_text(app: &App, s: &Settings) -> (String, Style) {
    let theme = &s.theme;
    match &app.conn {
        Conn::Connecting => ("◌ connecting…".to_owned(), theme.status_warn),
        Conn::Connected if s.plaintext => {
            ("● connected, unencrypted".to_owned(), theme.status_warn)
        }
        Conn::Connected => ("● connected".to_owned(), theme.status_ok),
        Conn::Reconnecting { .. } => (
            format!(
                "◌ reconnecting in {} s · {} tries now",
                app.reconnect_in().unwrap_or(0),
                s.keymap.key_for(Context::Global, Action::Reconnect)
            ),
            theme.status_warn,
        ),
        Conn::Offline(reason) => (format!("○ offline: {reason}"), theme.status_bad),
    }
}

/// What became of a file, in a few words, and the style to say it in.
pub fn state_text(files: &Files, file: &SharedFile, s: &Settings) -> (String, Style) {
    let theme = &s.theme;
    match &file.state {
        FileState::Waiting => {
            let key = s.keymap.key_for(Context::Global, Action::Files);
            (format!("press {key} to download"), theme.hint)
        }
        FileState::Sent => ("sent".to_owned(), theme.info),
        FileState::Downloading(id) => {
            let percent = files.transfer(*id).map_or(0, Transfer::percent);
            (format!("downloading {percent}%"), theme.file)
        }
        FileState::Saved(path) => (format!("saved to {}", path.display()), theme.file_done),
        FileState::Unavailable => ("no longer available".to_owned(), theme.offline),
        FileState::Failed(reason) => (format!("failed: {reason}"), theme.error),
    }
}

/// The text of an announcement after the time: who shared what, and its state.
pub fn announcement(
    me: &str,
    files: &Files,
    file: &SharedFile,
    s: &Settings,
) -> (String, String, Style) {
    let who = if file.from == me {
        "you".to_owned()
    } else {
        file.from.clone()
    };
    let (state, style) = state_text(files, file, s);
    // In the messages pane the hint's faint style would hide the file.
    let style = match file.state {
        FileState::Waiting => s.theme.file,
        _ => style,
    };
    let text = format!(
        "shared {} ({}) · {state}",
        file.info.name,
        human_size(file.info.size)
    );
    (who, text, style)
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
    fn punctuation_stays_with_its_word() {
        assert_eq!(wrap("one two, three.", 7), vec!["one", "two,", "three."]);
        assert_eq!(wrap("see (this)!", 9), vec!["see", "(this)!"]);
        for line in wrap("well, well, well... right? yes; done!", 7) {
            assert!(
                !line.starts_with([',', '.', '?', ';', '!']),
                "{line:?} starts with punctuation"
            );
        }
    }

    #[test]
    fn tabs_go_to_the_next_stop() {
        assert_eq!(expand_tabs("\tfn main() {"), "    fn main() {");
        assert_eq!(expand_tabs("ab\tc\n\t\td"), "ab  c\n        d");
        assert_eq!(
            wrap("if x {\n\treturn;\n}", 30),
            ["if x {", "    return;", "}"]
        );
    }

    #[test]
    fn a_popup_over_a_wide_glyph_leaves_no_half_of_it() {
        use ratatui::{Terminal, backend::TestBackend, style::Style};
        let mut terminal = Terminal::new(TestBackend::new(20, 5)).unwrap();
        terminal
            .draw(|frame| {
                // 日 at column 4 covers 4 and 5; the popup starts at 5.
                frame
                    .buffer_mut()
                    .set_string(0, 2, "abcd日日日日日日日日", Style::new());
                let area = frame.area();
                popup(frame, area, 10, 3, Line::raw(""), &Settings::default());
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        assert_eq!(buffer[(5, 2)].symbol(), "│", "the popup's border");
        // Drawn, the wide glyph would cover the border: it is blanked.
        assert_eq!(buffer[(4, 2)].symbol(), " ");
        assert_eq!(buffer[(3, 2)].symbol(), "d");
    }

    #[test]
    fn cuts_to_fit() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("日本語", 4), "日…");
    }

    #[test]
    fn the_cursor_counts_display_columns() {
        // "日本" is 4 columns; the cursor after it is at column 4.
        assert_eq!(cursor_and_scroll("日本語", 2, 20), (0, 4));
        // A field 5 columns wide scrolls so the cursor stays inside.
        assert_eq!(cursor_and_scroll("abcdefgh", 8, 5), (4, 4));
        assert_eq!(window("abcdefgh", 4, 5), "efgh");
        // A wide character that does not fit the window's edge is left out.
        assert_eq!(window("a日本", 2, 2), "");
        assert_eq!(window("a日本", 1, 2), "日");
        assert_eq!(shown("a\nb"), "a↵b");
        // Combining marks take no column.
        assert_eq!(cursor_and_scroll("e\u{301}x", 2, 20), (0, 1));
    }
}
