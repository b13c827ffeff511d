//! `update`: an event comes in, the state changes, and effects go out for
//! the runtime to perform. No I/O happens here, so every path is tested
//! without a terminal or a network.
//!
//! A key goes to the open popup first, then to the focused pane, then to
//! the global bindings; the first that takes it wins. In the input line,
//! keys nobody binds are text.

use crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::{Position, Rect, Size};
use tui_input::{Input, backend::crossterm::EventHandler};

use super::{
    action::{Action, Effect, Purpose, Target},
    app::{App, Completion, Confirm, Conn, Focus, Item, ItemKind, Popup, Screen},
    commands::{self, Command, Line},
    event::AppEvent,
    keymap::Context,
    messages::{self, item_lines, total_height},
    sharing,
    view::{self, ChatLayout},
};
use crate::{
    client::{ClientEvent, CloseReason},
    protocol::{
        Body, Event, GroupSnapshot, JoinStatus, LogEntry, MemberInfo, ReplyData, Role, Welcome,
    },
};

/// Lines the mouse wheel scrolls.
const WHEEL_LINES: isize = 3;

/// Where the app begins: straight to connecting when everything is known
/// and valid, else the login form.
pub fn start(app: &mut App, go_straight: bool) -> Vec<Effect> {
    if go_straight && app.login.first_problem().is_none() {
        connect_from_form(app)
    } else {
        app.screen = Screen::Login;
        Vec::new()
    }
}

pub fn update(app: &mut App, event: AppEvent) -> Vec<Effect> {
    match event {
        AppEvent::Key(key) if key.kind == KeyEventKind::Press => on_key(app, key),
        AppEvent::Key(_) | AppEvent::Tick => Vec::new(),
        AppEvent::Mouse(mouse) => on_mouse(app, mouse),
        AppEvent::Paste(text) => on_paste(app, &text),
        AppEvent::Resize(w, h) => {
            app.size = Size::new(w, h);
            let max = max_scroll(app);
            app.scroll.by(0, max);
            Vec::new()
        }
        AppEvent::FocusGained => {
            app.window_focused = true;
            if app.scroll.offset == 0 {
                app.unread = 0;
            }
            Vec::new()
        }
        AppEvent::FocusLost => {
            app.window_focused = false;
            Vec::new()
        }
        AppEvent::Connected(result) => on_connected(app, result),
        AppEvent::Client(event) => on_client(app, event),
        AppEvent::Reply { purpose, result } => on_reply(app, purpose, result),
        AppEvent::Listed { dir, result } => {
            sharing::on_listed(app, dir, result);
            Vec::new()
        }
        AppEvent::Transfer { id, update } => sharing::on_transfer(app, id, update),
        AppEvent::Terminate => vec![Effect::Quit],
    }
}

// ---------------------------------------------------------------- items

fn note(app: &mut App, kind: ItemKind) {
    add_item(app, Item { at_ms: None, kind });
}

fn add_item(app: &mut App, item: Item) {
    if app.scroll.offset > 0 {
        let (width, _) = messages_size(app);
        app.scroll.arrived(item_lines(&item, width, app).len());
    }
    app.push(item);
}

pub(super) fn info(app: &mut App, text: impl Into<String>) {
    note(app, ItemKind::Info(text.into()));
}

pub(super) fn error(app: &mut App, text: impl Into<String>) {
    note(app, ItemKind::Error(text.into()));
}

// ---------------------------------------------------------------- layout helpers

fn area(app: &App) -> Rect {
    Rect::new(0, 0, app.size.width, app.size.height)
}

fn layout(app: &App) -> ChatLayout {
    ChatLayout::new(area(app), app)
}

/// The messages pane's inner width and height.
fn messages_size(app: &App) -> (usize, usize) {
    let inner = view::inner(layout(app).messages);
    (inner.width.max(1) as usize, inner.height.max(1) as usize)
}

fn max_scroll(app: &App) -> usize {
    let (width, height) = messages_size(app);
    total_height(app, width).saturating_sub(height)
}

fn scroll_by(app: &mut App, delta: isize) {
    let max = max_scroll(app);
    app.scroll.by(delta, max);
    if app.scroll.offset == 0 {
        app.unread = 0;
    }
}

fn page(app: &App) -> isize {
    messages_size(app).1.saturating_sub(1).max(1) as isize
}

// ---------------------------------------------------------------- keys

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if app.popup.is_some() {
        return on_popup_key(app, key);
    }
    let keymap = app.settings.keymap.clone();
    match app.screen {
        Screen::Login => on_login_key(app, key),
        Screen::Connecting | Screen::Pending => {
            match keymap
                .action(Context::Pending, &key)
                .or_else(|| keymap.action(Context::Global, &key))
            {
                Some(Action::Quit) => vec![Effect::Quit],
                Some(Action::AskAgain)
                    if app.rejected_by.is_some() || matches!(app.conn, Conn::Offline(_)) =>
                {
                    app.rejected_by = None;
                    app.screen = Screen::Connecting;
                    app.conn = Conn::Connecting;
                    vec![Effect::Connect(target(app))]
                }
                Some(Action::Help) => open_help(app),
                _ => Vec::new(),
            }
        }
        Screen::Chat => on_chat_key(app, key),
    }
}

fn open_help(app: &mut App) -> Vec<Effect> {
    app.popup = Some(Popup::Help { scroll: 0 });
    Vec::new()
}

fn on_popup_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let keymap = app.settings.keymap.clone();
    match &app.popup {
        Some(Popup::Picker(_)) => return sharing::on_picker_key(app, key),
        Some(Popup::Files { .. }) => return sharing::on_files_key(app, key),
        _ => {}
    }
    if let Some(Popup::Confirm(_)) = &app.popup {
        match keymap.action(Context::Confirm, &key) {
            Some(Action::Confirm) => {
                let Some(Popup::Confirm(confirm)) = app.popup.take() else {
                    unreachable!()
                };
                return vec![Effect::Request(confirm.purpose)];
            }
            Some(Action::Cancel) => app.popup = None,
            _ => {
                if keymap.action(Context::Global, &key) == Some(Action::Quit) {
                    return vec![Effect::Quit];
                }
            }
        }
        return Vec::new();
    }
    match keymap
        .action(Context::Popup, &key)
        .or_else(|| keymap.action(Context::Global, &key))
    {
        Some(Action::ClosePopup | Action::Help) => app.popup = None,
        Some(Action::Up) => scroll_popup(app, -1),
        Some(Action::Down) => scroll_popup(app, 1),
        Some(Action::PageUp) => scroll_popup(app, -10),
        Some(Action::PageDown) => scroll_popup(app, 10),
        Some(Action::Quit) => return vec![Effect::Quit],
        _ if keymap.action(Context::Messages, &key) == Some(Action::Help) => app.popup = None,
        _ => {}
    }
    Vec::new()
}

