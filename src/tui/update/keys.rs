//! Keys, the mouse and pastes. A key goes to the open popup first, then,
//! in the chat, a plain character goes to the input line (and focuses it)
//! from whichever pane has focus, so typing never runs an action; then the
//! focused pane's bindings, then the global ones.

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{
    entries, files, line, network,
    screen::{connect, layout, open_help, page},
    standing::{self, Change},
};
use crate::tui::{
    action::{Action, Effect},
    app::{App, Conn, Popup, Screen},
    keymap::Context,
    model::{
        Focus,
        line::{edit, insert, is_text},
    },
    settings::Settings,
    view::{
        help,
        widgets::{first_row, inner},
    },
};

/// Lines the mouse wheel scrolls.
const WHEEL_LINES: isize = 3;

pub(super) fn on_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    if key.kind != KeyEventKind::Press {
        return Vec::new();
    }
    if app.popup.is_some() {
        return on_popup_key(app, s, key);
    }
    // Keys that work on every screen, but never in place of text.
    let typed = is_text(&key);
    match (!typed)
        .then(|| s.keymap.action(Context::Global, &key))
        .flatten()
    {
        Some(Action::Quit) => return vec![Effect::Quit],
        Some(Action::Redraw) => return vec![Effect::Redraw],
        Some(Action::ToggleMouse) => {
            app.mouse_captured = !app.mouse_captured;
            return vec![Effect::CaptureMouse(app.mouse_captured)];
        }
        Some(Action::Help) if !matches!(app.screen, Screen::Chat(_)) => return open_help(app),
        _ => {}
    }
    match &app.screen {
        Screen::Login(_) => on_login_key(app, s, key),
        Screen::Connecting | Screen::Pending(_) => on_waiting_key(app, s, key),
        Screen::Chat(_) => on_chat_key(app, s, key),
    }
}

fn on_popup_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let keymap = &s.keymap;
    let quit = || keymap.action(Context::Global, &key) == Some(Action::Quit);
    match &mut app.popup {
        Some(Popup::Picker(_)) => files::on_picker_key(app, s, key),
        Some(Popup::Files { .. }) => files::on_files_key(app, s, key),
        Some(Popup::Confirm(_)) => match keymap.action(Context::Confirm, &key) {
            Some(Action::Confirm) => match app.popup.take() {
                Some(Popup::Confirm(confirm)) => vec![Effect::Request(confirm.purpose)],
                _ => Vec::new(),
            },
            Some(Action::Cancel) => {
                app.popup = None;
                Vec::new()
            }
            _ if quit() => vec![Effect::Quit],
            _ => Vec::new(),
        },
        Some(Popup::Menu(menu)) => {
            match keymap.action(Context::Menu, &key) {
                Some(Action::Up) => menu.selected = menu.selected.saturating_sub(1),
                Some(Action::Down) => {
                    menu.selected = (menu.selected + 1).min(menu.choices.len().saturating_sub(1));
                }
                Some(Action::Choose) => {
                    let chosen = menu.choices.get(menu.selected).map(|(_, c)| c.clone());
                    app.popup = chosen.map(Popup::Confirm);
                }
                Some(Action::ClosePopup) => app.popup = None,
                _ if quit() => return vec![Effect::Quit],
                _ => {}
            }
            Vec::new()
        }
        Some(Popup::Help { .. }) | None => {
            let action = keymap
                .action(Context::Popup, &key)
                .or_else(|| keymap.action(Context::Global, &key));
            match action {
                Some(Action::ClosePopup | Action::Help) => app.popup = None,
                Some(Action::Up) => scroll_help(app, s, -1),
                Some(Action::Down) => scroll_help(app, s, 1),
                Some(Action::PageUp) => scroll_help(app, s, -10),
                Some(Action::PageDown) => scroll_help(app, s, 10),
                Some(Action::Quit) => return vec![Effect::Quit],
                _ => {}
            }
            Vec::new()
        }
    }
}

fn scroll_help(app: &mut App, s: &Settings, delta: i32) {
    let area = Rect::new(0, 0, app.size.width, app.size.height);
    let max = i32::from(help::max_scroll(s, area));
    if let Some(Popup::Help { scroll }) = &mut app.popup {
        *scroll = (i32::from(*scroll) + delta).clamp(0, max) as u16;
    }
}

