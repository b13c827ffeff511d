//! The history search: `/search TEXT` or its key opens the popup, Enter
//! asks the server for the messages with every word of the query across
//! every conversation the user may read, and Enter on a match goes to it,
//! in its conversation, with the messages around it.

use crossterm::event::{KeyCode, KeyEvent};

use super::{entries, screen::connected};
use crate::{
    protocol::{ReplyData, SearchHit},
    tui::{
        action::{Action, Effect, Purpose, RequestError},
        app::{App, Popup},
        keymap::Context,
        model::{
            line::is_text,
            search::{Results, Search},
        },
        settings::Settings,
    },
};

/// Opens the search popup with `query`, searching at once when there is one.
pub(super) fn open(app: &mut App, query: &str) -> Vec<Effect> {
    if app.chat().is_none() {
        return Vec::new();
    }
    app.popup = Some(Popup::Search(Search::new(query)));
    ask(app)
}

/// Searches for the query typed, if it changed since the results came.
fn ask(app: &mut App) -> Vec<Effect> {
    let connected = connected(app);
    let Some(Popup::Search(search)) = &mut app.popup else {
        return Vec::new();
    };
    let Some(query) = search.to_ask() else {
        return Vec::new();
    };
    if !connected {
        search.results = Results::Failed("not connected to the server".into());
        return Vec::new();
    }
    search.asking(query.clone());
    vec![Effect::Request(Purpose::Search(query))]
}

pub(super) fn on_search_key(app: &mut App, s: &Settings, key: KeyEvent) -> Vec<Effect> {
    let Some(Popup::Search(search)) = &mut app.popup else {
        return Vec::new();
    };
    if let KeyCode::Char(c) = key.code
        && is_text(&key)
    {
        search.query.push(c);
        return Vec::new();
    }
    if key.code == KeyCode::Backspace && key.modifiers.is_empty() {
        search.query.pop();
        return Vec::new();
    }
    let keymap = &s.keymap;
    match keymap
        .action(Context::Search, &key)
        .or_else(|| keymap.action(Context::Global, &key))
    {
        Some(Action::Up) => search.select_by(-1),
        Some(Action::Down) => search.select_by(1),
        Some(Action::Choose) => {
            if search.to_ask().is_some() {
                return ask(app);
            }
            let Some(SearchHit { conv, entry }) = search.selected_hit().cloned() else {
                return Vec::new();
            };
            app.popup = None;
            return entries::jump(app, s, &conv, entry.seq);
        }
        Some(Action::ClosePopup | Action::Search) => app.popup = None,
        Some(Action::Quit) => return vec![Effect::Quit],
        _ => {}
    }
    Vec::new()
}

/// The server's matches for `query`.
pub(super) fn on_results(app: &mut App, query: &str, result: Result<ReplyData, RequestError>) {
    let Some(Popup::Search(search)) = &mut app.popup else {
        return;
    };
    let hits = match result {
        Ok(ReplyData::SearchHits { hits }) => Ok(hits),
        Ok(_) => Ok(Vec::new()),
        Err(failure) => Err(failure.message),
    };
    search.answered(query, hits);
}
