//! The help popup: every key and every command, built from the keymap and
//! the command table, so it is always true.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
};

use super::{app::App, commands::COMMANDS, keymap::Context, view};

/// Contexts in the order the help lists them.
pub const SECTIONS: &[Context] = &[
    Context::Global,
    Context::Input,
    Context::Messages,
    Context::Members,
    Context::Requests,
    Context::Confirm,
    Context::Popup,
    Context::Picker,
    Context::Files,
    Context::Login,
    Context::Pending,
];

pub fn lines(app: &App) -> Vec<Line<'static>> {
    let theme = &app.settings.theme;
    let mut out = Vec::new();
    let rows = app.settings.keymap.help_rows(SECTIONS);
    let key_width = rows
        .iter()
        .map(|(_, k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(18);
    let mut current = None;
    for (context, keys, help) in rows {
        if current != Some(context) {
            if current.is_some() {
                out.push(Line::raw(""));
            }
            out.push(Line::styled(context.title().to_owned(), theme.title));
            current = Some(context);
        }
        out.push(Line::from(vec![
            Span::styled(format!("  {keys:<key_width$}  "), theme.own_name),
            Span::raw(help),
        ]));
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
        let mut spans = vec![
            Span::styled(format!("  {usage:<22}  "), theme.own_name),
            Span::raw(c.help),
        ];
        if c.admin_only {
            spans.push(Span::styled(" (admin)", theme.admin));
        }
        out.push(Line::from(spans));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        "Write @name to mention someone. Start a line with // to send a line beginning with /.",
        theme.hint,
    ));
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let lines = lines(app);
    let title = Line::styled(" Help — Esc closes, ↑/↓ scroll ", app.settings.theme.title);
    let inner = view::popup(frame, area, 84, lines.len() as u16 + 2, title, app);
    let max = (lines.len() as u16).saturating_sub(inner.height);
    frame.render_widget(Paragraph::new(lines).scroll((scroll.min(max), 0)), inner);
}
