//! What changes other people's standing in the group: approving or
//! rejecting a request, kicking a member, handing over the admin role.
//! None of it happens on one key: a chord or the menu opens a question
//! that names who and what, and only its answer sends the request.

use super::screen::error;
use crate::tui::{
    action::{Effect, Purpose},
    app::{App, Confirm, Menu, Popup},
    settings::Settings,
};

/// True, after an error line naming the admin, when we are not the admin.
fn not_admin(app: &mut App, s: &Settings, what: &str) -> bool {
    let Some(conv) = app.chat().and_then(|chat| chat.current()) else {
        return true;
    };
    if conv.is_admin() {
        return false;
    }
    let admin = conv.roster.admin().to_owned();
    error(
        app,
        s,
        format!("only the admin can {what}; the admin is {admin}"),
    );
    true
}

/// A change to someone's standing in the group; each is asked first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Kick,
    MakeAdmin,
    Approve,
    Reject,
}

impl Change {
    /// Is it about a join request (else about a member)?
    fn on_request(self) -> bool {
        matches!(self, Change::Approve | Change::Reject)
    }

    /// What it does, for "only the admin can …" and "you cannot … yourself".
    fn what(self) -> &'static str {
        match self {
            Change::Kick => "kick",
            Change::MakeAdmin => "hand the admin role to",
            Change::Approve | Change::Reject => "decide on join requests",
        }
    }

    /// Its line in the action menu.
    fn choice(self, name: &str) -> String {
        match self {
            Change::Kick => format!("Kick {name}"),
            Change::MakeAdmin => format!("Make {name} the admin"),
            Change::Approve => format!("Approve: let {name} in"),
            Change::Reject => format!("Reject: turn {name} away"),
        }
    }

    /// The question before it, naming who and what.
    fn confirm(self, group: &str, name: &str) -> Confirm {
        let (conv, name) = (group.to_owned(), name.to_owned());
        let (title, question, purpose) = match self {
            Change::Kick => (
                "Kick member",
                format!("Remove {name} from #{group}? They can ask to join again."),
                Purpose::Kick { conv, name },
            ),
            Change::MakeAdmin => (
                "Make admin",
                format!("Make {name} the admin of #{group}? You will be a plain member."),
                Purpose::ChangeAdmin { conv, name },
            ),
            Change::Approve => (
                "Approve request",
                format!("Let {name} into #{group}? They will read the recent messages."),
                Purpose::Approve { conv, name },
            ),
            Change::Reject => (
                "Reject request",
                format!("Turn down {name}'s request to join #{group}?"),
                Purpose::Reject { conv, name },
            ),
        };
        Confirm {
            title: title.into(),
            question,
            purpose,
        }
    }
}

/// The selected member or request that `change` would apply to, when we
/// may make it (said why not, otherwise).
fn selected_for(app: &mut App, s: &Settings, change: Change, what: &str) -> Option<String> {
    let roster = &app.chat()?.current()?.roster;
    let me = roster.me().to_owned();
    let name = if change.on_request() {
        roster.selected_request_name()?
    } else {
        roster.selected_member_name()?
    };
    if not_admin(app, s, what) {
        return None;
    }
    if !change.on_request() && name == me {
        error(app, s, format!("you cannot {what} yourself"));
        return None;
    }
    Some(name)
}

/// Asks before making `change` to the selected member or request.
pub(super) fn ask(app: &mut App, s: &Settings, change: Change) -> Vec<Effect> {
    if let Some(name) = selected_for(app, s, change, change.what())
        && let Some(group) = app
            .chat()
            .and_then(|chat| chat.selected().map(str::to_owned))
    {
        app.popup = Some(Popup::Confirm(change.confirm(&group, &name)));
    }
    Vec::new()
}

/// What can be done to the selected member (`requests`: request), as a
/// menu whose choices each ask first.
pub(super) fn menu(app: &mut App, s: &Settings, requests: bool) -> Vec<Effect> {
    let (changes, what) = if requests {
        ([Change::Approve, Change::Reject], Change::Approve.what())
    } else {
        ([Change::Kick, Change::MakeAdmin], "kick or promote")
    };
    let Some(name) = selected_for(app, s, changes[0], what) else {
        return Vec::new();
    };
    let Some(group) = app
        .chat()
        .and_then(|chat| chat.selected().map(str::to_owned))
    else {
        return Vec::new();
    };
    let group = &group;
    let title = if requests {
        format!("{name} asks to join #{group}")
    } else {
        format!("{name} in #{group}")
    };
    let choices = changes
        .iter()
        .map(|change| (change.choice(&name), change.confirm(group, &name)))
        .collect();
    app.popup = Some(Popup::Menu(Menu {
        title,
        choices,
        selected: 0,
    }));
    Vec::new()
}
