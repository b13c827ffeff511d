//! Answers to requests. A message's answer goes to the send queue, a
//! page of history to the timeline, the list of files to the files; an
//! admin action's success shows through the log entry it makes (or, for a
//! rejection, which has none, through its reply), so each fact changes
//! the roster once.

use super::{
    entries, files,
    screen::{error, info},
};
use crate::{
    protocol::{ReplyData, Role},
    tui::{
        action::{Action, Effect, Purpose, RequestError},
        app::App,
        keymap::Context,
        model::outbox::Answered,
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
    match purpose {
        Purpose::Send { id, .. } => {
            sent(app, s, id, result);
            return Vec::new();
        }
        Purpose::History { .. } => {
            let entries = result.map(|data| match data {
                ReplyData::History { entries } => entries,
                _ => Vec::new(),
            });
            entries::on_history(app, s, entries);
            return Vec::new();
        }
        Purpose::ListFiles { download } => return files::on_list(app, s, result, download),
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
        (Purpose::ViewRequests, ReplyData::Requests { requests }) => {
            let list = if requests.is_empty() {
                "no join requests waiting".to_owned()
            } else {
                let names: Vec<_> = requests
                    .iter()
                    .map(|r| format!("{} (since {})", r.name, clock(r.at_ms, s)))
                    .collect();
                format!("join requests: {}", names.join(", "))
            };
            if let Some(chat) = app.chat_mut() {
                chat.roster.set_requests(requests);
            }
            info(app, s, list);
        }
        (Purpose::Reject(name), _) => {
            if let Some(chat) = app.chat_mut() {
                chat.roster.rejected(&name);
            }
            info(app, s, format!("you turned down {name}'s request"));
        }
        (Purpose::WhoAdmin, ReplyData::Admin { name }) => {
            let group = app.target.group.clone();
            info(app, s, format!("{name} is the admin of #{group}"));
        }
        (Purpose::AllMembers, ReplyData::Members { members }) => {
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
            info(
                app,
                s,
                format!("{} members: {}", members.len(), list.join(", ")),
            );
        }
        (Purpose::OnlineMembers, ReplyData::Members { members }) => {
            let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
            info(
                app,
                s,
                format!("{} online: {}", names.len(), names.join(", ")),
            );
        }
        _ => {}
    }
    Vec::new()
}

/// A queued message was answered: done, waiting to go again, or refused
/// (said, with its text one Up away in the history).
fn sent(app: &mut App, s: &Settings, id: u64, result: Result<ReplyData, RequestError>) {
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
        error(
            app,
            s,
            format!("not sent ({message}): \"{excerpt}{more}\"; {key} brings it back"),
        );
    }
}
