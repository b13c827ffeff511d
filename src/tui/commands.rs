//! Slash commands typed in the input line: one table drives parsing, Tab
//! completion and the help popup.

/// One command as the help popup shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    /// `NAME`, `[PATH]` or empty.
    pub args: &'static str,
    pub help: &'static str,
    pub admin_only: bool,
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "/help",
        args: "",
        help: "show every key and command",
        admin_only: false,
    },
    CommandSpec {
        name: "/viewRequests",
        args: "",
        help: "list pending join requests",
        admin_only: true,
    },
    CommandSpec {
        name: "/approveRequest",
        args: "NAME",
        help: "let NAME into the group",
        admin_only: true,
    },
    CommandSpec {
        name: "/rejectRequest",
        args: "NAME",
        help: "turn NAME's join request down",
        admin_only: true,
    },
    CommandSpec {
        name: "/allMembers",
        args: "",
        help: "list every member",
        admin_only: false,
    },
    CommandSpec {
        name: "/onlineMembers",
        args: "",
        help: "list the members online now",
        admin_only: false,
    },
    CommandSpec {
        name: "/whoAdmin",
        args: "",
        help: "say who the admin is",
        admin_only: false,
    },
    CommandSpec {
        name: "/changeAdmin",
        args: "NAME",
        help: "hand the admin role to NAME",
        admin_only: true,
    },
    CommandSpec {
        name: "/kickMember",
        args: "NAME",
        help: "remove NAME from the group",
        admin_only: true,
    },
    CommandSpec {
        name: "/fileTransfer",
        args: "[PATH]",
        help: "send the file at PATH, or pick one",
        admin_only: false,
    },
    CommandSpec {
        name: "/download",
        args: "",
        help: "download the newest file not saved yet",
        admin_only: false,
    },
    CommandSpec {
        name: "/disconnect",
        args: "",
        help: "leave the chat and quit (you stay a member)",
        admin_only: false,
    },
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    ViewRequests,
    ApproveRequest(String),
    RejectRequest(String),
    AllMembers,
    OnlineMembers,
    WhoAdmin,
    ChangeAdmin(String),
    KickMember(String),
    FileTransfer(Option<String>),
    Download,
    Disconnect,
}

impl Command {
    pub fn spec(&self) -> &'static CommandSpec {
        let name = match self {
            Command::Help => "/help",
            Command::ViewRequests => "/viewRequests",
            Command::ApproveRequest(_) => "/approveRequest",
            Command::RejectRequest(_) => "/rejectRequest",
            Command::AllMembers => "/allMembers",
            Command::OnlineMembers => "/onlineMembers",
            Command::WhoAdmin => "/whoAdmin",
            Command::ChangeAdmin(_) => "/changeAdmin",
            Command::KickMember(_) => "/kickMember",
            Command::FileTransfer(_) => "/fileTransfer",
            Command::Download => "/download",
            Command::Disconnect => "/disconnect",
        };
        COMMANDS
            .iter()
            .find(|c| c.name == name)
            .expect("every command is in the table")
    }
}

/// What the input line holds, once Enter is pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A chat message. `//text` sends `/text`.
    Text(String),
    Command(Command),
}

/// Parses a line. Command names are matched without regard to case, so
/// `/allmembers` works too. The error is a sentence for the user.
pub fn parse(line: &str) -> Result<Line, String> {
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Line::Text(format!("/{rest}")));
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Line::Text(line.to_owned()));
    };
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or("");
    // A path keeps its spaces: everything after the command's name.
    let raw_args = rest.trim_start()[name.len()..].trim();
    let args: Vec<&str> = words.collect();
    let Some(spec) = COMMANDS
        .iter()
        .find(|c| c.name[1..].eq_ignore_ascii_case(name))
    else {
        return Err(format!(
            "unknown command /{name}; /help lists the commands (start with // to send a line beginning with /)"
        ));
    };
    let usage = || format!("usage: {} {}", spec.name, spec.args);
    let no_args = |command: Command| {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(format!("{} takes no arguments", spec.name))
        }
    };
    let one_name = |make: fn(String) -> Command| match args.as_slice() {
        [name] => Ok(make(name.trim_start_matches('@').to_owned())),
        [] => Err(format!("{} needs a NAME ({})", spec.name, usage())),
        _ => Err(format!("{} takes one NAME ({})", spec.name, usage())),
    };
    let command = match spec.name {
        "/help" => no_args(Command::Help),
        "/viewRequests" => no_args(Command::ViewRequests),
        "/approveRequest" => one_name(Command::ApproveRequest),
        "/rejectRequest" => one_name(Command::RejectRequest),
        "/allMembers" => no_args(Command::AllMembers),
        "/onlineMembers" => no_args(Command::OnlineMembers),
        "/whoAdmin" => no_args(Command::WhoAdmin),
        "/changeAdmin" => one_name(Command::ChangeAdmin),
        "/kickMember" => one_name(Command::KickMember),
        "/fileTransfer" => Ok(Command::FileTransfer(
            (!raw_args.is_empty()).then(|| unquote(raw_args).to_owned()),
        )),
        "/download" => no_args(Command::Download),
        "/disconnect" => no_args(Command::Disconnect),
        other => unreachable!("{other} is in the table but not parsed"),
    }?;
    Ok(Line::Command(command))
}

