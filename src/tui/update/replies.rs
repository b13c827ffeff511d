//! Answers to requests. A message's answer goes to the send queue, a
//! page of history to its conversation's timeline, the list of files to
//! its files, a joined or opened conversation to the list; an admin
//! action's success shows through the log entry it makes (or, for a
//! rejection, which has none, through its reply), so each fact changes
//! the roster once.

use super::{
    conversations, entries, files,
    screen::{error, info, note_in},
    search,
};
use crate::{
    protocol::{ReplyData, Role},
    tui::{
        action::{Action, Effect, Purpose, RequestError},
        app::App,
        keymap::Context,
        model::{outbox::Answered, timeline::ItemKind},
        settings::Settings,
        view::widgets::clock,
    },
};

pub(super) fn on_reply(
    app: &mut App,
    s: &Settings,
    purpose: Purpose,
    result: Result<ReplyData, RequestError>,
) -> Vec<Effect> {
    let entries_of = |result: Result<ReplyData, RequestError>| {
        result.map(|data| match data {
            ReplyData::History { entries } => entries,
            _ => Vec::new(),
        })
    };
    match purpose {
        Purpose::Send { id, conv, .. } => {
            sent(app, s, id, &conv, result);
            return Vec::new();
        }
        Purpose::History { conv, .. } => {
            entries::on_history(app, s, &conv, entries_of(result));
            return Vec::new();
        }
        Purpose::Context { conv, seq } => {
            entries::on_newer(app, s, &conv, Some(seq), entries_of(result));
            return Vec::new();
        }
        Purpose::Newer { conv, .. } => {
            entries::on_newer(app, s, &conv, None, entries_of(result));
            return Vec::new();
        }
        Purpose::ListFiles { conv, download } => {
            return files::on_list(app, s, &conv, result, download);
        }
        Purpose::Join(group) => return conversations::on_joined(app, s, &group, result),
        Purpose::Leave(conv) => {
            conversations::on_left(app, s, &conv, result);
            return Vec::new();
        }
        Purpose::OpenDirect { name, text } => {
            return conversations::on_direct(app, s, &name, text, result);
        }
        Purpose::Ignore(name) => {
            conversations::on_ignored(app, s, &name, true, result);
            return Vec::new();
        }
        Purpose::Unignore(name) => {
            conversations::on_ignored(app, s, &name, false, result);
            return Vec::new();
        }
        Purpose::Search(query) => {
            search::on_results(app, &query, result);
            return Vec::new();
        }
        // A read position the server missed is told again by the next read.
        Purpose::MarkRead { .. } => return Vec::new(),
        _ => {}
    }
    let data = match result {
        Ok(data) => data,
        Err(failure) => {
            error(app, s, failure.message);
            return Vec::new();
        }
    };
    match (purpose, data) {
        (Purpose::ListIgnored, ReplyData::Names { names }) => {
            conversations::on_ignored_list(app, s, names);
        }
        (Purpose::ViewRequests(conv), ReplyData::Requests { requests }) => {
            let list = if requests.is_empty() {
                "no join requests waiting".to_owned()
            } else {
                let names: Vec<_> = requests
                    .iter()
                    .map(|r| format!("{} (since {})", r.name, clock(r.at_ms, s)))
                    .collect();
                format!("join requests: {}", names.join(", "))
            };
            if let Some(target) = app.chat_mut().and_then(|chat| chat.conv_mut(&conv)) {
                target.roster.set_requests(requests);
            }
            note_in(app, s, &conv, ItemKind::Info(list));
        }
        (Purpose::Reject { conv, name }, _) => {
            if let Some(target) = app.chat_mut().and_then(|chat| chat.conv_mut(&conv)) {
                target.roster.rejected(&name);
            }
            note_in(
                app,
                s,
                &conv,
                ItemKind::Info(format!("you turned down {name}'s request")),
            );
        }
        (Purpose::WhoAdmin(conv), ReplyData::Admin { name }) => {
            note_in(
                app,
                s,
                &conv,
                ItemKind::Info(format!("{name} is the admin of #{conv}")),
            );
        }
        (Purpose::AllMembers(conv), ReplyData::Members { members }) => {
            let list: Vec<_> = members
                .iter()
                .map(|m| {
                    let tags: Vec<&str> = [(m.role == Role::Admin, "admin"), (m.online, "online")]
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, t)| *t)
                        .collect();
                    if tags.is_empty() {
                        m.name.clone()
                    } else {
                        format!("{} ({})", m.name, tags.join(", "))
                    }
                })
                .collect();
            let said = format!("{} members: {}", members.len(), list.join(", "));
            note_in(app, s, &conv, ItemKind::Info(said));
        }
        (Purpose::OnlineMembers(conv), ReplyData::Members { members }) => {
            let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
            let said = format!("{} online: {}", names.len(), names.join(", "));
            note_in(app, s, &conv, ItemKind::Info(said));
        }
        _ => {}
    }
    Vec::new()
}

/// A queued message was answered: done, waiting to go again, or refused
/// (said, with its text one Up away in the history).
fn sent(app: &mut App, s: &Settings, id: u64, conv: &str, result: Result<ReplyData, RequestError>) {
    let now = app.now;
    let Some(chat) = app.chat_mut() else { return };
    let (outcome, message) = match result {
        Ok(_) => (
            chat.composer.outbox.answered(id, Ok(()), now),
            String::new(),
        ),
        Err(e) => (
            chat.composer.outbox.answered(id, Err(e.failure), now),
            e.message,
        ),
    };
    if let Answered::Refused(text) = outcome {
        let key = s.keymap.key_for(Context::Input, Action::HistoryPrev);
        let excerpt: String = text.chars().take(40).collect();
        let more = if excerpt.len() < text.len() {
            "…"
        } else {
            ""
        };
        let shown = app.chat().and_then(|chat| chat.selected()) == Some(conv);
        let said = format!("not sent ({message}): \"{excerpt}{more}\"; {key} brings it back");
        if shown {
            error(app, s, said);
        } else {
            note_in(app, s, conv, ItemKind::Error(said));
            info(
                app,
                s,
                format!("a message to #{conv} was not sent; see there"),
            );
        }
    }
}
