//! The login form's model: server, name and group, checked as they are
//! typed with the server's own rules.

use tui_input::Input;

/// Where to connect and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server: String,
    pub name: String,
    pub group: String,
}

#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    pub fields: [Input; 3],
    pub focus: usize,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

impl LoginForm {
    pub const LABELS: [&'static str; 3] = ["Server", "Name", "Group"];

    pub fn new(target: &Target) -> Self {
        let mut form = LoginForm {
            fields: [&target.server, &target.name, &target.group].map(|v| Input::new(v.clone())),
            focus: 0,
            error: None,
        };
        form.focus = form.first_problem().unwrap_or(1);
        form
    }

    /// Field `i` as it will be used: trimmed, and a group without the `#`
    /// the app writes in front of group names.
    pub fn value(&self, i: usize) -> &str {
        let value = self.fields[i].value().trim();
        if i == 2 {
            value.strip_prefix('#').unwrap_or(value)
        } else {
            value
        }
    }

    pub fn target(&self) -> Target {
        Target {
            server: self.value(0).to_owned(),
            name: self.value(1).to_owned(),
            group: self.value(2).to_owned(),
        }
    }

    /// Whether the group is left out: the user's conversations open, at
    /// the one shown last, with no group joined or created.
    pub fn no_group(&self) -> bool {
        self.value(2).is_empty()
    }

    /// What is wrong with field `i`, in the server's words.
    pub fn problem(&self, i: usize) -> Option<String> {
        let value = self.value(i);
        match i {
            0 => server_problem(value),
            1 => crate::protocol::validate_name(value)
                .err()
                .map(|e| e.to_string()),
            _ if value.is_empty() => None,
            _ => crate::protocol::validate_group(value)
                .err()
                .map(|e| e.to_string()),
        }
    }

    pub fn first_problem(&self) -> Option<usize> {
        (0..3).find(|&i| self.problem(i).is_some())
    }

    pub fn focus_by(&mut self, step: usize) {
        self.focus = (self.focus + step) % 3;
    }
}

/// A server address is `host:port`, the port a number from 1 to 65535.
fn server_problem(value: &str) -> Option<String> {
    let Some((host, port)) = value.rsplit_once(':') else {
        return Some(if value.is_empty() {
            "server is empty (host:port)".to_owned()
        } else {
            format!("{value} has no port (host:port, e.g. {value}:7667)")
        });
    };
    if host.trim_matches(['[', ']']).is_empty() {
        return Some("the server has no host (host:port)".to_owned());
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => None,
        _ => Some(format!("{port:?} is not a port (1 to 65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(server: &str, name: &str, group: &str) -> LoginForm {
        LoginForm::new(&Target {
            server: server.into(),
            name: name.into(),
            group: group.into(),
        })
    }

    #[test]
    fn the_form_checks_like_the_server() {
        let form = form("127.0.0.1:7667", "", "rust");
        assert_eq!(form.focus, 1, "focus starts on what is missing");
        assert_eq!(form.problem(1).as_deref(), Some("name is empty"));
        let form = self::form("127.0.0.1:7667", "ann", "");
        assert_eq!(
            form.problem(2),
            None,
            "no group opens the user's conversations"
        );
        assert!(form.no_group());
        let form = self::form("h:1", "ann", "a b");
        assert!(form.problem(2).is_some());
        let form = self::form("h:1", "a b", "rust");
        assert_eq!(
            form.problem(1).as_deref(),
            Some("name may contain only letters, digits, '_', '-' and '.' (found ' ')")
        );
    }

    #[test]
    fn a_server_needs_a_port_and_a_group_may_start_with_a_hash() {
        for bad in [
            "DDDD",
            "",
            ":7667",
            "host:",
            "host:99999",
            "host:0",
            "host:x",
        ] {
            assert!(form(bad, "ann", "rust").problem(0).is_some(), "{bad}");
        }
        for good in ["DDDD:7667", "[::1]:7667", "chat.example.org:443"] {
            assert_eq!(form(good, "ann", "rust").problem(0), None, "{good}");
        }
        assert_eq!(
            form("DDDD", "ann", "rust").problem(0).as_deref(),
            Some("DDDD has no port (host:port, e.g. DDDD:7667)")
        );
        let form = form("h:1", "ann", " #rust ");
        assert_eq!(form.problem(2), None);
        assert_eq!(form.target().group, "rust");
    }
}
