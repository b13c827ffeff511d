//! Small steps every handler shares: a line added to the timeline, the
//! chat's layout and scrolling, the help popup, going to connect or back to
//! the login form.

use ratatui::layout::{Rect, Size};

use crate::tui::{
    action::{Effect, Target},
    app::{App, Conn, Popup, Screen},
    model::{
        Chat,
        login::LoginForm,
        timeline::{Item, ItemKind},
    },
    settings::Settings,
    view::{
        ChatLayout,
        messages::{item_lines, total_height},
        widgets::{self, inner},
    },
};

/// Adds an item to the chat's timeline (after a day line when the date
/// changed), keeping a view scrolled back still.
pub(super) fn add(app: &mut App, s: &Settings, item: Item) {
    let looking = app.window_focused;
    add_item(app, s, item, looking);
}

/// [`add`], saying whether the user is looking (an unread count grows if not).
pub(super) fn add_item(app: &mut App, s: &Settings, item: Item, looking: bool) {
    let size = app.size;
    let Some(chat) = app.chat_mut() else { return };
    let (width, page) = messages_size(size, chat);
    if let Some(ms) = item.at_ms {
        let day = widgets::day(ms, s);
        if chat.timeline.day_changed(&day) {
            let line = Item {
                at_ms: None,
                kind: ItemKind::Day(day),
            };
            chat.timeline.push(line, 1, looking);
        }
    }
    let height = item_lines(&item, width, chat, s).len();
    chat.timeline.push(item, height, looking);
    chat.timeline.keep_divider_in_view(page);
}

pub(super) fn note(app: &mut App, s: &Settings, kind: ItemKind) {
    add(app, s, Item { at_ms: None, kind });
}

pub(super) fn info(app: &mut App, s: &Settings, text: impl Into<String>) {
    note(app, s, ItemKind::Info(text.into()));
}

pub(super) fn error(app: &mut App, s: &Settings, text: impl Into<String>) {
    note(app, s, ItemKind::Error(text.into()));
}

/// The chat, when a request for it can go now: connected, and a member.
pub(super) fn chat_to_ask(app: &mut App) -> Option<&mut Chat> {
    let connected = app.conn == Conn::Connected;
    app.chat_mut()
        .filter(|chat| connected && chat.kicked_by.is_none())
}

pub(super) fn layout(size: Size, chat: &Chat) -> ChatLayout {
    ChatLayout::new(Rect::new(0, 0, size.width, size.height), chat)
}

/// The messages pane's inner width and height.
pub(super) fn messages_size(size: Size, chat: &Chat) -> (usize, usize) {
    let pane = inner(layout(size, chat).messages);
    (pane.width.max(1) as usize, pane.height.max(1) as usize)
}

/// Scrolls the messages by `delta` lines (positive: back in time); true
/// when the view is then at the top.
pub(super) fn scroll_by(app: &mut App, s: &Settings, delta: isize) -> bool {
    let size = app.size;
    let Some(chat) = app.chat_mut() else {
        return false;
    };
    let (width, height) = messages_size(size, chat);
    let max = total_height(chat, s, width).saturating_sub(height);
    chat.timeline.scroll_by(delta, max);
    chat.timeline.scroll().offset == max
}

/// Lines a page scrolls: the pane's height less one, so a line stays.
pub(super) fn page(app: &App) -> isize {
    app.chat().map_or(1, |chat| {
        messages_size(app.size, chat).1.saturating_sub(1).max(1)
    }) as isize
}

pub(super) fn open_help(app: &mut App) -> Vec<Effect> {
    app.popup = Some(Popup::Help { scroll: 0 });
    Vec::new()
}

/// Leaves for `target`: the connecting screen, and the connect effect.
pub(super) fn connect(app: &mut App, target: Target) -> Vec<Effect> {
    app.retarget(target.clone());
    app.screen = Screen::Connecting;
    app.conn = Conn::Connecting;
    vec![Effect::Connect(target)]
}

/// The login form again, for `target`, saying why.
pub(super) fn back_to_login(app: &mut App, why: String) {
    let mut form = LoginForm::new(&app.target);
    form.error = Some(why);
    app.screen = Screen::Login(Box::new(form));
}