fn on_login_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let Screen::Login(form) = &mut app.screen else {
        return Vec::new();
    };
    let global = || {
        (!is_text(&key))
            .then(|| s.keymap.action(Context::Global, &key))
            .flatten()
    };
    match s.keymap.action(Context::Login, &key).or_else(global) {
        Some(Action::NextField | Action::FocusNext) => form.focus_by(1),
        Some(Action::PrevField | Action::FocusPrev) => form.focus_by(2),
        Some(Action::Send) => {
            if let Some(i) = form.first_problem() {
                form.focus = i;
                return Vec::new();
            }
            let target = form.target();
            return connect(app, target);
        }
        Some(Action::Quit) => return vec![Effect::Quit],
        _ => {
            let field = form.focus;
            if edit(&mut form.fields[field], key) {
                form.error = None;
            }
        }
    }
    Vec::new()
}

fn on_waiting_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let action = s.keymap.action(Context::Pending, &key);
    match action {
        Some(Action::Quit) => vec![Effect::Quit],
        Some(Action::AskAgain) => ask_again(app),
        _ => Vec::new(),
    }
}

/// After a rejection (once any wait is over), or offline on the waiting
/// screen: ask again.
fn ask_again(app: &mut App) -> Vec<Effect> {
    let Screen::Pending(waiting) = &app.screen else {
        return Vec::new();
    };
    let waited = waiting.again_at.is_none_or(|at| at <= app.now);
    let allowed = waiting.rejected_by.is_some() || matches!(app.conn, Conn::Offline(_));
    if !(waited && allowed) {
        return Vec::new();
    }
    app.conn = Conn::Connecting;
    if let Screen::Pending(waiting) = &mut app.screen {
        waiting.again_at = None;
    }
    vec![Effect::Connect(app.target.clone())]
}

fn focus_context(focus: Focus) -> Context {
    match focus {
        Focus::Input => Context::Input,
        Focus::Messages => Context::Messages,
        Focus::Members => Context::Members,
        Focus::Requests => Context::Requests,
    }
}

fn on_chat_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    chat.timeline.seen();
    let context = focus_context(chat.focus);
    let action = s.keymap.action(context, &key);
    if action != Some(Action::Complete) {
        chat.composer.end_completion();
    }
    if is_text(&key) {
        // Typing goes to the input line from every pane.
        chat.focus = Focus::Input;
        if edit(&mut chat.composer.input, key) {
            chat.composer.edited();
        }
        return Vec::new();
    }
    if let Some(action) = action
        && let Some(effects) = pane_action(app, s, action)
    {
        return effects;
    }
    if let Some(action) = s.keymap.action(Context::Global, &key) {
        return global_action(app, s, action);
    }
    if let Some(chat) = app.chat_mut()
        && chat.focus == Focus::Input
        && edit(&mut chat.composer.input, key)
    {
        chat.composer.edited();
    }
    Vec::new()
}

/// An action of the focused pane; `None` if the pane does not take it.
fn pane_action(app: &mut App, s: &Settings, action: Action) -> Option<Vec<Effect>> {
    let chat = app.chat_mut()?;
    let done = Some(Vec::new());
    match (chat.focus, action) {
        (Focus::Input, Action::Send) => Some(line::submit(app, s)),
        (Focus::Input, Action::HistoryPrev) => {
            chat.composer.browse(-1);
            done
        }
        (Focus::Input, Action::HistoryNext) => {
            chat.composer.browse(1);
            done
        }
        // With an empty line, Tab moves on; with text, it only completes.
        (Focus::Input, Action::Complete) if chat.composer.value().is_empty() => None,
        (Focus::Input, Action::Complete) => {
            let members = chat.roster.member_names();
            let requesters = chat.roster.requester_names();
            let names = crate::tui::commands::Names {
                members: &members,
                requesters: &requesters,
            };
            chat.composer.complete(names);
            done
        }
        (Focus::Messages, Action::Up) => scrolled(app, s, 1),
        (Focus::Messages, Action::Down) => scrolled(app, s, -1),
        (Focus::Messages, Action::PageUp) => scrolled(app, s, page(app)),
        (Focus::Messages, Action::PageDown) => scrolled(app, s, -page(app)),
        (Focus::Messages, Action::Top) => scrolled(app, s, isize::MAX / 2),
        (Focus::Messages, Action::Bottom) => scrolled(app, s, isize::MIN / 2),
        (focus @ (Focus::Members | Focus::Requests), Action::Up | Action::Down) => {
            let delta = if action == Action::Up { -1 } else { 1 };
            if focus == Focus::Members {
                chat.roster.select_member(delta);
            } else {
                chat.roster.select_request(delta);
            }
            done
        }
        (focus @ (Focus::Members | Focus::Requests), Action::Choose) => {
            Some(standing::menu(app, s, focus == Focus::Requests))
        }
        (Focus::Members, Action::Kick) => Some(standing::ask(app, s, Change::Kick)),
        (Focus::Members, Action::MakeAdmin) => Some(standing::ask(app, s, Change::MakeAdmin)),
        (Focus::Requests, Action::Approve) => Some(standing::ask(app, s, Change::Approve)),
        (Focus::Requests, Action::Reject) => Some(standing::ask(app, s, Change::Reject)),
        _ => None,
    }
}