fn scroll_popup(app: &mut App, delta: i32) {
    // The popup's border and a margin take four rows.
    let visible = i32::from(app.size.height.saturating_sub(4));
    let max = (super::help::lines(app).len() as i32 - visible).max(0);
    if let Some(Popup::Help { scroll }) = &mut app.popup {
        *scroll = (i32::from(*scroll) + delta).clamp(0, max) as u16;
    }
}

/// A key that types a character.
pub(super) fn is_text(key: &KeyEvent) -> bool {
    matches!(key.code, crossterm::event::KeyCode::Char(_))
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

fn on_login_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let keymap = app.settings.keymap.clone();
    let global = || {
        (!is_text(&key))
            .then(|| keymap.action(Context::Global, &key))
            .flatten()
    };
    match keymap.action(Context::Login, &key).or_else(global) {
        Some(Action::NextField | Action::FocusNext) => app.login.focus = (app.login.focus + 1) % 3,
        Some(Action::PrevField | Action::FocusPrev) => app.login.focus = (app.login.focus + 2) % 3,
        Some(Action::Send) => {
            if let Some(i) = app.login.first_problem() {
                app.login.focus = i;
                return Vec::new();
            }
            return connect_from_form(app);
        }
        Some(Action::Quit) => return vec![Effect::Quit],
        Some(Action::Help) => return open_help(app),
        _ => {
            let field = app.login.focus;
            if edit(&mut app.login.fields[field], key) {
                app.login.error = None;
            }
        }
    }
    Vec::new()
}

fn connect_from_form(app: &mut App) -> Vec<Effect> {
    let (server, name, group) = (app.login.value(0), app.login.value(1), app.login.value(2));
    if (server, name, group) != (app.server.as_str(), app.name.as_str(), app.group.as_str()) {
        // Somewhere else: what we read here says nothing about there.
        app.last_seq = None;
    }
    app.server = server.to_owned();
    app.name = name.to_owned();
    app.group = group.to_owned();
    app.login.error = None;
    app.screen = Screen::Connecting;
    app.conn = Conn::Connecting;
    vec![Effect::Connect(target(app))]
}

fn target(app: &App) -> Target {
    Target {
        server: app.server.clone(),
        name: app.name.clone(),
        group: app.group.clone(),
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

fn on_chat_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let keymap = app.settings.keymap.clone();
    if app.scroll.offset == 0 {
        app.unread = 0;
    }
    let is_complete =
        keymap.action(Context::Input, &key) == Some(Action::Complete) && app.focus == Focus::Input;
    if !is_complete {
        app.completion = None;
    }
    if let Some(action) = keymap.action(focus_context(app.focus), &key)
        && let Some(effects) = pane_action(app, action)
    {
        return effects;
    }
    let typing = is_text(&key);
    // In the input line a plain character is always text, whatever is bound.
    if !(app.focus == Focus::Input && typing)
        && let Some(action) = keymap.action(Context::Global, &key)
    {
        return global_action(app, action);
    }
    if app.focus != Focus::Input && typing {
        // Typing anywhere goes to the input line.
        app.focus = Focus::Input;
    }
    if app.focus == Focus::Input && edit(&mut app.input, key) {
        app.history_pos = None;
    }
    Vec::new()
}

/// Edits a text field. Moving and deleting one character go by grapheme
/// cluster (an accent, a flag or an emoji with a skin tone is one step);
/// everything else is tui-input's. Returns whether the text changed.
fn edit(input: &mut Input, key: KeyEvent) -> bool {
    use crossterm::event::KeyCode;
    if key.modifiers.is_empty() {
        let chars: Vec<char> = input.value().chars().collect();
        let cursor = input.cursor().min(chars.len());
        let bounds = grapheme_bounds(input.value());
        let before = bounds.iter().rev().copied().find(|&b| b < cursor);
        let after = bounds.iter().copied().find(|&b| b > cursor);
        let replace = |input: &mut Input, from: usize, to: usize, cursor: usize| {
            let text: String = chars[..from].iter().chain(&chars[to..]).collect();
            *input = Input::new(text).with_cursor(cursor);
        };
        match key.code {
            KeyCode::Left => {
                *input = Input::new(input.value().to_owned()).with_cursor(before.unwrap_or(0));
                return false;
            }
            KeyCode::Right => {
                let to = after.unwrap_or(chars.len());
                *input = Input::new(input.value().to_owned()).with_cursor(to);
                return false;
            }
            KeyCode::Backspace => {
                let Some(from) = before else { return false };
                replace(input, from, cursor, from);
                return true;
            }
            KeyCode::Delete => {
                let Some(to) = after else { return false };
                replace(input, cursor, to, cursor);
                return true;
            }
            _ => {}
        }
    }
    input
        .handle_event(&TermEvent::Key(key))
        .is_some_and(|changed| changed.value)
}

/// The char indices where grapheme clusters start, and the end.
fn grapheme_bounds(text: &str) -> Vec<usize> {
    use unicode_segmentation::UnicodeSegmentation;
    let mut bounds = vec![0];
    let mut at = 0;
    for g in text.graphemes(true) {
        at += g.chars().count();
        bounds.push(at);
    }
    bounds
}

/// An action of the focused pane; `None` if the pane does not take it.
fn pane_action(app: &mut App, action: Action) -> Option<Vec<Effect>> {
    let none = Some(Vec::new());
    match (app.focus, action) {
        (_, Action::Help) => Some(open_help(app)),
        (Focus::Input, Action::Send) => Some(submit(app)),
        (Focus::Input, Action::HistoryPrev) => {
            history(app, -1);
            none
        }
        (Focus::Input, Action::HistoryNext) => {
            history(app, 1);
            none
        }
        (Focus::Input, Action::Complete) => complete(app).then(Vec::new),
        (Focus::Messages, Action::Up) => {
            scroll_by(app, 1);
            none
        }
        (Focus::Messages, Action::Down) => {
            scroll_by(app, -1);
            none
        }
        (Focus::Messages, Action::Top) => {
            scroll_by(app, isize::MAX / 2);
            none
        }
        (Focus::Messages, Action::Bottom) => {
            scroll_by(app, isize::MIN / 2);
            none
        }
        (Focus::Members, Action::Up) => {
            app.selected_member = app.selected_member.saturating_sub(1);
            none
        }
        (Focus::Members, Action::Down) => {
            app.selected_member =
                (app.selected_member + 1).min(app.members.len().saturating_sub(1));
            none
        }
        (Focus::Members, Action::Kick) => {
            ask_about_member(app, true);
            none
        }
        (Focus::Members, Action::MakeAdmin) => {
            ask_about_member(app, false);
            none
        }
        (Focus::Requests, Action::Up) => {
            app.selected_request = app.selected_request.saturating_sub(1);
            none
        }
        (Focus::Requests, Action::Down) => {
            app.selected_request =
                (app.selected_request + 1).min(app.requests.len().saturating_sub(1));
            none
        }
        (Focus::Requests, Action::Approve) => Some(decide(app, true)),
        (Focus::Requests, Action::Reject) => Some(decide(app, false)),
        _ => None,
    }
}

fn global_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => return vec![Effect::Quit],
        Action::Help => return open_help(app),
        Action::FocusNext | Action::FocusPrev => {
            let order = layout(app).focus_order();
            let at = order.iter().position(|&f| f == app.focus).unwrap_or(0);
            let step = if action == Action::FocusNext {
                1
            } else {
                order.len() - 1
            };
            app.focus = order[(at + step) % order.len()];
        }
        Action::PageUp => scroll_by(app, page(app)),
        Action::PageDown => scroll_by(app, -page(app)),
        Action::Top => scroll_by(app, isize::MAX / 2),
        Action::Bottom => scroll_by(app, isize::MIN / 2),
        Action::FilePicker => return sharing::open_picker(app),
        Action::Files => return sharing::open_files(app),
        Action::CancelTransfer => return sharing::cancel_newest(app),
        _ => {}
    }
    Vec::new()
}

