//! The help popup: every key and every command, built from the keymap and
//! the command table, so it is always true. It wraps to the popup's width
//! and scrolls, so it is complete at any size.

use ratatui::{
    Frame,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{popup, wrap};
use crate::tui::{commands::COMMANDS, keymap::Context, settings::Settings};

/// Contexts in the order the help lists them.
pub const SECTIONS: &[Context] = &[
    Context::Global,
    Context::Input,
    Context::Messages,
    Context::Members,
    Context::Requests,
    Context::Menu,
    Context::Confirm,
    Context::Popup,
    Context::Picker,
    Context::Files,
    Context::Login,
    Context::Pending,
];

/// The line-editing keys of the input line and the login form (the text
/// field's own, not rebindable).
pub const LINE_EDITING: &[(&str, &str)] = &[
    ("←, →", "move a character"),
    ("Ctrl-←, Ctrl-→", "move a word"),
    ("Home, End, Ctrl-A, Ctrl-E", "go to the start or the end"),
    ("Backspace, Del", "delete a character"),
    ("Ctrl-W, Alt-Backspace", "delete the word before the cursor"),
    ("Ctrl-Del", "delete the word after the cursor"),
    ("Ctrl-U", "delete the whole line"),
    ("Ctrl-K", "delete to the end"),
    ("Ctrl-Y", "put back what was deleted"),
];

/// The widest key column; longer keys wrap within it.
const KEY_WIDTH: usize = 18;

/// One row: keys in a column, the description wrapped beside them.
fn row(keys: &str, help: &str, width: usize, key_style: Style) -> Vec<Line<'static>> {
    let key_w = if width >= KEY_WIDTH + 24 {
        KEY_WIDTH
    } else {
        (width / 3).max(4)
    };
    let help_w = width.saturating_sub(key_w + 4).max(1);
    let keys = wrap(keys, key_w);
    let helps = wrap(help, help_w);
    (0..keys.len().max(helps.len()))
        .map(|i| {
            let k = keys.get(i).map_or("", String::as_str);
            let pad = key_w.saturating_sub(k.width());
            Line::from(vec![
                Span::styled(format!("  {k}{}  ", " ".repeat(pad)), key_style),
                Span::raw(helps.get(i).cloned().unwrap_or_default()),
            ])
        })
        .collect()
}

/// Every line of the help at `width` columns.
pub fn lines(s: &Settings, width: usize) -> Vec<Line<'static>> {
    let theme = &s.theme;
    let mut out = Vec::new();
    let mut current = None;
    for (context, keys, help) in s.keymap.help_rows(SECTIONS) {
        if current != Some(context) {
            if current.is_some() {
                out.push(Line::raw(""));
            }
            out.push(Line::styled(context.title().to_owned(), theme.title));
            current = Some(context);
        }
        out.extend(row(&keys, help, width, theme.own_name));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        "Line editing (input line and login form)",
        theme.title,
    ));
    for (keys, help) in LINE_EDITING {
        out.extend(row(keys, help, width, theme.own_name));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        "Commands (type them in the input line)",
        theme.title,
    ));
    for c in COMMANDS {
        let usage = if c.args.is_empty() {
            c.name.to_owned()
        } else {
            format!("{} {}", c.name, c.args)
        };
        let help = if c.admin_only {
            format!("{} (admin)", c.help)
        } else {
            c.help.to_owned()
        };
        out.extend(row(&usage, &help, width, theme.own_name));
    }
    out.push(Line::raw(""));
    let note = "Typing from any pane goes to the input line. Write @name (or name: at the \
                start) to mention someone. Start a line with // to send a line beginning with /.";
    out.extend(
        wrap(note, width)
            .into_iter()
            .map(|l| Line::styled(l, theme.hint)),
    );
    out
}

/// The popup's size in `area`: as wide as it needs up to 84 columns.
pub fn inner_size(area: Rect) -> (u16, u16) {
    let width = 84u16.min(area.width.saturating_sub(2)).max(1);
    let height = area.height.saturating_sub(2).max(1);
    (width.saturating_sub(2), height.saturating_sub(2))
}

/// How far the help can scroll in `area`.
pub fn max_scroll(s: &Settings, area: Rect) -> u16 {
    let (width, height) = inner_size(area);
    (lines(s, width as usize).len() as u16).saturating_sub(height)
}

pub fn draw(frame: &mut Frame, area: Rect, s: &Settings, scroll: u16) {
    let (width, _) = inner_size(area);
    let lines = lines(s, width as usize);
    let title = Line::styled(" Help — Esc closes, ↑/↓ PgUp/PgDn scroll ", s.theme.title);
    let inner = popup(frame, area, width + 2, lines.len() as u16 + 2, title, s);
    let max = (lines.len() as u16).saturating_sub(inner.height);
    frame.render_widget(Paragraph::new(lines).scroll((scroll.min(max), 0)), inner);
}
