//! Keybindings as data: a table of (context, action, keys, description).
//! [`Keymap::action`] is the one place a key is matched, and the footer and
//! the help popup are generated from the same table, so they never disagree
//! with what the keys do. The `[keys]` section of the config replaces the
//! keys of an action by name.

use std::{collections::BTreeMap, fmt, str::FromStr};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use crate::config::KeySpec;

/// Where a binding applies. A key is offered to the open popup first, then
/// to the focused pane, then to [`Context::Global`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Global,
    Input,
    Messages,
    Members,
    Requests,
    Menu,
    Confirm,
    Popup,
    Picker,
    Files,
    Switcher,
    Search,
    Login,
    Pending,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Input => "Input line",
            Context::Messages => "Messages",
            Context::Members => "Members",
            Context::Requests => "Join requests (admin)",
            Context::Menu => "Member and request menu",
            Context::Confirm => "Confirm popup",
            Context::Popup => "Other popups",
            Context::Picker => "File picker (typing filters the list)",
            Context::Files => "Files popup",
            Context::Switcher => "Conversation switcher (typing filters the list)",
            Context::Search => "History search (typing edits the query)",
            Context::Login => "Login form",
            Context::Pending => "Waiting for approval",
        }
    }
}

/// One key with its modifiers, e.g. `ctrl-c`, `shift-tab`, `pgup`, `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        Self { code, mods }
    }

    const fn plain(code: KeyCode) -> Self {
        Self::new(code, KeyModifiers::NONE)
    }

    const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    const fn ctrl(c: char) -> Self {
        Self::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    const fn alt(c: char) -> Self {
        Self::new(KeyCode::Char(c), KeyModifiers::ALT)
    }

    /// The key as a terminal reports it, normalized so that bindings match:
    /// shift is part of the character for printable keys, and Shift-Tab is
    /// `BackTab` on its own.
    pub fn from_event(event: &KeyEvent) -> Self {
        let mut mods =
            event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match event.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if event.modifiers.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                })
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            code => code,
        };
        Self { code, mods }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key {0:?} (examples: \"a\", \"ctrl-o\", \"shift-tab\", \"pgup\", \"f1\", \"enter\")"
)]
pub struct KeyParseError(String);

impl FromStr for Key {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || KeyParseError(s.to_owned());
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        // A lone "-" is the minus key, not a separator.
        while let Some((prefix, tail)) = rest.split_once('-').filter(|(_, t)| !t.is_empty()) {
            match prefix.to_ascii_lowercase().as_str() {
                "ctrl" | "c" => mods |= KeyModifiers::CONTROL,
                "alt" | "a" | "m" | "meta" => mods |= KeyModifiers::ALT,
                "shift" | "s" => mods |= KeyModifiers::SHIFT,
                _ => return Err(err()),
            }
            rest = tail;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                c.to_ascii_lowercase()
            } else {
                c
            }),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" if mods.contains(KeyModifiers::SHIFT) => {
                    mods.remove(KeyModifiers::SHIFT);
                    KeyCode::BackTab
                }
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
                f if f.len() > 1 && f.starts_with('f') => KeyCode::F(
                    f[1..]
                        .parse()
                        .ok()
                        .filter(|n| (1..=24).contains(n))
                        .ok_or_else(err)?,
                ),
                _ => return Err(err()),
            },
        };
        if let KeyCode::Char(_) = code {
            mods.remove(KeyModifiers::SHIFT);
        }
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// One row of the keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub context: Context,
    pub action: Action,
    pub keys: Vec<Key>,
    /// What the action does here, for the help popup; empty when the row
    /// before says it for both (Alt-1 for Alt-2 … Alt-9).
    pub help: &'static str,
    /// A one- or two-word label for the footer; `None` keeps it out of the footer.
    pub label: Option<&'static str>,
}

