//! The input line's model: the text being typed, the history of lines
//! sent, Tab completion, and the queue of messages on their way out.

use tui_input::Input;

use super::outbox::{Outbox, Pace};
use crate::tui::commands::{self, Names};

/// Tab completion in progress: pressing Tab again cycles the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub start: usize,
    pub candidates: Vec<String>,
    pub index: usize,
}

#[derive(Debug, Clone)]
pub struct Composer {
    pub input: Input,
    history: Vec<String>,
    /// Where Up/Down is in `history`; `None` while editing a new line.
    history_pos: Option<usize>,
    /// The line being typed before history browsing started.
    draft: String,
    completion: Option<Completion>,
    pub outbox: Outbox,
}

impl Composer {
    pub fn new(pace: Pace) -> Composer {
        Composer {
            input: Input::default(),
            history: Vec::new(),
            history_pos: None,
            draft: String::new(),
            completion: None,
            outbox: Outbox::new(pace),
        }
    }

    pub fn value(&self) -> &str {
        self.input.value()
    }

    pub fn completion(&self) -> Option<&Completion> {
        self.completion.as_ref()
    }

    /// The text was edited by hand: history browsing and completion end.
    pub fn edited(&mut self) {
        self.history_pos = None;
        self.completion = None;
    }

    /// Any key but Tab ends a completion.
    pub fn end_completion(&mut self) {
        self.completion = None;
    }

    /// Takes the line to send or run, keeping it in the history; the input
    /// line is left empty (also when the line turns out to be wrong: it is
    /// one Up away).
    pub fn take_line(&mut self) -> Option<String> {
        let value = self.input.value().to_owned();
        if value.trim().is_empty() {
            return None;
        }
        if self.history.last() != Some(&value) {
            self.history.push(value.clone());
        }
        self.history_pos = None;
        self.completion = None;
        self.input.reset();
        Some(value)
    }

    /// Up (`-1`) or Down (`1`) through the history.
    pub fn browse(&mut self, step: isize) {
        if self.history.is_empty() {
            return;
        }
        let pos = match (self.history_pos, step < 0) {
            (None, true) => {
                self.draft = self.input.value().to_owned();
                Some(self.history.len() - 1)
            }
            (None, false) => return,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p + 1 < self.history.len() => Some(p + 1),
            (Some(_), false) => None,
        };
        self.history_pos = pos;
        let text = pos.map_or_else(|| self.draft.clone(), |p| self.history[p].clone());
        self.input = Input::new(text);
    }

    /// Tab: completes the word before the cursor, or the next candidate
    /// when Tab is pressed again. False when there is nothing to complete.
    pub fn complete(&mut self, names: Names<'_>) -> bool {
        let value: Vec<char> = self.input.value().chars().collect();
        let cursor = self.input.cursor().min(value.len());
        let (start, candidates, index) = match self.completion.take() {
            Some(c) => {
                let index = (c.index + 1) % c.candidates.len();
                (c.start, c.candidates, index)
            }
            None => {
                let (start, candidates) = commands::candidates(self.input.value(), cursor, names);
                if candidates.is_empty() {
                    return false;
                }
                (start, candidates, 0)
            }
        };
        let single = candidates.len() == 1;
        let mut text: String = value[..start].iter().collect();
        text.push_str(&candidates[index]);
        if single {
            text.push(' ');
        }
        // Cycling replaces the previous candidate, which ends at the cursor.
        let rest = value[cursor..].iter().collect::<String>();
        let new_cursor = text.chars().count();
        text.push_str(&rest);
        self.input = Input::new(text).with_cursor(new_cursor);
        if !single {
            self.completion = Some(Completion {
                start,
                candidates,
                index,
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::model::line::insert;

    fn typed(text: &str) -> Composer {
        let mut composer = Composer::new(Pace::default());
        insert(&mut composer.input, text);
        composer
    }

    #[test]
    fn a_line_taken_goes_to_the_history_and_up_down_browse_it() {
        let mut composer = typed("hello");
        assert_eq!(composer.take_line().as_deref(), Some("hello"));
        assert_eq!(composer.value(), "");
        insert(&mut composer.input, "draft");
        composer.browse(-1);
        assert_eq!(composer.value(), "hello");
        composer.browse(1);
        assert_eq!(composer.value(), "draft");
        let mut blank = Composer::new(Pace::default());
        insert(&mut blank.input, "   ");
        assert_eq!(blank.take_line(), None);
    }

    #[test]
    fn tab_completes_and_cycles_and_addresses_at_the_start() {
        let members = vec!["ann".to_owned(), "anna".to_owned(), "bob".to_owned()];
        let names = Names {
            members: &members,
            ..Names::default()
        };
        let mut composer = typed("b");
        assert!(composer.complete(names));
        assert_eq!(composer.value(), "bob: ");
        let mut composer = typed("hi @an");
        assert!(composer.complete(names));
        assert_eq!(composer.value(), "hi @ann");
        assert_eq!(composer.completion().unwrap().candidates, ["@ann", "@anna"]);
        assert!(composer.complete(names));
        assert_eq!(composer.value(), "hi @anna");
        assert!(composer.complete(names));
        assert_eq!(composer.value(), "hi @ann");
        let mut composer = typed("hi ");
        assert!(!composer.complete(names), "nothing to complete");
        assert_eq!(composer.value(), "hi ");
    }
}