/// Admin checks shared by keys and commands; an error line says what is wrong.
fn require_admin(app: &mut App, what: &str) -> bool {
    if app.is_admin() {
        return true;
    }
    error(
        app,
        format!("only the admin can {what}; the admin is {}", app.admin),
    );
    false
}

fn ask_about_member(app: &mut App, kick: bool) {
    let Some(name) = app.selected_member_name() else {
        return;
    };
    if !require_admin(
        app,
        if kick {
            "kick members"
        } else {
            "hand over the admin role"
        },
    ) {
        return;
    }
    if name == app.name {
        error(
            app,
            if kick {
                "you cannot kick yourself"
            } else {
                "you are already the admin"
            },
        );
        return;
    }
    let confirm = if kick {
        Confirm {
            title: "Kick member".into(),
            question: format!(
                "Remove {name} from #{}? They can ask to join again.",
                app.group
            ),
            purpose: Purpose::Kick(name),
        }
    } else {
        Confirm {
            title: "Make admin".into(),
            question: format!(
                "Make {name} the admin of #{}? You will be a plain member.",
                app.group
            ),
            purpose: Purpose::ChangeAdmin(name),
        }
    };
    app.popup = Some(Popup::Confirm(confirm));
}

fn decide(app: &mut App, approve: bool) -> Vec<Effect> {
    let Some(name) = app.selected_request_name() else {
        return Vec::new();
    };
    if !require_admin(app, "decide on join requests") {
        return Vec::new();
    }
    vec![Effect::Request(if approve {
        Purpose::Approve(name)
    } else {
        Purpose::Reject(name)
    })]
}

fn history(app: &mut App, step: isize) {
    if app.history.is_empty() {
        return;
    }
    let pos = match (app.history_pos, step < 0) {
        (None, true) => {
            app.draft = app.input.value().to_owned();
            Some(app.history.len() - 1)
        }
        (None, false) => return,
        (Some(p), true) => Some(p.saturating_sub(1)),
        (Some(p), false) if p + 1 < app.history.len() => Some(p + 1),
        (Some(_), false) => None,
    };
    app.history_pos = pos;
    let text = pos.map_or_else(|| app.draft.clone(), |p| app.history[p].clone());
    app.input = Input::new(text);
}

/// Tab completion; false when there is nothing to complete (Tab then moves focus).
fn complete(app: &mut App) -> bool {
    let value: Vec<char> = app.input.value().chars().collect();
    let cursor = app.input.cursor();
    let (start, candidates, index) = match app.completion.take() {
        Some(c) => {
            let index = (c.index + 1) % c.candidates.len();
            (c.start, c.candidates, index)
        }
        None => {
            let mut names: Vec<String> = app.members.iter().map(|m| m.name.clone()).collect();
            names.extend(app.requests.iter().map(|r| r.name.clone()));
            let (start, candidates) = commands::candidates(app.input.value(), cursor, &names);
            if candidates.is_empty() {
                return false;
            }
            (start, candidates, 0)
        }
    };
    let chosen = &candidates[index];
    let single = candidates.len() == 1;
    let mut text: String = value[..start].iter().collect();
    text.push_str(chosen);
    if single {
        text.push(' ');
    }
    let new_cursor = text.chars().count();
    text.extend(&value[cursor.min(value.len())..]);
    app.input = Input::new(text).with_cursor(new_cursor);
    if !single {
        app.completion = Some(Completion {
            start,
            candidates,
            index,
        });
    }
    true
}

fn submit(app: &mut App) -> Vec<Effect> {
    let value = app.input.value().to_owned();
    if value.trim().is_empty() {
        return Vec::new();
    }
    let line = match commands::parse(&value) {
        Ok(line) => line,
        Err(message) => {
            error(app, message);
            return Vec::new();
        }
    };
    if app.history.last() != Some(&value) {
        app.history.push(value);
    }
    app.history_pos = None;
    app.input.reset();
    match line {
        Line::Text(text) => {
            app.scroll.to_bottom();
            vec![Effect::Request(Purpose::Send { text })]
        }
        Line::Command(command) => run_command(app, command),
    }
}

fn run_command(app: &mut App, command: Command) -> Vec<Effect> {
    let spec = command.spec();
    if spec.admin_only && !app.is_admin() {
        error(
            app,
            format!(
                "{} is for the admin only; the admin is {}",
                spec.name, app.admin
            ),
        );
        return Vec::new();
    }
    let purpose = match command {
        Command::Help => return open_help(app),
        Command::Disconnect => return vec![Effect::Quit],
        Command::FileTransfer(path) => return sharing::file_transfer_command(app, path),
        Command::Download => return sharing::download_newest(app),
        Command::ViewRequests => Purpose::ViewRequests,
        Command::ApproveRequest(name) => Purpose::Approve(name),
        Command::RejectRequest(name) => Purpose::Reject(name),
        Command::AllMembers => Purpose::AllMembers,
        Command::OnlineMembers => Purpose::OnlineMembers,
        Command::WhoAdmin => Purpose::WhoAdmin,
        Command::ChangeAdmin(name) => Purpose::ChangeAdmin(name),
        Command::KickMember(name) => Purpose::Kick(name),
    };
    vec![Effect::Request(purpose)]
}

// ---------------------------------------------------------------- mouse and paste

