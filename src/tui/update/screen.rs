//! Small steps every handler shares: a line added to a timeline, the
//! chat's layout and scrolling, the help popup, going to connect or back to
//! the login form.

use ratatui::layout::{Rect, Size};

use crate::tui::{
    action::{Effect, Target},
    app::{App, Conn, Popup, Screen},
    model::{
        Chat, Focus,
        conversation::Conv,
        files::Files,
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

/// Adds an item to the timeline of conversation `conv` (`None`: the one
/// shown, else the lobby), after a day line when the date changed; a view
/// scrolled back holds still.
pub(super) fn add_to(app: &mut App, s: &Settings, conv: Option<&str>, item: Item) {
    let size = app.size;
    let Some(chat) = app.chat_mut() else { return };
    let (width, page) = messages_size(size, chat);
    let me = chat.me().to_owned();
    let id = conv
        .or(chat.selected())
        .filter(|id| chat.conv(id).is_some())
        .map(str::to_owned);
    let no_files = Files::default();
    let (timeline, files) = match id {
        Some(id) => {
            let conv = chat.conv_mut(&id).expect("looked up above");
            (&mut conv.timeline, &conv.files)
        }
        None => (&mut chat.lobby, &no_files),
    };
    if let Some(ms) = item.at_ms {
        let day = widgets::day(ms, s);
        if timeline.day_changed(&day) {
            timeline.push(Item::note(ItemKind::Day(day)), 1);
        }
    }
    let height = item_lines(&item, width, &me, files, s).len();
    timeline.push(item, height);
    timeline.keep_divider_in_view(page);
}

/// Adds an item to the timeline shown.
pub(super) fn add(app: &mut App, s: &Settings, item: Item) {
    add_to(app, s, None, item);
}

pub(super) fn note(app: &mut App, s: &Settings, kind: ItemKind) {
    add(app, s, Item::note(kind));
}

pub(super) fn info(app: &mut App, s: &Settings, text: impl Into<String>) {
    note(app, s, ItemKind::Info(text.into()));
}

pub(super) fn error(app: &mut App, s: &Settings, text: impl Into<String>) {
    note(app, s, ItemKind::Error(text.into()));
}

/// A note in conversation `conv`'s timeline.
pub(super) fn note_in(app: &mut App, s: &Settings, conv: &str, kind: ItemKind) {
    add_to(app, s, Some(conv), Item::note(kind));
}

/// Is a request possible now: connected?
pub(super) fn connected(app: &App) -> bool {
    app.conn == Conn::Connected
}

/// The conversation shown, when a request for it can go now: connected,
/// and in it.
pub(super) fn conv_to_ask(app: &mut App) -> Option<&mut Conv> {
    let connected = connected(app);
    app.chat_mut()?
        .current_mut()
        .filter(|conv| connected && conv.readable())
}

pub(super) fn layout(size: Size, chat: &Chat) -> ChatLayout {
    ChatLayout::new(Rect::new(0, 0, size.width, size.height), chat)
}

/// Focus on a pane that is not drawn now (hidden, no room at this size,
/// its last request decided, the admin role handed on) goes back to the
/// input line, so keys and the footer follow what is on the screen.
pub(super) fn keep_focus_shown(app: &mut App) {
    let size = app.size;
    if let Some(chat) = app.chat_mut()
        && !layout(size, chat).focus_order().contains(&chat.focus)
    {
        chat.focus = Focus::Input;
    }
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
    let timeline = chat.timeline_mut();
    timeline.scroll_by(delta, max);
    timeline.scroll().offset == max
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
    app.target = target.clone();
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