/// A path pasted with quotes around it (as file managers copy them).
fn unquote(text: &str) -> &str {
    ['"', '\'']
        .iter()
        .find_map(|&q| text.strip_prefix(q).and_then(|t| t.strip_suffix(q)))
        .unwrap_or(text)
}

/// Tab completion: the candidates for the word that ends at `cursor`
/// (a char index), and where that word starts (a char index).
pub fn candidates(line: &str, cursor: usize, names: &[String]) -> (usize, Vec<String>) {
    let before: Vec<char> = line.chars().take(cursor).collect();
    let start = before
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let word: String = before[start..].iter().collect();
    if start == 0 && word.starts_with('/') {
        let lower = word.to_lowercase();
        let found = COMMANDS
            .iter()
            .filter(|c| c.name.to_lowercase().starts_with(&lower))
            .map(|c| c.name.to_owned())
            .collect();
        return (start, found);
    }
    let (at, prefix) = match word.strip_prefix('@') {
        Some(rest) => ("@", rest),
        None => ("", word.as_str()),
    };
    if prefix.is_empty() && at.is_empty() {
        return (start, Vec::new());
    }
    let lower = prefix.to_lowercase();
    let mut found: Vec<String> = names
        .iter()
        .filter(|n| n.to_lowercase().starts_with(&lower))
        .map(|n| format!("{at}{n}"))
        .collect();
    found.sort();
    found.dedup();
    (start, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_with_its_arguments() {
        let cmd = |s: &str| parse(s).unwrap();
        assert_eq!(cmd("/viewRequests"), Line::Command(Command::ViewRequests));
        assert_eq!(
            cmd("/approveRequest bob"),
            Line::Command(Command::ApproveRequest("bob".into()))
        );
        assert_eq!(
            cmd("/rejectrequest  @bob "),
            Line::Command(Command::RejectRequest("bob".into()))
        );
        assert_eq!(cmd("/disconnect"), Line::Command(Command::Disconnect));
        assert_eq!(cmd("/allMembers"), Line::Command(Command::AllMembers));
        assert_eq!(cmd("/onlineMembers"), Line::Command(Command::OnlineMembers));
        assert_eq!(
            cmd("/changeAdmin carol"),
            Line::Command(Command::ChangeAdmin("carol".into()))
        );
        assert_eq!(cmd("/whoAdmin"), Line::Command(Command::WhoAdmin));
        assert_eq!(
            cmd("/kickMember dan"),
            Line::Command(Command::KickMember("dan".into()))
        );
        assert_eq!(
            cmd("/fileTransfer"),
            Line::Command(Command::FileTransfer(None))
        );
        assert_eq!(
            cmd("/fileTransfer a  b.txt "),
            Line::Command(Command::FileTransfer(Some("a  b.txt".into())))
        );
        assert_eq!(
            cmd("/filetransfer '~/My Files/x.pdf'"),
            Line::Command(Command::FileTransfer(Some("~/My Files/x.pdf".into())))
        );
        assert_eq!(cmd("/download"), Line::Command(Command::Download));
        assert_eq!(cmd("/help"), Line::Command(Command::Help));
        assert_eq!(cmd("hello /there"), Line::Text("hello /there".into()));
        assert_eq!(cmd("//shrug"), Line::Text("/shrug".into()));
    }

    #[test]
    fn bad_commands_say_why() {
        assert!(
            parse("/frobnicate")
                .unwrap_err()
                .contains("unknown command /frobnicate")
        );
        assert!(parse("/kickMember").unwrap_err().contains("needs a NAME"));
        assert!(
            parse("/kickMember a b")
                .unwrap_err()
                .contains("takes one NAME")
        );
        assert!(
            parse("/whoAdmin now")
                .unwrap_err()
                .contains("takes no arguments")
        );
        assert!(parse("/").unwrap_err().contains("unknown command"));
    }

    #[test]
    fn completes_commands_and_names() {
        let names = vec!["alice".to_owned(), "albert".to_owned(), "bob".to_owned()];
        assert_eq!(
            candidates("/dow", 4, &names),
            (0, vec!["/download".to_owned()])
        );
        assert_eq!(
            candidates("/ki", 3, &names),
            (0, vec!["/kickMember".to_owned()])
        );
        assert_eq!(
            candidates("/kickMember b", 13, &names),
            (12, vec!["bob".to_owned()])
        );
        assert_eq!(
            candidates("hi @al", 6, &names),
            (3, vec!["@albert".to_owned(), "@alice".to_owned()])
        );
        assert_eq!(candidates("hi ", 3, &names).1, Vec::<String>::new());
        assert_eq!(candidates("/zz", 3, &names).1, Vec::<String>::new());
    }
}
