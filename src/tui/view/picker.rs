//! The file picker popup: the directory's entries, filtered as you type.

use std::path::Path;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Paragraph, Wrap},
};
use unicode_width::UnicodeWidthStr;

use super::widgets::{MARK_WIDTH, first_row, fit, footer_line, mark, popup};
use crate::tui::{
    keymap::Context,
    model::{
        picker::{Listing, Picker},
        transfer::human_size,
    },
    settings::Settings,
};

/// `dir` for the popup's title, with the home directory as `~`, cut from
/// the left to `width` columns.
fn title_path(dir: &Path, home: Option<&Path>, width: usize) -> String {
    let shown = match home.and_then(|h| dir.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_owned(),
        Some(rest) => format!("~/{}", rest.display()),
        None => dir.display().to_string(),
    };
    if shown.width() <= width {
        return shown;
    }
    let mut cut: String = shown.chars().rev().collect();
    while cut.width() + 1 > width && !cut.is_empty() {
        cut.pop();
    }
    format!("…{}", cut.chars().rev().collect::<String>())
}

pub fn draw(frame: &mut Frame, area: Rect, picker: &Picker, s: &Settings) {
    let theme = &s.theme;
    let width = 70u16.min(area.width.saturating_sub(2));
    let path = title_path(
        &picker.dir,
        s.home.as_deref(),
        usize::from(width.saturating_sub(16)),
    );
    let title = Line::styled(format!(" Send a file: {path} "), theme.title);
    let inner = popup(frame, area, width, 22, title, s);
    if inner.height < 3 {
        return;
    }
    let [filter_row, list_area, footer_row] = inner.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ]));
    let hidden_note = if picker.show_hidden {
        "  (hidden files shown)"
    } else {
        ""
    };
    let filter_line = if picker.filter.is_empty() {
        Line::from(vec![
            Span::styled("Filter: ", theme.hint),
            Span::styled(format!("type to filter{hidden_note}"), theme.hint),
        ])
    } else {
        Line::from(vec![
            Span::styled("Filter: ", theme.hint),
            Span::styled(picker.filter.clone(), theme.field_focused),
            Span::styled(hidden_note, theme.hint),
        ])
    };
    frame.render_widget(Paragraph::new(filter_line), filter_row);
    if !picker.filter.is_empty() {
        let col = ("Filter: ".width() + picker.filter.width()) as u16;
        if col < filter_row.width {
            frame.set_cursor_position((filter_row.x + col, filter_row.y));
        }
    }
    frame.render_widget(
        Paragraph::new(footer_line(s, &[Context::Picker], footer_row.width, |_| {
            true
        })),
        footer_row,
    );

    let mut note = |text: String, style| {
        frame.render_widget(
            Paragraph::new(Line::styled(text, style)).wrap(Wrap { trim: true }),
            list_area,
        );
    };
    let lines: Vec<Line> = match &picker.listing {
        Listing::Loading => return note("reading the directory…".to_owned(), theme.hint),
        Listing::Failed(message) => return note(message.clone(), theme.error),
        Listing::Ready(_) => {
            let visible = picker.visible();
            if visible.is_empty() {
                let what = if picker.filter.is_empty() {
                    "this directory is empty"
                } else {
                    "nothing matches the filter"
                };
                return note(what.to_owned(), theme.hint);
            } else {
                let height = list_area.height as usize;
                let first = first_row(picker.selected, height);
                let row_width = (list_area.width as usize).saturating_sub(MARK_WIDTH);
                visible
                    .iter()
                    .enumerate()
                    .skip(first)
                    .take(height)
                    .map(|(i, entry)| {
                        let (name, size, style) = if entry.is_dir {
                            (format!("{}/", entry.name), String::new(), theme.own_name)
                        } else {
                            (entry.name.clone(), human_size(entry.size), theme.text)
                        };
                        let size_width = size.width() + 1;
                        let name = fit(&name, row_width.saturating_sub(size_width + 1));
                        let gap = row_width.saturating_sub(name.width() + size.width());
                        let selected = i == picker.selected;
                        let line = Line::from(vec![
                            Span::raw(mark(selected)),
                            Span::styled(name, style),
                            Span::raw(" ".repeat(gap)),
                            Span::styled(size, theme.time),
                        ]);
                        if selected {
                            line.style(theme.selected)
                        } else {
                            line
                        }
                    })
                    .collect()
            }
        }
    };
    frame.render_widget(Paragraph::new(lines), list_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_from_the_left() {
        let home = Some(Path::new("/home/ann"));
        assert_eq!(title_path(Path::new("/home/ann"), home, 30), "~");
        assert_eq!(title_path(Path::new("/home/ann/src"), home, 30), "~/src");
        assert_eq!(
            title_path(Path::new("/var/lib/deep/dir"), home, 8),
            "…eep/dir"
        );
    }
}
