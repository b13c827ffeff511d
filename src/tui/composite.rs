//! Graphemes that terminals store differently from how they are measured.
//!
//! A flag (two regional indicators) or another emoji sequence is one
//! grapheme two columns wide to ratatui, but a terminal such as tmux keeps
//! it as several narrow cells. When such a grapheme goes away, ratatui
//! overwrites only its first column and the terminal keeps the rest: a
//! stray 🇷 on every later line until a resize. So when a grapheme like that
//! was drawn and the next frame has something else there, the screen is
//! painted again whole.

use ratatui::{buffer::Buffer, layout::Position};
use unicode_width::UnicodeWidthStr;

/// Where the last frame drew wide graphemes of several code points.
#[derive(Debug, Default)]
pub struct Composites {
    drawn: Vec<(Position, String)>,
}

impl Composites {
    /// Notes the composite graphemes of a frame just drawn; returns whether
    /// one of the previous frame's is gone, leaving cells the terminal may
    /// not have cleared.
    pub fn track(&mut self, frame: &Buffer) -> bool {
        let gone = self
            .drawn
            .iter()
            .any(|(at, symbol)| frame.cell(*at).is_none_or(|cell| cell.symbol() != symbol));
        self.drawn.clear();
        for y in frame.area.top()..frame.area.bottom() {
            for x in frame.area.left()..frame.area.right() {
                let symbol = frame[(x, y)].symbol();
                if symbol.chars().nth(1).is_some() && symbol.width() > 1 {
                    self.drawn.push((Position { x, y }, symbol.to_owned()));
                }
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;

    use super::*;

    fn frame(line: &str) -> Buffer {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 20, 2));
        buffer.set_string(0, 1, line, ratatui::style::Style::default());
        buffer
    }

    #[test]
    fn a_flag_or_sequence_that_goes_away_asks_for_a_whole_repaint() {
        let mut composites = Composites::default();
        assert!(!composites.track(&frame("a 🇫🇷 flag")));
        assert!(!composites.track(&frame("a 🇫🇷 flag")), "still there");
        assert!(composites.track(&frame("scrolled")), "gone");
        assert!(!composites.track(&frame("scrolled")));
        assert!(!composites.track(&frame("👨‍👩‍👧 family")));
        assert!(composites.track(&frame(" 👨‍👩‍👧 moved")));
    }

    #[test]
    fn plain_wide_characters_and_ascii_never_do() {
        let mut composites = Composites::default();
        for line in ["日本語", "plain", "中文 text", "é"] {
            assert!(!composites.track(&frame(line)), "{line}");
        }
    }
}
