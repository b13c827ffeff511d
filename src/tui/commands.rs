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
    /// What Tab offers for the argument.
    pub completes: Completes,
}

/// The names Tab offers after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completes {
    Nothing,
    Members,
    Requesters,
    /// Everyone in a group with the user.
    People,
    /// The user's groups.
    Groups,
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "/help",
        args: "",
        help: "show every key and command",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/viewRequests",
        args: "",
        help: "list pending join requests",
        completes: Completes::Nothing,
        admin_only: true,
    },
    CommandSpec {
        name: "/approveRequest",
        args: "NAME",
        help: "let NAME into the group",
        completes: Completes::Requesters,
        admin_only: true,
    },
    CommandSpec {
        name: "/rejectRequest",
        args: "NAME",
        help: "turn NAME's join request down",
        completes: Completes::Requesters,
        admin_only: true,
    },
    CommandSpec {
        name: "/allMembers",
        args: "",
        help: "list every member",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/onlineMembers",
        args: "",
        help: "list the members online now",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/whoAdmin",
        args: "",
        help: "say who the admin is",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/changeAdmin",
        args: "NAME",
        help: "hand the admin role to NAME",
        completes: Completes::Members,
        admin_only: true,
    },
    CommandSpec {
        name: "/kickMember",
        args: "NAME",
        help: "remove NAME from the group",
        completes: Completes::Members,
        admin_only: true,
    },
    CommandSpec {
        name: "/join",
        args: "GROUP",
        help: "open GROUP: join it, create it (you are its admin) or ask its admin",
        completes: Completes::Groups,
        admin_only: false,
    },
    CommandSpec {
        name: "/leave",
        args: "[GROUP]",
        help: "leave this group (or GROUP), withdraw a request, or drop one you were removed from",
        completes: Completes::Groups,
        admin_only: false,
    },
    CommandSpec {
        name: "/msg",
        args: "NAME TEXT",
        help: "send TEXT to NAME in your direct conversation",
        completes: Completes::People,
        admin_only: false,
    },
    CommandSpec {
        name: "/query",
        args: "NAME",
        help: "open the direct conversation with NAME (someone in a group with you)",
        completes: Completes::People,
        admin_only: false,
    },
    CommandSpec {
        name: "/ignore",
        args: "[NAME]",
        help: "stop NAME's direct messages (they are not told); alone, list whom you ignore",
        completes: Completes::People,
        admin_only: false,
    },
    CommandSpec {
        name: "/unignore",
        args: "NAME",
        help: "see NAME's direct messages again",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/search",
        args: "TEXT",
        help: "find the messages with every word of TEXT, in every conversation",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/fileTransfer",
        args: "[PATH]",
        help: "send the file at PATH, or pick one",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/download",
        args: "",
        help: "download the newest file not saved yet",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/reconnect",
        args: "",
        help: "connect again now",
        completes: Completes::Nothing,
        admin_only: false,
    },
    CommandSpec {
        name: "/disconnect",
        args: "",
        help: "leave the chat and quit (you stay a member)",
        completes: Completes::Nothing,
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
    Reconnect,
    Disconnect,
    Join(String),
    Leave(Option<String>),
    Msg { name: String, text: String },
    Query(String),
    Ignore(Option<String>),
    Unignore(String),
    Search(String),
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
            Command::Reconnect => "/reconnect",
            Command::Disconnect => "/disconnect",
            Command::Join(_) => "/join",
            Command::Leave(_) => "/leave",
            Command::Msg { .. } => "/msg",
            Command::Query(_) => "/query",
            Command::Ignore(_) => "/ignore",
            Command::Unignore(_) => "/unignore",
            Command::Search(_) => "/search",
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
        [] => Err(format!("{} needs a {} ({})", spec.name, spec.args, usage())),
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
        "/reconnect" => no_args(Command::Reconnect),
        "/disconnect" => no_args(Command::Disconnect),
        "/join" => one_name(Command::Join),
        "/leave" => match args.as_slice() {
            [] => Ok(Command::Leave(None)),
            [group] => Ok(Command::Leave(Some((*group).to_owned()))),
            _ => Err(format!(
                "{} takes one GROUP at most ({})",
                spec.name,
                usage()
            )),
        },
        "/msg" => match raw_args.split_once(char::is_whitespace) {
            Some((name, text)) if !text.trim().is_empty() => Ok(Command::Msg {
                name: name.trim_start_matches('@').to_owned(),
                text: text.trim().to_owned(),
            }),
            _ => Err(format!(
                "{} needs a NAME and a TEXT ({})",
                spec.name,
                usage()
            )),
        },
        "/query" => one_name(Command::Query),
        "/ignore" => match args.as_slice() {
            [] => Ok(Command::Ignore(None)),
            [name] => Ok(Command::Ignore(Some(
                name.trim_start_matches('@').to_owned(),
            ))),
            _ => Err(format!(
                "{} takes one NAME at most ({})",
                spec.name,
                usage()
            )),
        },
        "/unignore" => one_name(Command::Unignore),
        "/search" if raw_args.is_empty() => {
            Err(format!("{} needs a TEXT ({})", spec.name, usage()))
        }
        "/search" => Ok(Command::Search(raw_args.to_owned())),
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

/// The names Tab completion draws from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    /// The other members of the conversation shown.
    pub members: &'a [String],
    pub requesters: &'a [String],
    /// Everyone else in a group with the user.
    pub people: &'a [String],
    /// The user's groups.
    pub groups: &'a [String],
}