fn scrolled(app: &mut App, s: &Settings, delta: isize) -> Option<Vec<Effect>> {
    Some(entries::scroll(app, s, delta))
}

fn global_action(app: &mut App, s: &Settings, action: Action) -> Vec<Effect> {
    let size = app.size;
    match action {
        Action::Help => return open_help(app),
        Action::FocusNext | Action::FocusPrev => {
            if let Some(chat) = app.chat_mut() {
                let order = layout(size, chat).focus_order();
                let at = order.iter().position(|&f| f == chat.focus).unwrap_or(0);
                let step = if action == Action::FocusNext {
                    1
                } else {
                    order.len() - 1
                };
                chat.focus = order[(at + step) % order.len()];
            }
        }
        Action::FocusRequests => {
            if let Some(chat) = app.chat_mut() {
                chat.side_panes = true;
                if layout(size, chat).requests.is_some() {
                    chat.focus = Focus::Requests;
                }
            }
        }
        Action::ToggleSidebar => {
            if let Some(chat) = app.chat_mut() {
                chat.side_panes = !chat.side_panes;
                if !layout(size, chat).focus_order().contains(&chat.focus) {
                    chat.focus = Focus::Input;
                }
            }
        }
        Action::Reconnect => return network::reconnect(app, s),
        Action::PageUp => return entries::scroll(app, s, page(app)),
        Action::PageDown => return entries::scroll(app, s, -page(app)),
        Action::Bottom => return entries::scroll(app, s, isize::MIN / 2),
        Action::FilePicker => return files::open_picker(app, s),
        Action::Files => return files::open_files(app),
        Action::CancelTransfer => return files::cancel_newest(app, s),
        _ => {}
    }
    Vec::new()
}

pub(super) fn on_mouse(app: &mut App, s: &Settings, mouse: MouseEvent) -> Vec<Effect> {
    let at = Position::new(mouse.column, mouse.row);
    match mouse.kind {
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let up = mouse.kind == MouseEventKind::ScrollUp;
            if app.popup.is_some() {
                scroll_help(app, s, if up { -3 } else { 3 });
            } else {
                return entries::scroll(app, s, if up { WHEEL_LINES } else { -WHEEL_LINES });
            }
        }
        MouseEventKind::Down(MouseButton::Left) if app.popup.is_none() => {
            let size = app.size;
            let Some(chat) = app.chat_mut() else {
                return Vec::new();
            };
            let layout = layout(size, chat);
            if layout.messages.contains(at) {
                chat.focus = Focus::Messages;
            } else if layout.input.contains(at) {
                chat.focus = Focus::Input;
            } else if let Some(area) = layout.members.filter(|a| a.contains(at)) {
                chat.focus = Focus::Members;
                if let Some(row) = clicked_row(area, at, chat.roster.selected_member()) {
                    chat.roster.click_member(row);
                }
            } else if let Some(area) = layout.requests.filter(|a| a.contains(at)) {
                chat.focus = Focus::Requests;
                if let Some(row) = clicked_row(area, at, chat.roster.selected_request()) {
                    chat.roster.click_request(row);
                }
            }
        }
        _ => {}
    }
    Vec::new()
}

/// The list index under a click in a bordered list pane.
fn clicked_row(area: Rect, at: Position, selected: usize) -> Option<usize> {
    let pane = inner(area);
    if !pane.contains(at) {
        return None;
    }
    let first = first_row(selected, pane.height as usize);
    Some(first + usize::from(at.y - pane.y))
}

pub(super) fn on_paste(app: &mut App, text: &str) -> Vec<Effect> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    match (&mut app.popup, &mut app.screen) {
        (Some(Popup::Picker(picker)), _) => {
            picker.filter.push_str(&text.replace('\n', ""));
            picker.selected = 0;
        }
        (Some(_), _) => {}
        (None, Screen::Login(form)) => {
            let field = form.focus;
            insert(&mut form.fields[field], &text.replace('\n', ""));
        }
        (None, Screen::Chat(chat)) => {
            chat.focus = Focus::Input;
            insert(&mut chat.composer.input, text.trim_end_matches('\n'));
            chat.composer.edited();
        }
        (None, _) => {}
    }
    Vec::new()
}
