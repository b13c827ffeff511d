//! Keys, the mouse and pastes. A key goes to the open popup first, then,
//! in the chat, a plain character goes to the input line (and focuses it)
//! from whichever pane has focus, so typing never runs an action; then the
//! focused pane's bindings, then the global ones.

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{
    conversations, entries, files, line, network,
    screen::{connect, layout, open_help, page},
    search,
    standing::{self, Change},
};
use crate::tui::{
    action::{Action, Effect, Purpose},
    app::{App, Popup, Screen},
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
        Screen::Connecting => on_waiting_key(app, s, key),
        Screen::Chat(chat) if chat.lone_waiting().is_some() => on_waiting_key(app, s, key),
        Screen::Chat(_) => on_chat_key(app, s, key),
    }
}

fn on_popup_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let keymap = &s.keymap;
    let quit = || keymap.action(Context::Global, &key) == Some(Action::Quit);
    match &mut app.popup {
        Some(Popup::Picker(_)) => files::on_picker_key(app, s, key),
        Some(Popup::Files { .. }) => files::on_files_key(app, s, key),
        Some(Popup::Switcher(_)) => conversations::on_switcher_key(app, s, key),
        Some(Popup::Search(_)) => search::on_search_key(app, s, key),
        Some(Popup::Confirm(_)) => match keymap.action(Context::Confirm, &key) {
            Some(Action::Confirm) => match app.popup.take() {
                Some(Popup::Confirm(confirm)) => {
                    if let Purpose::Leave(id) = &confirm.purpose {
                        conversations::leaving(app, id);
                    }
                    vec![Effect::Request(confirm.purpose)]
                }
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
            // The group may be left out; show what that means before going.
            if form.focus < 2 && form.no_group() {
                form.focus = 2;
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

/// The connecting and waiting screens: quit, or ask to join again after
/// a rejection (once any wait is over).
fn on_waiting_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let action = s.keymap.action(Context::Pending, &key);
    match action {
        Some(Action::Quit) => vec![Effect::Quit],
        Some(Action::AskAgain) => conversations::ask_again(app),
        _ => match s.keymap.action(Context::Global, &key) {
            Some(Action::Reconnect) => network::reconnect(app, s),
            _ => Vec::new(),
        },
    }
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
            let (members, requesters) = chat
                .current()
                .map(|conv| (conv.roster.member_names(), conv.roster.requester_names()))
                .unwrap_or_default();
            let mut people: Vec<String> = chat
                .convs()
                .flat_map(|conv| conv.roster.member_names())
                .collect();
            people.sort();
            people.dedup();
            let groups: Vec<String> = chat
                .convs()
                .filter(|conv| conv.peer.is_none())
                .map(|conv| conv.id.clone())
                .collect();
            let names = crate::tui::commands::Names {
                members: &members,
                requesters: &requesters,
                people: &people,
                groups: &groups,
            };
            chat.composer.complete(names);
            done
        }
        (Focus::Messages, Action::Up) => scrolled(app, s, 1),
        (Focus::Messages, Action::Down) => scrolled(app, s, -1),
        (Focus::Messages, Action::PageUp) => scrolled(app, s, page(app)),
        (Focus::Messages, Action::PageDown) => scrolled(app, s, -page(app)),
        (Focus::Messages, Action::Top) => scrolled(app, s, isize::MAX / 2),
        (Focus::Messages, Action::Bottom) => Some(entries::to_newest(app, s)),
        (focus @ (Focus::Members | Focus::Requests), Action::Up | Action::Down) => {
            let delta = if action == Action::Up { -1 } else { 1 };
            let roster = &mut chat.current_mut()?.roster;
            if focus == Focus::Members {
                roster.select_member(delta);
            } else {
                roster.select_request(delta);
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
                // From a group with none waiting, to one with some.
                let here = chat
                    .current()
                    .is_some_and(|conv| conv.requests_waiting() > 0);
                let there = chat
                    .convs()
                    .find(|conv| conv.requests_waiting() > 0)
                    .map(|conv| conv.id.clone());
                if let Some(id) = there.filter(|_| !here) {
                    chat.select(&id);
                }
                chat.side_panes = true;
                if layout(size, chat).requests.is_some() {
                    chat.focus = Focus::Requests;
                }
            }
        }
        Action::ToggleSidebar => {
            if let Some(chat) = app.chat_mut() {
                chat.side_panes = !chat.side_panes;
            }
        }
        Action::ToggleConversations => {
            if let Some(chat) = app.chat_mut() {
                chat.conv_pane = !chat.conv_pane;
            }
        }
        Action::Reconnect => return network::reconnect(app, s),
        Action::PageUp => return entries::scroll(app, s, page(app)),
        Action::PageDown => return entries::scroll(app, s, -page(app)),
        Action::Bottom => return entries::to_newest(app, s),
        Action::NextConversation => return conversations::go_by(app, 1),
        Action::PrevConversation => return conversations::go_by(app, -1),
        Action::GoTo(n) => return conversations::go_to_index(app, usize::from(n) - 1),
        Action::Switcher => return conversations::open_switcher(app),
        Action::Search => return search::open(app, ""),
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
            if let Some(area) = layout.conversations.filter(|a| a.contains(at)) {
                let selected = chat
                    .selected()
                    .and_then(|id| chat.position(id))
                    .unwrap_or(0);
                if let Some(row) = clicked_row(area, at, selected) {
                    return conversations::go_to_index(app, row);
                }
            } else if layout.messages.contains(at) {
                chat.focus = Focus::Messages;
            } else if layout.input.contains(at) {
                chat.focus = Focus::Input;
            } else if let Some(area) = layout.members.filter(|a| a.contains(at)) {
                chat.focus = Focus::Members;
                if let Some(roster) = chat.current_mut().map(|conv| &mut conv.roster)
                    && let Some(row) = clicked_row(area, at, roster.selected_member())
                {
                    roster.click_member(row);
                }
            } else if let Some(area) = layout.requests.filter(|a| a.contains(at)) {
                chat.focus = Focus::Requests;
                if let Some(roster) = chat.current_mut().map(|conv| &mut conv.roster)
                    && let Some(row) = clicked_row(area, at, roster.selected_request())
                {
                    roster.click_request(row);
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
        (Some(Popup::Switcher(switcher)), _) => {
            text.chars()
                .filter(|c| *c != '\n')
                .for_each(|c| switcher.push(c));
        }
        (Some(Popup::Search(search)), _) => search.query.push_str(&text.replace('\n', " ")),
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
