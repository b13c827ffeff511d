//! The rules for user and group names, shared by the server (which enforces
//! them) and the client (which checks them as the user types), so both say
//! the same thing.

use super::invisible::is_invisible;

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
/// The Hangul fillers count as letters to Unicode but are drawn as nothing
/// ([`is_invisible`]), so they are refused: `ann\u{3164}` would look like `ann`.
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
    if !visible_alphanumeric(first) {
        return Err(NameError::BadStart { what });
    }
    match chars.find(|&c| !(visible_alphanumeric(c) || matches!(c, '_' | '-' | '.'))) {
        Some(found) => Err(NameError::BadChar { what, found }),
        None => Ok(()),
    }
}

fn visible_alphanumeric(c: char) -> bool {
    c.is_alphanumeric() && !is_invisible(c)
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
            validate_name("ann\u{3164}"),
            Err(NameError::BadChar {
                what: "name",
                found: '\u{3164}'
            })
        );
        assert_eq!(
            validate_group("\u{FFA0}"),
            Err(NameError::BadStart { what: "group name" })
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
