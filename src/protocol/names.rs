//! The rules for user and group names, shared by the server (which enforces
//! them) and the client (which checks them as the user types), so both say
//! the same thing.

/// Names are short enough to fit a members pane and a status bar.
pub const NAME_MAX_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {NAME_MAX_CHARS} characters")]
    TooLong { what: &'static str },
    #[error("{what} must start with a letter or a digit")]
    BadStart { what: &'static str },
    #[error("{what} may contain only letters, digits, '_', '-' and '.' (found {found:?})")]
    BadChar { what: &'static str, found: char },
}

/// A user name: 1 to 32 letters (any script), digits, `_`, `-` or `.`,
/// starting with a letter or digit. Case matters: `Ann` and `ann` differ.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    validate("name", name)
}

/// A group name follows the same rules as a user name.
pub fn validate_group(group: &str) -> Result<(), NameError> {
    validate("group name", group)
}

fn validate(what: &'static str, value: &str) -> Result<(), NameError> {
    let mut chars = value.chars();
    let first = chars.next().ok_or(NameError::Empty { what })?;
    if value.chars().count() > NAME_MAX_CHARS {
        return Err(NameError::TooLong { what });
    }
    if !first.is_alphanumeric() {
        return Err(NameError::BadStart { what });
    }
    match chars.find(|&c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        Some(found) => Err(NameError::BadChar { what, found }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_of_any_script() {
        for ok in [
            "alice",
            "Bob_2",
            "zoë",
            "東京",
            "a.b-c",
            "x",
            &"n".repeat(32),
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        assert_eq!(validate_name(""), Err(NameError::Empty { what: "name" }));
        assert_eq!(
            validate_group(&"g".repeat(33)),
            Err(NameError::TooLong { what: "group name" })
        );
        assert_eq!(
            validate_name("-x"),
            Err(NameError::BadStart { what: "name" })
        );
        assert_eq!(
            validate_name("a b"),
            Err(NameError::BadChar {
                what: "name",
                found: ' '
            })
        );
        assert_eq!(
            validate_name("a\u{7}"),
            Err(NameError::BadChar {
                what: "name",
                found: '\u{7}'
            })
        );
        assert_eq!(
            validate_name("a/b"),
            Err(NameError::BadChar {
                what: "name",
                found: '/'
            })
        );
    }
}
