//! The input line's Enter: a message joins the send queue of the
//! conversation shown, a command runs. Either way the line is cleared and
//! kept in the history, so a mistyped command is one Up away and the next
//! command does not land after it.

use super::{
    conversations, entries, files, network,
    screen::{error, open_help},
    search,
};
use crate::tui::{
    action::{Effect, Purpose},
    app::App,
    commands::{self, Command, Line},
    model::conversation::Standing,
    settings::Settings,
};

pub(super) fn submit(app: &mut App, s: &Settings) -> Vec<Effect> {
    let Some(chat) = app.chat_mut() else {
        return Vec::new();
    };
    let Some(value) = chat.composer.take_line() else {
        return Vec::new();
    };
    match commands::parse(&value) {
        Err(message) => {
            error(app, s, message);
            Vec::new()
        }
        Ok(Line::Text(text)) => post(app, s, text),
        Ok(Line::Command(command)) => run_command(app, s, command),
    }
}

/// A message for the conversation shown: queued, unless it cannot take
/// one (said why; the text is one Up away).
fn post(app: &mut App, s: &Settings, text: String) -> Vec<Effect> {
    let Some(conv) = app.chat().and_then(|chat| chat.current()) else {
        error(
            app,
            s,
            "not sent: you are in no conversation yet (/join GROUP opens one)",
        );
        return Vec::new();
    };
    let why = match &conv.standing {
        Standing::Member | Standing::Direct => None,
        Standing::Pending | Standing::Rejected { .. } => Some(format!(
            "not sent: you are not in {} yet (the admin decides)",
            conv.label()
        )),
        Standing::Removed { .. } => Some(format!(
            "not sent: you are not in {} (/join {} asks to join again)",
            conv.label(),
            conv.id
        )),
    };
    if let Some(why) = why {
        error(app, s, why);
        return Vec::new();
    }
    let id = conv.id.clone();
    let live = conv.timeline.live();
    let effects = if live {
        Vec::new()
    } else {
        entries::to_newest(app, s)
    };
    if let Some(chat) = app.chat_mut() {
        chat.timeline_mut().to_bottom();
        chat.composer.outbox.push(&id, text);
    }
    effects
}

fn run_command(app: &mut App, s: &Settings, command: Command) -> Vec<Effect> {
    let spec = command.spec();
    let current = app.chat().and_then(|chat| match &command {
        Command::ApproveRequest(name) | Command::RejectRequest(name) => {
            chat.asked_in(name).or_else(|| chat.current())
        }
        _ => chat.current(),
    });
    let admin = current.is_some_and(|conv| conv.is_admin());
    let conv = current.map(|conv| conv.id.clone()).unwrap_or_default();
    if spec.admin_only && !admin {
        let who = current
            .filter(|conv| !conv.roster.admin().is_empty())
            .map(|conv| format!("; the admin of {} is {}", conv.label(), conv.roster.admin()))
            .unwrap_or_default();
        error(app, s, format!("{} is for the admin only{who}", spec.name));
        return Vec::new();
    }
    let needs_conv = matches!(
        command,
        Command::AllMembers
            | Command::OnlineMembers
            | Command::WhoAdmin
            | Command::FileTransfer(_)
            | Command::Download
    );
    if needs_conv && !current.is_some_and(|conv| conv.readable()) {
        error(
            app,
            s,
            format!("{} needs a conversation you are in", spec.name),
        );
        return Vec::new();
    }
    let purpose = match command {
        Command::Help => return open_help(app),
        Command::Disconnect => return vec![Effect::Quit],
        Command::Reconnect => return network::reconnect(app, s),
        Command::FileTransfer(path) => return files::file_transfer_command(app, s, path),
        Command::Download => return files::download_newest(app, s),
        Command::Join(group) => return conversations::join(app, s, group),
        Command::Leave(group) => return conversations::leave(app, s, group),
        Command::Msg { name, text } => return conversations::direct(app, s, name, Some(text)),
        Command::Query(name) => return conversations::direct(app, s, name, None),
        Command::Ignore(name) => return conversations::ignore(app, s, name, true),
        Command::Unignore(name) => return conversations::ignore(app, s, Some(name), false),
        Command::Search(text) => return search::open(app, &text),
        Command::ViewRequests => Purpose::ViewRequests(conv),
        Command::ApproveRequest(name) => Purpose::Approve { conv, name },
        Command::RejectRequest(name) => Purpose::Reject { conv, name },
        Command::AllMembers => Purpose::AllMembers(conv),
        Command::OnlineMembers => Purpose::OnlineMembers(conv),
        Command::WhoAdmin => Purpose::WhoAdmin(conv),
        Command::ChangeAdmin(name) => Purpose::ChangeAdmin { conv, name },
        Command::KickMember(name) => Purpose::Kick { conv, name },
    };
    vec![Effect::Request(purpose)]
}
