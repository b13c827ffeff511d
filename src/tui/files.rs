//! How file sharing looks: an announcement's words in the messages pane,
//! the strip of transfers in progress above the input line, and the files
//! popup.

use ratatui::{
    Frame,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::Paragraph,
};
use unicode_width::UnicodeWidthStr;

use super::{
    action::Action,
    app::App,
    keymap::Context,
    picker::{MARK_WIDTH, fit, mark},
    status::footer_line,
    transfer::{Direction, FileState, SharedFile, Transfer, human_duration, human_size},
    view,
};

/// Most transfers the strip shows; the rest are counted on its last line.
pub const STRIP_ROWS: usize = 3;

/// The rows the strip takes: none while nothing moves.
pub fn strip_height(app: &App) -> u16 {
    match app.transfers.len() {
        0 => 0,
        n if n <= STRIP_ROWS => n as u16,
        _ => STRIP_ROWS as u16,
    }
}

/// What became of a file, in a few words, and the style to say it in.
pub fn state_text(app: &App, file: &SharedFile) -> (String, Style) {
    let theme = &app.settings.theme;
    match &file.state {
        FileState::Waiting => {
            let key = app.settings.keymap.key_for(Context::Global, Action::Files);
            (format!("press {key} to download"), theme.hint)
        }
        FileState::Sent => ("sent".to_owned(), theme.info),
        FileState::Downloading(id) => {
            let percent = app.transfer(*id).map_or(0, Transfer::percent);
            (format!("downloading {percent}%"), theme.file)
        }
        FileState::Saved(path) => (format!("saved to {}", path.display()), theme.file_done),
        FileState::Unavailable => ("no longer available".to_owned(), theme.offline),
        FileState::Failed(reason) => (format!("failed: {reason}"), theme.error),
    }
}

/// The text of an announcement after the time: who shared what, and its state.
pub fn announcement(app: &App, file: &SharedFile) -> (String, String, Style) {
    let who = if file.from == app.name {
        "you".to_owned()
    } else {
        file.from.clone()
    };
    let (state, style) = state_text(app, file);
    // In the messages pane the hint's faint style would hide the file.
    let style = match file.state {
        FileState::Waiting => app.settings.theme.file,
        _ => style,
    };
    let text = format!(
        "shared {} ({}) · {state}",
        file.info.name,
        human_size(file.info.size)
    );
    (who, text, style)
}

/// One line of the strip in `width` columns: direction, name, bar, and as
/// many of percent, speed and time left as fit, in that order.
fn transfer_line(app: &App, transfer: &Transfer, width: usize) -> Line<'static> {
    let theme = &app.settings.theme;
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

/// The transfers in progress, newest first; the cancel key is shown on the
/// first line, the one it cancels.
pub fn draw_strip(frame: &mut Frame, area: Rect, app: &App) {
    let key = app
        .settings
        .keymap
        .key_for(Context::Global, Action::CancelTransfer);
    let hint = format!(" {key} cancel ");
    let hint_width = hint.width();
    let width = area.width as usize;
    let mut lines: Vec<Line> = app
        .transfers
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
            transfer_line(app, t, room)
        })
        .collect();
    let hidden = app.transfers.len().saturating_sub(STRIP_ROWS);
    if hidden > 0
        && let Some(last) = lines.last_mut()
    {
        *last = Line::styled(
            format!("  … and {hidden} more (see the files popup)"),
            app.settings.theme.hint,
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
            Paragraph::new(Span::styled(hint, app.settings.theme.footer_key)),
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

pub fn draw_popup(frame: &mut Frame, area: Rect, app: &App, selected: usize) {
    let theme = &app.settings.theme;
    let title = Line::styled(
        format!(" Files shared in #{} this session ", app.group),
        theme.title,
    );
    let height = (app.files.len() as u16).clamp(1, 16) + 4;
    let inner = view::popup(frame, area, 90, height, title, app);
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
        Paragraph::new(footer_line(app, &[Context::Files], footer.width)),
        footer,
    );
    if app.files.is_empty() {
        let key = app
            .settings
            .keymap
            .key_for(Context::Global, Action::FilePicker);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("No files shared yet. {key} sends one."),
                theme.hint,
            )),
            list,
        );
        return;
    }
    let width = list.width as usize;
    let name_width = (width / 3).clamp(8, 28);
    let first = super::members::first_row(selected, list.height as usize);
    let lines: Vec<Line> = app
        .files
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
                _ => state_text(app, file),
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