fn on_mouse(app: &mut App, mouse: MouseEvent) -> Vec<Effect> {
    let at = Position::new(mouse.column, mouse.row);
    match mouse.kind {
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let up = mouse.kind == MouseEventKind::ScrollUp;
            if app.popup.is_some() {
                scroll_popup(app, if up { -3 } else { 3 });
            } else if app.screen == Screen::Chat {
                scroll_by(app, if up { WHEEL_LINES } else { -WHEEL_LINES });
            }
        }
        MouseEventKind::Down(MouseButton::Left)
            if app.popup.is_none() && app.screen == Screen::Chat =>
        {
            let layout = layout(app);
            if layout.messages.contains(at) {
                app.focus = Focus::Messages;
            } else if layout.input.contains(at) {
                app.focus = Focus::Input;
            } else if let Some(area) = layout.members.filter(|a| a.contains(at)) {
                app.focus = Focus::Members;
                if let Some(row) = clicked_row(area, at, app.selected_member)
                    && row < app.members.len()
                {
                    app.selected_member = row;
                }
            } else if let Some(area) = layout.requests.filter(|a| a.contains(at)) {
                app.focus = Focus::Requests;
                if let Some(row) = clicked_row(area, at, app.selected_request)
                    && row < app.requests.len()
                {
                    app.selected_request = row;
                }
            }
        }
        _ => {}
    }
    Vec::new()
}

/// The list index under a click in a bordered list pane.
fn clicked_row(area: Rect, at: Position, selected: usize) -> Option<usize> {
    let inner = view::inner(area);
    if !inner.contains(at) {
        return None;
    }
    let first = super::members::first_row(selected, inner.height as usize);
    Some(first + usize::from(at.y - inner.y))
}

fn on_paste(app: &mut App, text: &str) -> Vec<Effect> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if let Some(Popup::Picker(picker)) = &mut app.popup {
        picker.filter.push_str(&text.replace('\n', ""));
        picker.selected = 0;
        return Vec::new();
    }
    let (input, single_line) = match (app.popup.is_some(), &app.screen) {
        (true, _) => return Vec::new(),
        (false, Screen::Login) => (&mut app.login.fields[app.login.focus], true),
        (false, Screen::Chat) => {
            app.focus = Focus::Input;
            (&mut app.input, false)
        }
        _ => return Vec::new(),
    };
    let text = if single_line {
        text.replace('\n', "")
    } else {
        text.trim_end_matches('\n').to_owned()
    };
    let mut chars: Vec<char> = input.value().chars().collect();
    let cursor = input.cursor().min(chars.len());
    let inserted: Vec<char> = text.chars().collect();
    chars.splice(cursor..cursor, inserted.iter().copied());
    *input = Input::new(chars.into_iter().collect()).with_cursor(cursor + inserted.len());
    Vec::new()
}

// ---------------------------------------------------------------- network

fn on_connected(app: &mut App, result: Result<Welcome, String>) -> Vec<Effect> {
    match result {
        Err(message) => {
            app.screen = Screen::Login;
            app.conn = Conn::Offline(message.clone());
            app.login.error = Some(message);
            Vec::new()
        }
        Ok(welcome) => {
            app.conn = Conn::Connected;
            app.name = welcome.name.clone();
            app.group = welcome.group.clone();
            let mut effects = vec![Effect::SaveSession];
            effects.extend(welcomed(app, welcome, false));
            effects
        }
    }
}

/// A hello was answered, on the first connection or a reconnect.
fn welcomed(app: &mut App, welcome: Welcome, again: bool) -> Vec<Effect> {
    match (welcome.status, welcome.snapshot) {
        (JoinStatus::Pending, _) | (_, None) => {
            app.screen = Screen::Pending;
            app.rejected_by = None;
        }
        (status, Some(snapshot)) => {
            let first_visit = app.screen != Screen::Chat;
            enter_chat(app, snapshot, status != JoinStatus::Created);
            if status == JoinStatus::Created {
                info(
                    app,
                    "You are the admin: join requests appear in the Requests panel.",
                );
            } else if again {
                info(app, "reconnected");
            } else if first_visit && app.is_admin() && !app.requests.is_empty() {
                let n = app.requests.len();
                note(
                    app,
                    ItemKind::Event(format!(
                        "{n} join request{} waiting",
                        if n == 1 { "" } else { "s" }
                    )),
                );
            }
        }
    }
    Vec::new()
}

fn enter_chat(app: &mut App, snapshot: GroupSnapshot, catch_up: bool) {
    app.screen = Screen::Chat;
    app.rejected_by = None;
    app.admin = snapshot.admin;
    app.members = snapshot.members;
    app.requests = snapshot.requests;
    app.selected_member = app.selected_member.min(app.members.len().saturating_sub(1));
    app.selected_request = app
        .selected_request
        .min(app.requests.len().saturating_sub(1));
    let seen = app.last_seq.unwrap_or(0);
    app.catch_up_to = (catch_up && snapshot.head > seen).then_some(snapshot.head);
    app.divider_shown = false;
    if !app.is_admin() && app.focus == Focus::Requests {
        app.focus = Focus::Input;
    }
}

fn on_client(app: &mut App, event: ClientEvent) -> Vec<Effect> {
    match event {
        ClientEvent::Server(event) => on_server(app, event),
        ClientEvent::Reconnecting {
            attempt,
            delay,
            reason,
        } => {
            if attempt == 1 {
                error(app, format!("connection lost: {reason}; reconnecting"));
            }
            app.conn = Conn::Reconnecting {
                attempt,
                at: app.now + delay,
            };
            Vec::new()
        }
        ClientEvent::Reconnected(welcome) => {
            app.conn = Conn::Connected;
            welcomed(app, welcome, true)
        }
        ClientEvent::ServerPinned {
            server,
            fingerprint,
        } => {
            info(
                app,
                format!(
                    "First connection to {server}: its certificate {fingerprint} is now \
                     pinned. If that is not the fingerprint the server printed, quit now."
                ),
            );
            Vec::new()
        }
        ClientEvent::Closed(reason) => {
            match reason {
                CloseReason::Disconnected => app.quit = true,
                CloseReason::Kicked { by } => {
                    app.conn = Conn::Offline(format!("kicked by {by}"));
                    app.requests.clear();
                    // Out of the group, we no longer hear who comes and goes.
                    let me = app.name.clone();
                    app.members.retain(|m| m.name != me);
                    app.members.iter_mut().for_each(|m| m.online = false);
                    clamp_selection(app);
                    if app.focus != Focus::Messages {
                        app.focus = Focus::Input;
                    }
                }
                CloseReason::Rejected { by } => {
                    app.screen = Screen::Pending;
                    app.rejected_by = Some(by.clone());
                    app.conn = Conn::Offline(format!("turned down by {by}"));
                }
                CloseReason::Refused(body) => {
                    error(
                        app,
                        format!("the server closed the session: {}", body.message),
                    );
                    app.conn = Conn::Offline(body.message);
                }
                CloseReason::Lost(reason) => {
                    error(app, format!("connection lost: {reason}"));
                    app.conn = Conn::Offline(reason);
                }
                CloseReason::Untrusted(warning) => {
                    error(app, warning);
                    app.conn = Conn::Offline("server certificate changed".into());
                }
            }
            Vec::new()
        }
    }
}

