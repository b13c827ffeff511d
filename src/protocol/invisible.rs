//! Characters that can make displayed text differ from what was sent,
//! because they reorder the text around them or show nothing at all. The
//! server and the client both meet them in file names, which drop them
//! ([`clean_file_name`](super::clean_file_name)).

/// Whether `c` reorders the text around it or is drawn as nothing.
///
/// - Bidi controls: the embeddings, overrides and isolates (U+202A–U+202E,
///   U+2066–U+2069) reorder everything up to their end, which is how
///   `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`; the marks (U+200E,
///   U+200F, U+061C) move neutral characters such as `.` to the other side.
/// - Everything else Unicode lists as default-ignorable, that is to be drawn
///   as nothing: zero-width spaces and joiners, the word joiner and invisible
///   operators, the soft hyphen, the byte-order mark, Hangul fillers (which
///   make blank-looking words), the tag characters (which spell out text
///   nobody sees), the deprecated format controls, and the code points
///   reserved for more of the same.
/// - The line and paragraph separators (U+2028, U+2029), which break a line
///   and end every bidi embedding, and the interlinear annotation controls.
///
/// Variation selectors are default-ignorable too but stay out: each only
/// picks how the character before it looks, and nearly every emoji has one.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2065}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E00FF}'
            | '\u{E01F0}'..='\u{E0FFF}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_direction_controls_and_invisible_formatting() {
        let invisible = [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{3164}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{2028}',
            '\u{2029}',
        ];
        for c in invisible {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        let shown = [
            'a',
            ' ',
            '.',
            'é',
            '東',
            'ا',
            'א',
            '🎉',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{0301}',
            '\n',
        ];
        for c in shown {
            assert!(!is_invisible(c), "U+{:04X}", u32::from(c));
        }
    }
}
