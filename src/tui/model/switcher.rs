//! The quick switcher: type part of a conversation's name, pick it, go.

use super::Chat;
use crate::protocol::ConvId;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switcher {
    pub filter: String,
    /// The row selected among the matches.
    pub selected: usize,
}

impl Switcher {
    /// The conversations whose name contains the filter (without regard
    /// to case): those it starts first, each group in the pane's order.
    pub fn matches(&self, chat: &Chat) -> Vec<ConvId> {
        let filter = self
            .filter
            .trim()
            .trim_start_matches(['#', '@'])
            .to_lowercase();
        let mut found: Vec<(bool, ConvId)> = chat
            .convs()
            .filter_map(|conv| {
                let name = conv.label()[1..].to_lowercase();
                let at = name.find(&filter)?;
                Some((at != 0, conv.id.clone()))
            })
            .collect();
        found.sort_by_key(|(later, _)| *later);
        found.into_iter().map(|(_, id)| id).collect()
    }

    pub fn select_by(&mut self, delta: isize, count: usize) {
        self.selected = self
            .selected
            .saturating_add_signed(delta)
            .min(count.saturating_sub(1));
    }

    pub fn push(&mut self, c: char) {
        self.filter.push(c);
        self.selected = 0;
    }

    pub fn pop(&mut self) {
        self.filter.pop();
        self.selected = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::conversation;

    #[test]
    fn names_that_start_with_the_filter_come_first() {
        let mut chat = Chat::new("bob", Default::default());
        for id in ["rust", "trusty", "go", "bob+rusty"] {
            chat.insert(crate::tui::model::conversation::Conv::new(
                "bob",
                conversation(id),
                None,
            ));
        }
        let mut switcher = Switcher::default();
        assert_eq!(
            switcher.matches(&chat),
            ["go", "rust", "trusty", "bob+rusty"]
        );
        for c in "#RUST".chars() {
            switcher.push(c);
        }
        assert_eq!(switcher.matches(&chat), ["rust", "bob+rusty", "trusty"]);
        switcher.select_by(5, 3);
        assert_eq!(switcher.selected, 2);
        switcher.pop();
        assert_eq!(switcher.selected, 0);
    }
}