fn on_server(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::Message { entry } => return on_entry(app, entry),
        Event::MemberOnline { name } => set_online(app, &name, true),
        Event::MemberOffline { name } => set_online(app, &name, false),
        Event::JoinRequested { request } => {
            if !app.requests.iter().any(|r| r.name == request.name) {
                let (name, at_ms) = (request.name.clone(), request.at_ms);
                app.requests.push(request);
                let keymap = &app.settings.keymap;
                let hint = format!(
                    "{name} asks to join ({} to the requests, then {} approves, {} rejects)",
                    keymap.key_for(Context::Global, Action::FocusPrev),
                    keymap.key_for(Context::Requests, Action::Approve),
                    keymap.key_for(Context::Requests, Action::Reject),
                );
                add_item(
                    app,
                    Item {
                        at_ms: Some(at_ms),
                        kind: ItemKind::Event(hint),
                    },
                );
                if app.settings.bell_on_request {
                    return vec![Effect::Bell];
                }
            }
        }
        Event::RequestApproved { by, snapshot } => {
            enter_chat(app, snapshot, false);
            app.focus = Focus::Input;
            note(
                app,
                ItemKind::Event(format!("{by} let you into #{}", app.group)),
            );
        }
        Event::RequestRejected { by } => app.rejected_by = Some(by),
        Event::Kicked { by } => error(
            app,
            format!(
                "{by} removed you from #{}. To ask to come back, quit and join again.",
                app.group
            ),
        ),
        // The client library reconnects; its Reconnecting event tells the user.
        Event::ServerShutdown => {}
    }
    Vec::new()
}

fn set_online(app: &mut App, name: &str, online: bool) {
    match app.members.iter_mut().find(|m| m.name == name) {
        Some(member) => member.online = online,
        None if online => app.members.push(MemberInfo {
            name: name.to_owned(),
            role: Role::Member,
            online,
        }),
        None => {}
    }
}

fn on_entry(app: &mut App, entry: LogEntry) -> Vec<Effect> {
    if app.last_seq.is_some_and(|last| entry.seq <= last) {
        return Vec::new();
    }
    app.last_seq = Some(entry.seq);
    let mut effects = Vec::new();
    let catching_up = app.catch_up_to.is_some_and(|head| entry.seq <= head);
    if catching_up && !app.divider_shown {
        app.divider_shown = true;
        add_item(
            app,
            Item {
                at_ms: None,
                kind: ItemKind::Divider("while you were away".into()),
            },
        );
    }
    if app.catch_up_to.is_some_and(|head| entry.seq >= head) {
        app.catch_up_to = None;
    }
    let from = entry.from;
    let kind = match entry.body {
        Body::File { file } => {
            if from != app.name && (app.scroll.offset > 0 || !app.window_focused) {
                app.unread += 1;
            }
            let (kind, fetch) = sharing::announced(app, from, file, entry.at_ms);
            effects.extend(fetch);
            kind
        }
        Body::Text { text } => {
            let own = from == app.name;
            let mention = !own && messages::mentions(&text, &app.name);
            if mention && app.settings.bell_on_mention && !catching_up {
                effects.push(Effect::Bell);
            }
            if !own && (app.scroll.offset > 0 || !app.window_focused) {
                app.unread += 1;
            }
            ItemKind::Chat {
                from,
                text,
                own,
                mention,
            }
        }
        Body::GroupCreated => ItemKind::Event(format!("{from} created #{}", app.group)),
        Body::MemberJoined { name } => {
            app.requests.retain(|r| r.name != name);
            clamp_selection(app);
            if !app.members.iter().any(|m| m.name == name) {
                app.members.push(MemberInfo {
                    name: name.clone(),
                    role: Role::Member,
                    online: false,
                });
            }
            ItemKind::Event(format!("{name} joined (approved by {from})"))
        }
        Body::MemberKicked { name } => {
            app.members.retain(|m| m.name != name);
            clamp_selection(app);
            ItemKind::Event(format!("{from} removed {name} from the group"))
        }
        Body::AdminChanged { to } => {
            let was_admin = app.is_admin();
            app.admin = to.clone();
            for m in &mut app.members {
                m.role = if m.name == to {
                    Role::Admin
                } else {
                    Role::Member
                };
            }
            if was_admin && !app.is_admin() {
                app.requests.clear();
                if app.focus == Focus::Requests {
                    app.focus = Focus::Input;
                }
            }
            if to == app.name {
                ItemKind::Event(format!(
                    "{from} made you the admin: join requests now come to you"
                ))
            } else {
                ItemKind::Event(format!("{from} made {to} the admin"))
            }
        }
    };
    add_item(
        app,
        Item {
            at_ms: Some(entry.at_ms),
            kind,
        },
    );
    effects
}

fn clamp_selection(app: &mut App) {
    app.selected_member = app.selected_member.min(app.members.len().saturating_sub(1));
    app.selected_request = app
        .selected_request
        .min(app.requests.len().saturating_sub(1));
}

