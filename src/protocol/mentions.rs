//! Mentions: how a message names someone, the same rule for the server's
//! counts and the client's highlighting.

/// Does `text` mention `name`: `@name` anywhere (not as a prefix of a
/// longer name), or the IRC way, `name:` or `name,` at the start?
pub fn mentions(text: &str, name: &str) -> bool {
    !name.is_empty() && mention_spans(text, name).next().is_some()
}

/// Byte ranges of the mentions of `name` in `text`.
pub fn mention_spans<'a>(
    text: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let ends_name = |rest: &str| {
        rest.chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-')))
    };
    let addressed = text
        .strip_prefix(name)
        .filter(|rest| rest.starts_with([':', ',']))
        .map(|_| (0, name.len()));
    let at = text.match_indices('@').filter_map(move |(i, _)| {
        let rest = text[i + 1..].strip_prefix(name)?;
        ends_name(rest).then_some((i, i + 1 + name.len()))
    });
    addressed.into_iter().chain(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_but_not_prefixes() {
        assert!(mentions("hi @bob!", "bob"));
        assert!(mentions("@bob", "bob"));
        assert!(!mentions("hi @bobby", "bob"));
        assert!(!mentions("hi bob", "bob"));
        assert!(!mentions("hi @bob", ""));
        // Addressed the IRC way, at the start of the line.
        assert!(mentions("bob: look", "bob"));
        assert!(mentions("bob, look", "bob"));
        assert!(!mentions("bobby: look", "bob"));
        assert!(!mentions("bob look", "bob"));
        assert_eq!(
            mention_spans("bob: hi @bob", "bob").collect::<Vec<_>>(),
            [(0, 3), (8, 12)]
        );
    }
}
