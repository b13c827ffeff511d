//! The input line's Enter: a message joins the send queue, a command runs.
//! Either way the line is cleared and kept in the history, so a mistyped
//! command is one Up away and the next command does not land after it.

use super::{
    files, network,
    screen::{error, open_help},
};
use crate::tui::{
    action::{Effect, Purpose},
    app::App,
    commands::{self, Command, Line},
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
        Ok(Line::Text(text)) => {
            if let Some(chat) = app.chat_mut() {
                chat.timeline.to_bottom();
                if chat.kicked_by.is_some() {
                    error(
                        app,
                        s,
                        "not sent: you are not in the group (F5 asks to join again)",
                    );
                    return Vec::new();
                }
                chat.composer.outbox.push(text);
            }
            Vec::new()
        }
        Ok(Line::Command(command)) => run_command(app, s, command),
    }
}

fn run_command(app: &mut App, s: &Settings, command: Command) -> Vec<Effect> {
    let spec = command.spec();
    let admin = app.chat().is_some_and(|chat| chat.roster.is_admin());
    if spec.admin_only && !admin {
        let who = app
            .chat()
            .map(|chat| chat.roster.admin().to_owned())
            .unwrap_or_default();
        error(
            app,
            s,
            format!("{} is for the admin only; the admin is {who}", spec.name),
        );
        return Vec::new();
    }
    let purpose = match command {
        Command::Help => return open_help(app),
        Command::Disconnect => return vec![Effect::Quit],
        Command::Reconnect => return network::reconnect(app, s),
        Command::FileTransfer(path) => return files::file_transfer_command(app, s, path),
        Command::Download => return files::download_newest(app, s),
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