fn on_reply(app: &mut App, purpose: Purpose, result: Result<ReplyData, String>) -> Vec<Effect> {
    let data = match result {
        Ok(data) => data,
        Err(message) => {
            match &purpose {
                Purpose::Send { text } => {
                    // It is in the history: Up brings it back to send again.
                    let key = app
                        .settings
                        .keymap
                        .key_for(Context::Input, Action::HistoryPrev);
                    let excerpt: String = text.chars().take(40).collect();
                    let more = if excerpt.len() < text.len() {
                        "…"
                    } else {
                        ""
                    };
                    error(
                        app,
                        format!("not sent ({message}): \"{excerpt}{more}\"; {key} brings it back"),
                    );
                }
                _ => error(app, message),
            }
            return Vec::new();
        }
    };
    match (purpose, data) {
        (Purpose::ViewRequests, ReplyData::Requests { requests }) => {
            let list = if requests.is_empty() {
                "no join requests waiting".to_owned()
            } else {
                let names: Vec<_> = requests
                    .iter()
                    .map(|r| {
                        format!(
                            "{} (since {})",
                            r.name,
                            messages::clock(r.at_ms, app.settings.utc)
                        )
                    })
                    .collect();
                format!("join requests: {}", names.join(", "))
            };
            app.requests = requests;
            clamp_selection(app);
            info(app, list);
        }
        (Purpose::Reject(name), _) => {
            app.requests.retain(|r| r.name != name);
            clamp_selection(app);
            info(app, format!("you turned down {name}'s request"));
        }
        (Purpose::Approve(name), _) => {
            app.requests.retain(|r| r.name != name);
            clamp_selection(app);
        }
        (Purpose::WhoAdmin, ReplyData::Admin { name }) => {
            info(app, format!("{name} is the admin of #{}", app.group))
        }
        (Purpose::AllMembers, ReplyData::Members { members }) => {
            let list: Vec<_> = members
                .iter()
                .map(|m| {
                    let mut s = m.name.clone();
                    let tags: Vec<&str> = [(m.role == Role::Admin, "admin"), (m.online, "online")]
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, t)| *t)
                        .collect();
                    if !tags.is_empty() {
                        s.push_str(&format!(" ({})", tags.join(", ")));
                    }
                    s
                })
                .collect();
            info(
                app,
                format!("{} members: {}", members.len(), list.join(", ")),
            );
        }
        (Purpose::OnlineMembers, ReplyData::Members { members }) => {
            let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
            info(app, format!("{} online: {}", names.len(), names.join(", ")));
        }
        _ => {}
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossterm::event::{KeyCode, MouseButton, MouseEvent, MouseEventKind};

    use super::*;
    use crate::tui::fixtures::{self, *};

    fn last_kind(app: &App) -> &ItemKind {
        &app.items.last().expect("an item").kind
    }

    #[test]
    fn enter_sends_the_line_and_keeps_it_in_history() {
        let mut app = chat_as_member();
        type_text(&mut app, "hello");
        let effects = update(&mut app, key(KeyCode::Enter));
        assert_eq!(
            effects,
            vec![Effect::Request(Purpose::Send {
                text: "hello".into()
            })]
        );
        assert_eq!(app.input.value(), "");
        type_text(&mut app, "draft");
        update(&mut app, key(KeyCode::Up));
        assert_eq!(app.input.value(), "hello");
        update(&mut app, key(KeyCode::Down));
        assert_eq!(app.input.value(), "draft");
        // An empty line sends nothing.
        let mut app = chat_as_member();
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    }

    #[test]
    fn a_failed_send_says_so_and_history_has_the_text() {
        let mut app = chat_as_member();
        type_text(&mut app, "lost words");
        let effects = update(&mut app, key(KeyCode::Enter));
        let [Effect::Request(purpose)] = effects.as_slice() else {
            panic!("{effects:?}")
        };
        type_text(&mut app, "next");
        update(
            &mut app,
            AppEvent::Reply {
                purpose: purpose.clone(),
                result: Err("not connected to the server right now; retrying".into()),
            },
        );
        assert!(
            matches!(last_kind(&app), ItemKind::Error(e) if e.starts_with("not sent") && e.contains("\"lost words\"")),
            "{:?}",
            last_kind(&app)
        );
        assert_eq!(
            app.input.value(),
            "next",
            "what is being typed is left alone"
        );
        update(&mut app, key(KeyCode::Up));
        assert_eq!(app.input.value(), "lost words");
    }

    #[test]
    fn bad_commands_and_wrong_roles_are_inline_errors() {
        let mut app = chat_as_member();
        type_text(&mut app, "/frobnicate");
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
        assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("unknown command")));
        assert_eq!(
            app.input.value(),
            "/frobnicate",
            "the line stays to be fixed"
        );

        let mut app = chat_as_member();
        type_text(&mut app, "/kickMember carol");
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
        assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("admin only")));

        let mut app = chat_as_member();
        type_text(&mut app, "/approveRequest");
        update(&mut app, key(KeyCode::Enter));
        assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("needs a NAME")));
    }

    #[test]
    fn commands_become_requests_and_replies_become_lines() {
        let mut app = chat_as_admin();
        for (line, purpose) in [
            ("/kickMember bob", Purpose::Kick("bob".into())),
            ("/changeAdmin bob", Purpose::ChangeAdmin("bob".into())),
            ("/approveRequest carol", Purpose::Approve("carol".into())),
            ("/rejectRequest dan", Purpose::Reject("dan".into())),
            ("/viewRequests", Purpose::ViewRequests),
            ("/allMembers", Purpose::AllMembers),
            ("/onlineMembers", Purpose::OnlineMembers),
            ("/whoAdmin", Purpose::WhoAdmin),
        ] {
            type_text(&mut app, line);
            assert_eq!(
                update(&mut app, key(KeyCode::Enter)),
                vec![Effect::Request(purpose)],
                "{line}"
            );
        }
        type_text(&mut app, "/disconnect");
        assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![Effect::Quit]);
        type_text(&mut app, "/fileTransfer notes.txt");
        assert_eq!(
            update(&mut app, key(KeyCode::Enter)),
            vec![Effect::SendFile {
                id: 1,
                path: "/home/bob/project/notes.txt".into()
            }]
        );
        type_text(&mut app, "/download");
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty());

        update(
            &mut app,
            AppEvent::Reply {
                purpose: Purpose::WhoAdmin,
                result: Ok(ReplyData::Admin {
                    name: "alice".into(),
                }),
            },
        );
        assert_eq!(
            last_kind(&app),
            &ItemKind::Info("alice is the admin of #rust".into())
        );
        update(
            &mut app,
            AppEvent::Reply {
                purpose: Purpose::AllMembers,
                result: Ok(ReplyData::Members {
                    members: vec![
                        member("alice", "alice", true),
                        member("bob", "alice", false),
                    ],
                }),
            },
        );
        assert_eq!(
            last_kind(&app),
            &ItemKind::Info("2 members: alice (admin, online), bob".into())
        );
    }

    #[test]
    fn tab_completes_commands_and_names_and_otherwise_moves_focus() {
        let mut app = chat_as_admin();
        type_text(&mut app, "/kic");
        update(&mut app, key(KeyCode::Tab));
        assert_eq!(app.input.value(), "/kickMember ");
        type_text(&mut app, "b");
        update(&mut app, key(KeyCode::Tab));
        assert_eq!(app.input.value(), "/kickMember bob ");
        assert_eq!(app.focus, Focus::Input);

        let mut app = chat_as_admin();
        type_text(&mut app, "hi @");
        update(&mut app, key(KeyCode::Tab));
        let first = app.input.value().to_owned();
        update(&mut app, key(KeyCode::Tab));
        assert_ne!(app.input.value(), first, "Tab again cycles");
        assert!(app.completion.is_some());

        let mut app = chat_as_admin();
        update(&mut app, key(KeyCode::Tab));
        assert_eq!(app.focus, Focus::Messages, "nothing to complete: next pane");
        for expected in [Focus::Members, Focus::Requests, Focus::Input] {
            update(&mut app, key(KeyCode::Tab));
            assert_eq!(app.focus, expected);
        }
        update(&mut app, key(KeyCode::BackTab));
        assert_eq!(app.focus, Focus::Requests);
    }

    #[test]
    fn the_admin_is_alerted_and_approves_with_a_key() {
        let mut app = chat_as_admin();
        let effects = update(
            &mut app,
            AppEvent::Client(ClientEvent::Server(Event::JoinRequested {
                request: request("erin", 9),
            })),
        );
        assert_eq!(effects, vec![Effect::Bell]);
        assert_eq!(app.requests.last().unwrap().name, "erin", "newest last");
        assert!(matches!(last_kind(&app), ItemKind::Event(e) if e.contains("erin asks to join")));
        // The same request again (a reconnect) is not a second alert.
        let again = update(
            &mut app,
            AppEvent::Client(ClientEvent::Server(Event::JoinRequested {
                request: request("erin", 9),
            })),
        );
        assert!(again.is_empty());

        update(&mut app, key(KeyCode::BackTab));
        assert_eq!(app.focus, Focus::Requests);
        assert_eq!(
            update(&mut app, ch('a')),
            vec![Effect::Request(Purpose::Approve("carol".into()))]
        );
        update(&mut app, key(KeyCode::Down));
        assert_eq!(
            update(&mut app, ch('r')),
            vec![Effect::Request(Purpose::Reject("dan".into()))]
        );
        update(
            &mut app,
            AppEvent::Reply {
                purpose: Purpose::Reject("dan".into()),
                result: Ok(ReplyData::Done),
            },
        );
        // Approval shows up as a log entry; the request leaves the panel.
        update(
            &mut app,
            entry(
                5,
                "alice",
                Body::MemberJoined {
                    name: "carol".into(),
                },
            ),
        );
        let names: Vec<_> = app.requests.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["erin"]);
        assert!(app.members.iter().any(|m| m.name == "carol"));
    }

    #[test]
    fn kick_and_make_admin_ask_first() {
        let mut app = chat_as_admin();
        feed(
            &mut app,
            [key(KeyCode::Tab), key(KeyCode::Tab), key(KeyCode::Down)],
        );
        assert_eq!(app.focus, Focus::Members);
        assert!(update(&mut app, ch('x')).is_empty());
        assert!(
            matches!(&app.popup, Some(Popup::Confirm(c)) if c.purpose == Purpose::Kick("bob".into()))
        );
        assert!(update(&mut app, ch('n')).is_empty());
        assert_eq!(app.popup, None);
        update(&mut app, ch('m'));
        assert_eq!(
            update(&mut app, ch('y')),
            vec![Effect::Request(Purpose::ChangeAdmin("bob".into()))]
        );
        assert_eq!(app.popup, None);
        // Yourself: an error, no popup.
        update(&mut app, key(KeyCode::Up));
        update(&mut app, ch('x'));
        assert_eq!(app.popup, None);
        assert!(matches!(last_kind(&app), ItemKind::Error(_)));
        // Not the admin: an error, no popup.
        let mut app = chat_as_member();
        feed(&mut app, [key(KeyCode::Tab), key(KeyCode::Tab), ch('x')]);
        assert_eq!(app.popup, None);
        assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("only the admin")));
    }

    #[test]
    fn losing_the_admin_role_hides_the_requests() {
        let mut app = chat_as_admin();
        update(&mut app, key(KeyCode::BackTab));
        update(
            &mut app,
            entry(5, "alice", Body::AdminChanged { to: "bob".into() }),
        );
        assert!(!app.is_admin());
        assert!(app.requests.is_empty());
        assert_eq!(app.focus, Focus::Input);
        assert_eq!(
            app.sorted_members()[0].name,
            "bob",
            "the admin is listed first"
        );
    }

    #[test]
    fn the_divider_marks_what_came_while_away_once() {
        let mut app = fixtures::app("bob", "rust");
        app.last_seq = Some(3);
        let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 5);
        feed(&mut app, [welcome("bob", JoinStatus::Member, Some(snap))]);
        feed(
            &mut app,
            [
                text(4, "alice", "one"),
                text(5, "alice", "two"),
                text(5, "alice", "two"),
                text(6, "alice", "live"),
            ],
        );
        let kinds: Vec<_> = app.items.iter().map(|i| &i.kind).collect();
        assert!(matches!(kinds[0], ItemKind::Divider(_)));
        assert_eq!(
            kinds
                .iter()
                .filter(|k| matches!(k, ItemKind::Divider(_)))
                .count(),
            1
        );
        assert_eq!(
            kinds.len(),
            4,
            "divider + three messages, the duplicate dropped"
        );
        assert_eq!(app.last_seq, Some(6));
        // A creator sees no divider.
        let mut app = fixtures::app("ann", "new");
        feed(
            &mut app,
            [welcome(
                "ann",
                JoinStatus::Created,
                Some(snapshot("ann", &[("ann", true)], &[], 1)),
            )],
        );
        feed(&mut app, [entry(1, "ann", Body::GroupCreated)]);
        assert!(
            !app.items
                .iter()
                .any(|i| matches!(i.kind, ItemKind::Divider(_)))
        );
    }

    #[test]
    fn mentions_ring_the_bell_and_count_as_unread() {
        let mut app = chat_as_member();
        assert_eq!(
            update(&mut app, text(5, "alice", "@bob look")),
            vec![Effect::Bell]
        );
        assert!(matches!(
            last_kind(&app),
            ItemKind::Chat { mention: true, .. }
        ));
        assert!(update(&mut app, text(6, "bob", "@bob talking to myself")).is_empty());
        app.settings.bell_on_mention = false;
        assert!(update(&mut app, text(7, "alice", "@bob again")).is_empty());
        update(&mut app, AppEvent::FocusLost);
        update(&mut app, text(8, "alice", "hello?"));
        update(&mut app, text(9, "alice", "hello??"));
        assert_eq!(app.unread, 2);
        assert_eq!(app.title(), "(2) pyconchat · rust");
        update(&mut app, AppEvent::FocusGained);
        assert_eq!(app.unread, 0);
    }

    #[test]
    fn scrolling_holds_still_and_marks_new_messages() {
        let mut app = chat_as_member();
        for seq in 5..40 {
            update(&mut app, text(seq, "carol", "filler"));
        }
        update(&mut app, key(KeyCode::PageUp));
        let offset = app.scroll.offset;
        assert!(offset > 0);
        update(&mut app, text(40, "alice", "new"));
        assert_eq!(app.scroll.offset, offset + 1);
        assert_eq!(app.scroll.new_below, 1);
        update(
            &mut app,
            AppEvent::Mouse(MouseEvent {
                kind: MouseEventKind::ScrollDown,
                column: 10,
                row: 5,
                modifiers: KeyModifiers::NONE,
            }),
        );
        assert_eq!(app.scroll.offset, offset + 1 - 3);
        update(&mut app, key(KeyCode::Tab));
        update(&mut app, key(KeyCode::End));
        assert_eq!(app.scroll.offset, 0);
        assert_eq!(app.scroll.new_below, 0);
        update(&mut app, key(KeyCode::Home));
        assert_eq!(app.scroll.offset, max_scroll(&app));
    }

    #[test]
    fn clicks_focus_panes_and_select_rows() {
        let mut app = chat_as_admin();
        let click = |column, row| {
            AppEvent::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column,
                row,
                modifiers: KeyModifiers::NONE,
            })
        };
        let layout = layout(&app);
        let members = view::inner(layout.members.unwrap());
        update(&mut app, click(members.x + 1, members.y + 1));
        assert_eq!(app.focus, Focus::Members);
        assert_eq!(app.selected_member, 1);
        let requests = view::inner(layout.requests.unwrap());
        update(&mut app, click(requests.x, requests.y + 1));
        assert_eq!(app.focus, Focus::Requests);
        assert_eq!(app.selected_request, 1);
        update(
            &mut app,
            click(layout.messages.x + 3, layout.messages.y + 3),
        );
        assert_eq!(app.focus, Focus::Messages);
    }

    #[test]
    fn a_multi_line_paste_is_one_message() {
        let mut app = chat_as_member();
        update(
            &mut app,
            AppEvent::Paste("first line\r\nsecond line\n".into()),
        );
        let effects = update(&mut app, key(KeyCode::Enter));
        assert_eq!(
            effects,
            vec![Effect::Request(Purpose::Send {
                text: "first line\nsecond line".into()
            })]
        );
    }

    #[test]
    fn connection_state_follows_the_client() {
        let mut app = chat_as_member();
        update(
            &mut app,
            AppEvent::Client(ClientEvent::Reconnecting {
                attempt: 1,
                delay: Duration::from_secs(2),
                reason: "gone".into(),
            }),
        );
        assert_eq!(app.reconnect_in(), Some(2));
        assert!(app.next_tick().is_some(), "the countdown needs a timer");
        assert!(matches!(last_kind(&app), ItemKind::Error(e) if e.contains("connection lost")));
        let snap = snapshot("alice", &[("alice", true), ("bob", true)], &[], 4);
        update(
            &mut app,
            AppEvent::Client(ClientEvent::Reconnected(Welcome {
                status: JoinStatus::Member,
                name: "bob".into(),
                group: "rust".into(),
                snapshot: Some(snap),
            })),
        );
        assert_eq!(app.conn, Conn::Connected);
        assert_eq!(app.next_tick(), None, "no timer when idle");
        update(
            &mut app,
            AppEvent::Client(ClientEvent::Closed(CloseReason::Kicked {
                by: "alice".into(),
            })),
        );
        assert_eq!(app.conn, Conn::Offline("kicked by alice".into()));
        assert!(app.members.iter().all(|m| !m.online && m.name != "bob"));
    }

    #[test]
    fn pending_then_approved_or_rejected() {
        let mut app = fixtures::app("bob", "rust");
        assert_eq!(
            start(&mut app, true),
            vec![Effect::Connect(Target {
                server: "127.0.0.1:7667".into(),
                name: "bob".into(),
                group: "rust".into()
            })]
        );
        assert_eq!(
            update(&mut app, welcome("bob", JoinStatus::Pending, None)),
            vec![Effect::SaveSession]
        );
        assert_eq!(app.screen, Screen::Pending);
        update(
            &mut app,
            AppEvent::Client(ClientEvent::Server(Event::RequestApproved {
                by: "alice".into(),
                snapshot: snapshot("alice", &[("alice", true), ("bob", true)], &[], 2),
            })),
        );
        assert_eq!(app.screen, Screen::Chat);

        let mut app = fixtures::app("bob", "rust");
        start(&mut app, true);
        update(&mut app, welcome("bob", JoinStatus::Pending, None));
        assert!(
            update(&mut app, ch('r')).is_empty(),
            "nothing to ask again yet"
        );
        update(
            &mut app,
            AppEvent::Client(ClientEvent::Closed(CloseReason::Rejected {
                by: "alice".into(),
            })),
        );
        assert_eq!(app.rejected_by.as_deref(), Some("alice"));
        assert!(matches!(
            update(&mut app, ch('r')).as_slice(),
            [Effect::Connect(_)]
        ));
        assert_eq!(app.screen, Screen::Connecting);
        assert_eq!(update(&mut app, ctrl('c')), vec![Effect::Quit]);
    }

    #[test]
    fn the_login_form_connects_only_when_valid() {
        let mut app = fixtures::app("", "");
        start(&mut app, true);
        assert_eq!(app.screen, Screen::Login);
        type_text(&mut app, "ann");
        assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
        assert_eq!(app.login.focus, 2, "focus moves to the empty group");
        type_text(&mut app, "rust");
        assert!(
            matches!(update(&mut app, key(KeyCode::Enter)).as_slice(), [Effect::Connect(t)] if t.name == "ann" && t.group == "rust")
        );
        update(
            &mut app,
            AppEvent::Connected(Err("cannot reach 127.0.0.1:7667: refused".into())),
        );
        assert_eq!(app.screen, Screen::Login);
        assert_eq!(
            app.login.error.as_deref(),
            Some("cannot reach 127.0.0.1:7667: refused")
        );
        assert_eq!(update(&mut app, key(KeyCode::Esc)), vec![Effect::Quit]);
    }

    #[test]
    fn plain_characters_in_the_input_line_are_text_whatever_is_bound() {
        let mut overrides = std::collections::BTreeMap::new();
        overrides.insert(
            "help".to_owned(),
            crate::config::KeySpec::Many(vec!["f1".into(), "?".into()]),
        );
        let mut app = chat_as_member();
        app.settings.keymap = crate::tui::keymap::Keymap::with_overrides(&overrides).unwrap();
        type_text(&mut app, "why?");
        assert_eq!(app.input.value(), "why?");
        assert_eq!(app.popup, None);
        update(&mut app, key(KeyCode::Tab));
        update(&mut app, ch('?'));
        assert!(
            matches!(app.popup, Some(Popup::Help { .. })),
            "outside the input line ? is help"
        );
    }

    #[test]
    fn the_cursor_steps_over_whole_graphemes() {
        let mut app = chat_as_member();
        // "é" written as e + a combining accent, then a thumbs-up with a skin tone.
        update(&mut app, AppEvent::Paste("ae\u{301}👍🏽b".into()));
        assert_eq!(app.input.cursor(), 6);
        update(&mut app, key(KeyCode::Left));
        assert_eq!(app.input.cursor(), 5, "before b");
        update(&mut app, key(KeyCode::Left));
        assert_eq!(app.input.cursor(), 3, "before the emoji and its skin tone");
        update(&mut app, key(KeyCode::Backspace));
        assert_eq!(app.input.value(), "a👍🏽b", "the accent goes with its letter");
        update(&mut app, key(KeyCode::Delete));
        assert_eq!(app.input.value(), "ab");
        update(&mut app, key(KeyCode::Right));
        update(&mut app, key(KeyCode::Right));
        assert_eq!(app.input.cursor(), 2);
    }

    #[test]
    fn popups_take_keys_first() {
        let mut app = chat_as_member();
        update(&mut app, key(KeyCode::F(1)));
        assert!(matches!(app.popup, Some(Popup::Help { .. })));
        update(&mut app, ch('a'));
        assert_eq!(
            app.input.value(),
            "",
            "typing does not reach the input under a popup"
        );
        update(&mut app, key(KeyCode::Down));
        assert_eq!(app.popup, Some(Popup::Help { scroll: 1 }));
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.popup, None);
        assert_eq!(update(&mut app, AppEvent::Terminate), vec![Effect::Quit]);
    }
}
