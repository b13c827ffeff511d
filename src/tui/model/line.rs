//! Line editing shared by the input line and the login form: moving and
//! deleting go by grapheme cluster (an accent, a flag or an emoji with a
//! skin tone is one step); everything else is tui-input's.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tui_input::{Input, backend::crossterm::EventHandler};
use unicode_segmentation::UnicodeSegmentation;

/// A key that types a character: no Ctrl, no Alt.
pub fn is_text(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Char(_))
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// Edits `input` with `key`. Returns whether the text changed.
pub fn edit(input: &mut Input, key: KeyEvent) -> bool {
    if key.modifiers.is_empty() {
        let chars: Vec<char> = input.value().chars().collect();
        let cursor = input.cursor().min(chars.len());
        let bounds = grapheme_bounds(input.value());
        let before = bounds.iter().rev().copied().find(|&b| b < cursor);
        let after = bounds.iter().copied().find(|&b| b > cursor);
        let replace = |input: &mut Input, from: usize, to: usize, cursor: usize| {
            let text: String = chars[..from].iter().chain(&chars[to..]).collect();
            *input = Input::new(text).with_cursor(cursor);
        };
        match key.code {
            KeyCode::Left => {
                *input = Input::new(input.value().to_owned()).with_cursor(before.unwrap_or(0));
                return false;
            }
            KeyCode::Right => {
                let to = after.unwrap_or(chars.len());
                *input = Input::new(input.value().to_owned()).with_cursor(to);
                return false;
            }
            KeyCode::Backspace => {
                let Some(from) = before else { return false };
                replace(input, from, cursor, from);
                return true;
            }
            KeyCode::Delete => {
                let Some(to) = after else { return false };
                replace(input, cursor, to, cursor);
                return true;
            }
            _ => {}
        }
    }
    input
        .handle_event(&TermEvent::Key(key))
        .is_some_and(|changed| changed.value)
}

/// Inserts `text` at the cursor.
pub fn insert(input: &mut Input, text: &str) {
    let mut chars: Vec<char> = input.value().chars().collect();
    let cursor = input.cursor().min(chars.len());
    let inserted: Vec<char> = text.chars().collect();
    chars.splice(cursor..cursor, inserted.iter().copied());
    *input = Input::new(chars.into_iter().collect()).with_cursor(cursor + inserted.len());
}

/// The char indices where grapheme clusters start, and the end.
fn grapheme_bounds(text: &str) -> Vec<usize> {
    let mut bounds = vec![0];
    let mut at = 0;
    for g in text.graphemes(true) {
        at += g.chars().count();
        bounds.push(at);
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn the_cursor_steps_over_whole_graphemes() {
        let mut input = Input::default();
        // "é" written as e + a combining accent, then a thumbs-up with a skin tone.
        insert(&mut input, "ae\u{301}👍🏽b");
        assert_eq!(input.cursor(), 6);
        edit(&mut input, key(KeyCode::Left));
        assert_eq!(input.cursor(), 5, "before b");
        edit(&mut input, key(KeyCode::Left));
        assert_eq!(input.cursor(), 3, "before the emoji and its skin tone");
        assert!(edit(&mut input, key(KeyCode::Backspace)));
        assert_eq!(input.value(), "a👍🏽b", "the accent goes with its letter");
        edit(&mut input, key(KeyCode::Delete));
        assert_eq!(input.value(), "ab");
        edit(&mut input, key(KeyCode::Right));
        edit(&mut input, key(KeyCode::Right));
        assert_eq!(input.cursor(), 2);
        assert!(is_text(&key(KeyCode::Char('x'))));
        assert!(!is_text(&KeyEvent::new(
            KeyCode::Char('x'),
            KeyModifiers::ALT
        )));
    }
}