/// Tab completion: the candidates for the word that ends at `cursor`
/// (a char index), and where that word starts (a char index). A command's
/// argument offers the names it takes, even before a letter is typed; a
/// name at the start of a line is addressed IRC-style (`ann:`).
pub fn candidates(line: &str, cursor: usize, names: Names<'_>) -> (usize, Vec<String>) {
    let before: Vec<char> = line.chars().take(cursor).collect();
    let start = before
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let word: String = before[start..].iter().collect();
    let matching = |pool: &[String], prefix: &str, decorate: &dyn Fn(&String) -> String| {
        let lower = prefix.to_lowercase();
        let mut found: Vec<String> = pool
            .iter()
            .filter(|n| n.to_lowercase().starts_with(&lower))
            .map(decorate)
            .collect();
        found.sort_by_key(|n| n.to_lowercase());
        found.dedup();
        found
    };
    if start == 0 && word.starts_with('/') {
        let lower = word.to_lowercase();
        let found = COMMANDS
            .iter()
            .filter(|c| c.name.to_lowercase().starts_with(&lower))
            .map(|c| c.name.to_owned())
            .collect();
        return (start, found);
    }
    let head: String = before[..start].iter().collect();
    let mut words = head.split_whitespace();
    if let (Some(command), None) = (words.next(), words.next())
        && let Some(spec) = COMMANDS
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(command))
    {
        let pool = match spec.completes {
            Completes::Nothing => return (start, Vec::new()),
            Completes::Members => names.members,
            Completes::Requesters => names.requesters,
            Completes::People => names.people,
            Completes::Groups => names.groups,
        };
        let prefix = word.trim_start_matches('@');
        return (start, matching(pool, prefix, &|n| n.clone()));
    }
    if let Some(prefix) = word.strip_prefix('@') {
        return (start, matching(names.members, prefix, &|n| format!("@{n}")));
    }
    if word.is_empty() {
        return (start, Vec::new());
    }
    if start == 0 {
        return (start, matching(names.members, &word, &|n| format!("{n}:")));
    }
    (start, matching(names.members, &word, &|n| n.clone()))
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
        assert_eq!(cmd("/reconnect"), Line::Command(Command::Reconnect));
        assert_eq!(cmd("/help"), Line::Command(Command::Help));
        assert_eq!(cmd("/join #go"), Line::Command(Command::Join("#go".into())));
        assert_eq!(cmd("/leave"), Line::Command(Command::Leave(None)));
        assert_eq!(
            cmd("/leave go"),
            Line::Command(Command::Leave(Some("go".into())))
        );
        assert_eq!(
            cmd("/msg @carol see you  at 5 "),
            Line::Command(Command::Msg {
                name: "carol".into(),
                text: "see you  at 5".into()
            })
        );
        assert_eq!(
            cmd("/query carol"),
            Line::Command(Command::Query("carol".into()))
        );
        assert_eq!(cmd("/ignore"), Line::Command(Command::Ignore(None)));
        assert_eq!(
            cmd("/ignore dan"),
            Line::Command(Command::Ignore(Some("dan".into())))
        );
        assert_eq!(
            cmd("/unignore dan"),
            Line::Command(Command::Unignore("dan".into()))
        );
        assert_eq!(
            cmd("/search tokio  select"),
            Line::Command(Command::Search("tokio  select".into()))
        );
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
        assert!(
            parse("/msg carol")
                .unwrap_err()
                .contains("needs a NAME and a TEXT")
        );
        assert!(parse("/search").unwrap_err().contains("needs a TEXT"));
    }

    #[test]
    fn completes_commands_their_arguments_and_names() {
        let members = vec!["alice".to_owned(), "Albert".to_owned(), "bob".to_owned()];
        let requesters = vec!["carol".to_owned(), "dan".to_owned()];
        let people = vec!["erin".to_owned()];
        let groups = vec!["go".to_owned(), "rust".to_owned()];
        let names = Names {
            members: &members,
            requesters: &requesters,
            people: &people,
            groups: &groups,
        };
        let found = |line: &str| candidates(line, line.chars().count(), names);
        assert_eq!(found("/dow"), (0, vec!["/download".to_owned()]));
        assert_eq!(found("/ki"), (0, vec!["/kickMember".to_owned()]));
        assert_eq!(found("/kickMember b"), (12, vec!["bob".to_owned()]));
        // Before a letter is typed, the names the command takes.
        assert_eq!(found("/kickMember ").1, ["Albert", "alice", "bob"]);
        assert_eq!(found("/approveRequest ").1, ["carol", "dan"]);
        assert_eq!(found("/whoAdmin ").1, Vec::<String>::new());
        assert_eq!(found("/query e").1, ["erin"]);
        assert_eq!(found("/leave ").1, ["go", "rust"]);
        assert_eq!(found("/kickMember bob x").1, Vec::<String>::new());
        assert_eq!(
            found("hi @al"),
            (3, vec!["@Albert".to_owned(), "@alice".to_owned()])
        );
        // At the start of a line a name is an address: "alice: ".
        assert_eq!(found("b"), (0, vec!["bob:".to_owned()]));
        assert_eq!(found("hi b"), (3, vec!["bob".to_owned()]));
        assert_eq!(found("hi ").1, Vec::<String>::new());
        assert_eq!(found("").1, Vec::<String>::new());
        assert_eq!(found("/zz").1, Vec::<String>::new());
    }
}
