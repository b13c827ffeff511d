//! How file sharing looks: an announcement's words in the messages pane,
//! the strip of transfers in progress above the input line, and the files
//! popup.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{MARK_WIDTH, first_row, fit, footer_line, mark, popup, state_text};
use crate::tui::{
    action::Action,
    keymap::Context,
    model::{
        Chat,
        conversation::Conv,
        transfer::{Direction, FileState, Transfer, human_duration, human_size},
    },
    settings::Settings,
};

/// Most transfers the strip shows; the rest are counted on its last line.
pub const STRIP_ROWS: usize = 3;

/// The rows the strip takes: none while nothing moves.
pub fn strip_height(chat: &Chat) -> u16 {
    match chat.transfers().count() {
        0 => 0,
        n if n <= STRIP_ROWS => n as u16,
        _ => STRIP_ROWS as u16,
    }
}

/// One line of the strip in `width` columns: direction, name, bar, and as
/// many of percent, speed and time left as fit, in that order.
fn transfer_line(transfer: &Transfer, width: usize, s: &Settings) -> Line<'static> {
    let theme = &s.theme;
    let arrow = match transfer.direction {
        Direction::Upload => "↑ ",
        Direction::Download => "↓ ",
    };
    let amount = if transfer.total == 0 {
        format!(" {}", human_size(transfer.done))
    } else {
        format!(
            " {:>3}% · {} of {}",
            transfer.percent(),
            human_size(transfer.done),
            human_size(transfer.total)
        )
    };
    let (mut speed, mut left) = match transfer.speed() {
        _ if transfer.cancelling => (Some(" · cancelling…".to_owned()), None),
        // An upload hashes the whole file before its first byte goes out.
        _ if transfer.direction == Direction::Upload && transfer.done == 0 => {
            (Some(" · checking…".to_owned()), None)
        }
        Some(speed) => (
            Some(format!(" · {}/s", human_size(speed as u64))),
            transfer
                .eta()
                .map(|left| format!(" · {} left", human_duration(left))),
        ),
        None => (None, None),
    };
    let bar_width = if width >= 90 { 20 } else { 10 };
    let name_room = transfer.name.width().clamp(1, 12);
    let fixed = arrow.width() + name_room + 1 + bar_width + amount.width();
    let extra = |s: &Option<String>| s.as_ref().map_or(0, |s| s.width());
    // Short of room, the speed goes before the time left.
    if fixed + extra(&speed) + extra(&left) > width && left.is_some() {
        speed = None;
    }
    if fixed + extra(&speed) + extra(&left) > width {
        (speed, left) = (None, None);
    }
    let numbers = format!(
        "{amount}{}{}",
        speed.unwrap_or_default(),
        left.unwrap_or_default()
    );
    let used = arrow.width() + 1 + bar_width + numbers.width();
    let name = fit(&transfer.name, width.saturating_sub(used).clamp(1, 40));
    let filled = (transfer.percent() as usize * bar_width)
        .div_ceil(100)
        .min(bar_width);
    Line::from(vec![
        Span::styled(arrow, theme.info),
        Span::styled(name, theme.file),
        Span::raw(" "),
        Span::styled("█".repeat(filled), theme.progress),
        Span::styled("░".repeat(bar_width - filled), theme.border),
        Span::styled(numbers, theme.text),
    ])
}

/// The transfers in progress in every conversation, newest first; the
/// cancel key is shown on the first line, the one it cancels.
pub fn draw_strip(frame: &mut Frame, area: Rect, chat: &Chat, s: &Settings) {
    let key = s.keymap.key_for(Context::Global, Action::CancelTransfer);
    let mut transfers: Vec<&Transfer> = chat.transfers().collect();
    transfers.sort_by_key(|t| t.id);
    let hint = format!(" {key} cancel ");
    let hint_width = hint.width();
    let width = area.width as usize;
    let mut lines: Vec<Line> = transfers
        .iter()
        .rev()
        .take(STRIP_ROWS)
        .enumerate()
        .map(|(i, t)| {
            let room = if i == 0 {
                width.saturating_sub(hint_width + 1)
            } else {
                width
            };
            transfer_line(t, room, s)
        })
        .collect();
    let hidden = transfers.len().saturating_sub(STRIP_ROWS);
    if hidden > 0
        && let Some(last) = lines.last_mut()
    {
        *last = Line::styled(
            format!("  … and {hidden} more (see the files popup)"),
            s.theme.hint,
        );
    }
    frame.render_widget(Paragraph::new(lines), area);
    let hint_width = hint_width as u16;
    if area.height > 0 && hint_width < area.width {
        let corner = Rect {
            x: area.right() - hint_width,
            width: hint_width,
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Span::styled(hint, s.theme.footer_key)),
            corner,
        );
    }
}

/// `text` fitted and padded to `width` display columns, then a space.
fn cell(text: &str, width: usize) -> String {
    let text = fit(text, width);
    let pad = width.saturating_sub(text.width());
    format!("{text}{} ", " ".repeat(pad))
}

pub fn draw_popup(frame: &mut Frame, area: Rect, conv: &Conv, s: &Settings, selected: usize) {
    let theme = &s.theme;
    let title = Line::styled(format!(" Files shared in {} ", conv.label()), theme.title);
    let files = conv.files.shared();
    let height = (files.len() as u16).clamp(1, 16) + 4;
    let inner = popup(frame, area, 90, height, title, s);
    if inner.height < 2 {
        return;
    }
    let list = Rect {
        height: inner.height - 2,
        ..inner
    };
    let footer = Rect {
        y: inner.bottom() - 1,
        height: 1,
        ..inner
    };
    frame.render_widget(
        Paragraph::new(footer_line(s, &[Context::Files], footer.width, |_| true)),
        footer,
    );
    if files.is_empty() {
        let key = s.keymap.key_for(Context::Global, Action::FilePicker);
        let text = if conv.files.listing {
            "Asking the server for the files…".to_owned()
        } else {
            format!("No files shared yet. {key} sends one.")
        };
        frame.render_widget(Paragraph::new(Line::styled(text, theme.hint)), list);
        return;
    }
    let width = list.width as usize;
    let name_width = (width / 3).clamp(8, 28);
    let first = first_row(selected, list.height as usize);
    let lines: Vec<Line> = files
        .iter()
        .rev()
        .enumerate()
        .skip(first)
        .take(list.height as usize)
        .map(|(i, file)| {
            let (state, state_style) = match file.state {
                // Here Enter is the key; "sent" alone would not say by whom.
                FileState::Waiting => ("not downloaded".to_owned(), theme.hint),
                FileState::Sent => ("sent by you".to_owned(), theme.info),
                _ => state_text(&conv.files, file, s),
            };
            let used = MARK_WIDTH + name_width + 1 + 10 + 1 + 10 + 1;
            let line = Line::from(vec![
                Span::raw(mark(i == selected)),
                Span::styled(cell(&file.info.name, name_width), theme.file),
                Span::styled(format!("{:>10} ", human_size(file.info.size)), theme.time),
                Span::styled(cell(&file.from, 10), theme.name_style(&file.from)),
                Span::styled(fit(&state, width.saturating_sub(used)), state_style),
            ]);
            if i == selected {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
}