/// A row of the default table: context, action, keys, help, footer label.
type Row = (
    Context,
    Action,
    Vec<Key>,
    &'static str,
    Option<&'static str>,
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    #[rustfmt::skip]
    fn default() -> Self {
        use Action::*;
        use Context::*;
        use KeyCode as K;
        let p = Key::plain;
        let rows: Vec<Row> = vec![
            (Global, Quit, vec![Key::ctrl('c')], "quit (disconnects cleanly)", Some("quit")),
            (Global, Help, vec![p(K::F(1))], "show every key and command", Some("help")),
            (Global, FocusNext, vec![p(K::Tab)], "focus the next pane (in the input line: complete first)", Some("focus")),
            (Global, FocusPrev, vec![p(K::BackTab)], "focus the previous pane", None),
            (Global, Action::Switcher, vec![Key::ctrl('g')], "go to a conversation by typing part of its name", Some("switch")),
            (Global, Action::Search, vec![Key::ctrl('r')], "search the messages of every conversation", Some("search")),
            (Global, NextConversation, vec![Key::new(K::Down, KeyModifiers::ALT), Key::ctrl('n')], "the next conversation in the list", None),
            (Global, PrevConversation, vec![Key::new(K::Up, KeyModifiers::ALT), Key::ctrl('p')], "the previous conversation in the list", None),
            (Global, GoTo(1), vec![Key::alt('1')], "conversation 1 in the list (Alt-2 … Alt-9 the others)", None),
            (Global, GoTo(2), vec![Key::alt('2')], "", None),
            (Global, GoTo(3), vec![Key::alt('3')], "", None),
            (Global, GoTo(4), vec![Key::alt('4')], "", None),
            (Global, GoTo(5), vec![Key::alt('5')], "", None),
            (Global, GoTo(6), vec![Key::alt('6')], "", None),
            (Global, GoTo(7), vec![Key::alt('7')], "", None),
            (Global, GoTo(8), vec![Key::alt('8')], "", None),
            (Global, GoTo(9), vec![Key::alt('9')], "", None),
            (Global, FocusRequests, vec![p(K::F(4))], "go to the join requests (admin)", None),
            (Global, PageUp, vec![p(K::PageUp)], "scroll messages up a page", Some("scroll")),
            (Global, PageDown, vec![p(K::PageDown)], "scroll messages down a page", Some("scroll")),
            (Global, Bottom, vec![Key::new(K::End, KeyModifiers::CONTROL)], "newest message (follow), from any pane", None),
            (Global, FilePicker, vec![Key::ctrl('o')], "pick a file to send", Some("send file")),
            (Global, Action::Files, vec![Key::ctrl('f')], "the files shared in the conversation: download, cancel", Some("files")),
            (Global, CancelTransfer, vec![Key::ctrl('x')], "cancel the newest file transfer", Some("cancel transfer")),
            (Global, ToggleSidebar, vec![p(K::F(2))], "show or hide the members and requests panes", None),
            (Global, ToggleConversations, vec![p(K::F(3))], "show or hide the conversations pane", None),
            (Global, Reconnect, vec![p(K::F(5))], "connect again now", None),
            (Global, ToggleMouse, vec![Key::alt('m')], "mouse on or off (off: the terminal selects text to copy)", None),
            (Global, Redraw, vec![Key::ctrl('l')], "draw the whole screen again", None),
            (Input, Send, vec![p(K::Enter)], "send the message or run the /command", Some("send")),
            (Input, HistoryPrev, vec![p(K::Up)], "previous line from history", Some("history")),
            (Input, HistoryNext, vec![p(K::Down)], "next line from history", Some("history")),
            (Input, Complete, vec![p(K::Tab)], "complete a /command, its argument or a name (empty line: next pane)", Some("complete")),
            (Messages, Up, vec![p(K::Up)], "scroll up a line", Some("scroll")),
            (Messages, Down, vec![p(K::Down)], "scroll down a line", Some("scroll")),
            (Messages, PageUp, vec![p(K::PageUp)], "scroll up a page", Some("page")),
            (Messages, PageDown, vec![p(K::PageDown)], "scroll down a page", Some("page")),
            (Messages, Top, vec![p(K::Home)], "oldest message", Some("top")),
            (Messages, Bottom, vec![p(K::End)], "newest message (follow)", Some("bottom")),
            (Members, Up, vec![p(K::Up)], "select the previous member", Some("select")),
            (Members, Down, vec![p(K::Down)], "select the next member", Some("select")),
            (Members, Choose, vec![p(K::Enter)], "what can be done to the selected member (admin)", Some("actions")),
            (Members, Kick, vec![Key::alt('k')], "kick the selected member (admin, asks first)", Some("kick")),
            (Members, MakeAdmin, vec![Key::alt('p')], "make the selected member admin (admin, asks first)", Some("make admin")),
            (Requests, Up, vec![p(K::Up)], "select the previous request", Some("select")),
            (Requests, Down, vec![p(K::Down)], "select the next request", Some("select")),
            (Requests, Choose, vec![p(K::Enter)], "approve or reject the selected request", Some("decide")),
            (Requests, Approve, vec![Key::alt('a')], "let the selected user in (asks first)", Some("approve")),
            (Requests, Reject, vec![Key::alt('r')], "turn the selected user away (asks first)", Some("reject")),
            (Menu, Up, vec![p(K::Up)], "select the previous choice", Some("select")),
            (Menu, Down, vec![p(K::Down)], "select the next choice", Some("select")),
            (Menu, Choose, vec![p(K::Enter)], "choose (asks before acting)", Some("choose")),
            (Menu, ClosePopup, vec![p(K::Esc)], "do nothing", Some("close")),
            (Context::Confirm, Action::Confirm, vec![Key::ch('y'), p(K::Enter)], "do it", Some("yes")),
            (Context::Confirm, Cancel, vec![Key::ch('n'), p(K::Esc)], "do not", Some("no")),
            (Popup, ClosePopup, vec![p(K::Esc), Key::ch('q')], "close the popup", Some("close")),
            (Popup, Up, vec![p(K::Up)], "scroll up", Some("scroll")),
            (Popup, Down, vec![p(K::Down)], "scroll down", Some("scroll")),
            (Picker, Open, vec![p(K::Enter)], "enter the directory, or send the file", Some("open/send")),
            (Picker, Up, vec![p(K::Up)], "select the previous entry", Some("select")),
            (Picker, Down, vec![p(K::Down)], "select the next entry", Some("select")),
            (Picker, Parent, vec![p(K::Left), p(K::Backspace)], "parent directory (Backspace: once the filter is empty)", Some("parent")),
            (Picker, ClosePopup, vec![p(K::Esc)], "send nothing and close", Some("cancel")),
            (Picker, ToggleHidden, vec![Key::ctrl('t')], "show or hide hidden files", Some("hidden")),
            (Context::Files, Up, vec![p(K::Up)], "select the previous file", Some("select")),
            (Context::Files, Down, vec![p(K::Down)], "select the next file", Some("select")),
            (Context::Files, Download, vec![p(K::Enter)], "download the selected file", Some("download")),
            (Context::Files, CancelTransfer, vec![Key::ch('c')], "cancel the selected file's download", Some("cancel")),
            (Context::Files, ClosePopup, vec![p(K::Esc), Key::ch('q')], "close the popup", Some("close")),
            (Context::Switcher, Up, vec![p(K::Up)], "select the previous match", Some("select")),
            (Context::Switcher, Down, vec![p(K::Down)], "select the next match", Some("select")),
            (Context::Switcher, Choose, vec![p(K::Enter)], "go to the selected conversation", Some("go")),
            (Context::Switcher, ClosePopup, vec![p(K::Esc)], "stay where you are", Some("close")),
            (Context::Search, Up, vec![p(K::Up)], "select the previous match", Some("select")),
            (Context::Search, Down, vec![p(K::Down)], "select the next match", Some("select")),
            (Context::Search, Choose, vec![p(K::Enter)], "search; once the results are in, go to the selected message", Some("search/go")),
            (Context::Search, ClosePopup, vec![p(K::Esc)], "close the search", Some("close")),
            (Login, NextField, vec![p(K::Tab), p(K::Down)], "next field", Some("field")),
            (Login, PrevField, vec![p(K::BackTab), p(K::Up)], "previous field", Some("field")),
            (Login, Send, vec![p(K::Enter)], "connect", Some("connect")),
            (Login, Quit, vec![p(K::Esc)], "quit", Some("quit")),
            (Pending, AskAgain, vec![Key::ch('r')], "ask to join again (after a rejection)", Some("ask again")),
            (Pending, Quit, vec![Key::ch('q'), p(K::Esc)], "quit", Some("quit")),
        ];
        Keymap {
            bindings: rows
                .into_iter()
                .map(|(context, action, keys, help, label)| Binding { context, action, keys, help, label })
                .collect(),
        }
    }
}

