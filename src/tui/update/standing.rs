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
    let Some(chat) = app.chat() else { return true };
    if chat.roster.is_admin() {
        return false;
    }
    let admin = chat.roster.admin().to_owned();
    error(
        app,
        s,
        format!("only the admin can {what}; the admin is {admin}"),
    );
    true
}

fn kick(group: &str, name: &str) -> Confirm {
    Confirm {
        title: "Kick member".into(),
        question: format!("Remove {name} from #{group}? They can ask to join again."),
        purpose: Purpose::Kick(name.to_owned()),
    }
}

fn make_admin(group: &str, name: &str) -> Confirm {
    Confirm {
        title: "Make admin".into(),
        question: format!("Make {name} the admin of #{group}? You will be a plain member."),
        purpose: Purpose::ChangeAdmin(name.to_owned()),
    }
}

fn approve(group: &str, name: &str) -> Confirm {
    Confirm {
        title: "Approve request".into(),
        question: format!("Let {name} into #{group}? They will read the recent messages."),
        purpose: Purpose::Approve(name.to_owned()),
    }
}

fn reject(group: &str, name: &str) -> Confirm {
    Confirm {
        title: "Reject request".into(),
        question: format!("Turn down {name}'s request to join #{group}?"),
        purpose: Purpose::Reject(name.to_owned()),
    }
}

/// The selected member, when we may act on them.
fn member_to_act_on(app: &mut App, s: &Settings, what: &str) -> Option<String> {
    let name = app.chat()?.roster.selected_member_name()?;
    if not_admin(app, s, what) {
        return None;
    }
    if name == app.target.name {
        error(app, s, format!("you cannot {what} yourself"));
        return None;
    }
    Some(name)
}

fn request_to_decide(app: &mut App, s: &Settings) -> Option<String> {
    let name = app.chat()?.roster.selected_request_name()?;
    if not_admin(app, s, "decide on join requests") {
        return None;
    }
    Some(name)
}

fn ask(app: &mut App, confirm: Confirm) -> Vec<Effect> {
    app.popup = Some(Popup::Confirm(confirm));
    Vec::new()
}

pub(super) fn ask_kick(app: &mut App, s: &Settings) -> Vec<Effect> {
    match member_to_act_on(app, s, "kick") {
        Some(name) => ask(app, kick(&app.target.group, &name)),
        None => Vec::new(),
    }
}

pub(super) fn ask_make_admin(app: &mut App, s: &Settings) -> Vec<Effect> {
    match member_to_act_on(app, s, "hand the admin role to") {
        Some(name) => ask(app, make_admin(&app.target.group, &name)),
        None => Vec::new(),
    }
}

pub(super) fn ask_decide(app: &mut App, s: &Settings, approving: bool) -> Vec<Effect> {
    let Some(name) = request_to_decide(app, s) else {
        return Vec::new();
    };
    let group = &app.target.group;
    let confirm = if approving {
        approve(group, &name)
    } else {
        reject(group, &name)
    };
    ask(app, confirm)
}

pub(super) fn member_menu(app: &mut App, s: &Settings) -> Vec<Effect> {
    let Some(name) = member_to_act_on(app, s, "kick or promote") else {
        return Vec::new();
    };
    let group = &app.target.group;
    app.popup = Some(Popup::Menu(Menu {
        title: format!("{name} in #{group}"),
        choices: vec![
            (format!("Kick {name}"), kick(group, &name)),
            (format!("Make {name} the admin"), make_admin(group, &name)),
        ],
        selected: 0,
    }));
    Vec::new()
}

pub(super) fn request_menu(app: &mut App, s: &Settings) -> Vec<Effect> {
    let Some(name) = request_to_decide(app, s) else {
        return Vec::new();
    };
    let group = &app.target.group;
    app.popup = Some(Popup::Menu(Menu {
        title: format!("{name} asks to join #{group}"),
        choices: vec![
            (format!("Approve: let {name} in"), approve(group, &name)),
            (format!("Reject: turn {name} away"), reject(group, &name)),
        ],
        selected: 0,
    }));
    Vec::new()
}