impl Keymap {
    /// The defaults with the config's `[keys]` overrides applied: each entry
    /// replaces the keys of that action wherever it is bound.
    pub fn with_overrides(overrides: &BTreeMap<String, KeySpec>) -> Result<Keymap, String> {
        let mut keymap = Keymap::default();
        for (name, spec) in overrides {
            let action = Action::from_name(name).ok_or_else(|| {
                let known: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "[keys]: unknown action `{name}`; known actions: {}",
                    known.join(", ")
                )
            })?;
            let keys = spec
                .keys()
                .iter()
                .map(|k| k.parse::<Key>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("[keys] {name}: {e}"))?;
            for binding in keymap.bindings.iter_mut().filter(|b| b.action == action) {
                binding.keys = keys.clone();
            }
        }
        Ok(keymap)
    }

    /// The action `key` means in `context`, if any.
    pub fn action(&self, context: Context, key: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(key);
        self.bindings
            .iter()
            .find(|b| b.context == context && b.keys.contains(&key))
            .map(|b| b.action)
    }

    pub fn bindings(&self, context: Context) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.context == context)
    }

    /// The first key bound to `action` in `context`, for hints like "press a to approve".
    pub fn key_for(&self, context: Context, action: Action) -> String {
        self.bindings(context)
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map_or_else(|| "(unbound)".to_owned(), Key::to_string)
    }

    /// The footer for some contexts: one entry per label, with the first
    /// key of each consecutive row that shares it ("↑/↓ select").
    pub fn footer(&self, contexts: &[Context]) -> Vec<(String, &'static str)> {
        self.footer_where(contexts, |_| true)
    }

    /// The footer, leaving out actions for which `shown` is false (the
    /// admin's keys, to a member).
    pub fn footer_where(
        &self,
        contexts: &[Context],
        shown: impl Fn(Action) -> bool,
    ) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        // A key a pane binds hides what the same key does elsewhere.
        let mut taken: Vec<Key> = Vec::new();
        for &context in contexts {
            let mut previous: Option<&'static str> = None;
            let bindings: Vec<&Binding> =
                self.bindings(context).filter(|b| shown(b.action)).collect();
            for binding in &bindings {
                let (Some(label), Some(key)) = (binding.label, binding.keys.first()) else {
                    previous = None;
                    continue;
                };
                if taken.contains(key) {
                    previous = None;
                    continue;
                }
                match out.last_mut() {
                    Some(last) if previous == Some(label) => last.0 = format!("{}/{key}", last.0),
                    _ => out.push((key.to_string(), label)),
                }
                previous = Some(label);
            }
            taken.extend(bindings.iter().flat_map(|b| b.keys.iter().copied()));
        }
        out
    }

    /// The help popup's key section: one line per binding, grouped by context.
    pub fn help_rows(&self, contexts: &[Context]) -> Vec<(Context, String, &'static str)> {
        contexts
            .iter()
            .flat_map(|&context| {
                self.bindings(context)
                    .filter(|b| !b.help.is_empty())
                    .map(move |b| {
                        let keys = b
                            .keys
                            .iter()
                            .map(Key::to_string)
                            .collect::<Vec<_>>()
                            .join(", ");
                        (context, keys, b.help)
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn parses_and_prints_keys() {
        for (text, shown) in [
            ("a", "a"),
            ("ctrl-c", "Ctrl-C"),
            ("Ctrl-O", "Ctrl-O"),
            ("shift-tab", "Shift-Tab"),
            ("pgup", "PgUp"),
            ("f1", "F1"),
            ("enter", "Enter"),
            ("?", "?"),
            ("-", "-"),
            ("alt-x", "Alt-x"),
            ("space", "Space"),
        ] {
            assert_eq!(text.parse::<Key>().unwrap().to_string(), shown, "{text}");
        }
        for bad in ["", "hyper-a", "f99", "pgupp", "ctrl-"] {
            assert!(bad.parse::<Key>().is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_keys_as_terminals_send_them() {
        let keymap = Keymap::default();
        // Shift-Tab arrives as BackTab with SHIFT; '?' arrives with SHIFT.
        assert_eq!(
            keymap.action(Context::Global, &key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            keymap.action(
                Context::Messages,
                &key(KeyCode::Char('?'), KeyModifiers::SHIFT)
            ),
            None,
            "a printable key is text everywhere"
        );
        assert_eq!(
            keymap.action(
                Context::Global,
                &key(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            keymap.action(
                Context::Requests,
                &key(KeyCode::Char('a'), KeyModifiers::ALT)
            ),
            Some(Action::Approve)
        );
        // Letters are not bound in the input line: they are text.
        assert_eq!(
            keymap.action(Context::Input, &key(KeyCode::Char('a'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn config_overrides_replace_keys_by_action_name() {
        let mut overrides = BTreeMap::new();
        overrides.insert("approve".to_owned(), KeySpec::One("alt-y".to_owned()));
        overrides.insert(
            "quit".to_owned(),
            KeySpec::Many(vec!["ctrl-q".to_owned(), "ctrl-c".to_owned()]),
        );
        let keymap = Keymap::with_overrides(&overrides).unwrap();
        let alt = KeyModifiers::ALT;
        assert_eq!(
            keymap.action(Context::Requests, &key(KeyCode::Char('y'), alt)),
            Some(Action::Approve)
        );
        assert_eq!(
            keymap.action(Context::Requests, &key(KeyCode::Char('a'), alt)),
            None
        );
        assert_eq!(
            keymap.action(
                Context::Global,
                &key(KeyCode::Char('q'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        assert_eq!(keymap.key_for(Context::Requests, Action::Approve), "Alt-y");

        overrides.insert("launch".to_owned(), KeySpec::One("l".to_owned()));
        let err = Keymap::with_overrides(&overrides).unwrap_err();
        assert!(err.contains("unknown action `launch`"), "{err}");
        let mut bad_key = BTreeMap::new();
        bad_key.insert("kick".to_owned(), KeySpec::One("hyper-k".to_owned()));
        let err = Keymap::with_overrides(&bad_key).unwrap_err();
        assert!(
            err.contains("[keys] kick") && err.contains("hyper-k"),
            "{err}"
        );
    }

    #[test]
    fn footer_and_help_come_from_the_table() {
        let keymap = Keymap::default();
        let footer = keymap.footer(&[Context::Requests]);
        assert_eq!(
            footer,
            vec![
                ("↑/↓".to_owned(), "select"),
                ("Enter".to_owned(), "decide"),
                ("Alt-a".to_owned(), "approve"),
                ("Alt-r".to_owned(), "reject"),
            ]
        );
        // Tab in the input line completes: the footer says so once.
        let footer = keymap.footer(&[Context::Input, Context::Global]);
        let tabs: Vec<_> = footer.iter().filter(|(k, _)| k.contains("Tab")).collect();
        assert_eq!(tabs, [&("Tab".to_owned(), "complete")]);
        let help = keymap.help_rows(&[Context::Members]);
        assert!(
            help.iter()
                .any(|(_, keys, what)| keys == "Alt-k" && what.contains("kick"))
        );
        // Every action with a binding has a config name that maps back to it.
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(*action));
        }
    }

    #[test]
    fn the_example_config_lists_every_action() {
        let example = include_str!("../../config.example.toml");
        let keys = &example[example.find("[keys]").expect("a [keys] section")..];
        for action in Action::ALL {
            let line = format!("\n# {} = ", action.name());
            assert!(
                keys.contains(&line),
                "config.example.toml: no line for {}",
                action.name()
            );
            let bound = Keymap::default()
                .bindings
                .iter()
                .any(|b| b.action == *action);
            assert!(bound, "{} has no default key", action.name());
        }
    }
}
