//! Characters that can make displayed text differ from what was sent,
//! because they reorder the text around them or show nothing at all. The
//! server and the client both meet them: file names drop them
//! ([`clean_file_name`](super::clean_file_name)), and the client shows
//! message text with each one as a visible marker ([`reveal`]).

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;

/// Joins emoji into one picture (👨‍👩‍👧) and letters into a conjunct.
const ZERO_WIDTH_JOINER: char = '\u{200D}';
/// Starts a subdivision flag such as 🏴󠁧󠁢󠁳󠁣󠁴󠁿, spelled out in tag characters.
const WAVING_BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';

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

/// `text` with every [invisible](is_invisible) character shown as a marker
/// naming it, such as `⟨U+202E⟩`, so a line reads in the order it was
/// written and hides nothing. Two uses stay as they are, because they are
/// part of what the sender meant and cannot reorder anything: a zero-width
/// joiner that joins its neighbours into one character (emoji sequences
/// such as 👨‍👩‍👧, conjuncts in Indic scripts), and the tags of a
/// subdivision flag.
pub fn reveal(text: &str) -> Cow<'_, str> {
    if !text.contains(is_invisible) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for grapheme in text.graphemes(true) {
        if !grapheme.contains(is_invisible) || is_subdivision_flag(grapheme) {
            shown.push_str(grapheme);
            continue;
        }
        let mut chars = grapheme.chars().peekable();
        while let Some(c) = chars.next() {
            let joins = c == ZERO_WIDTH_JOINER && chars.peek().is_some_and(|&next| !attaches(next));
            if is_invisible(c) && !joins {
                shown.push_str(&format!("⟨U+{:04X}⟩", u32::from(c)));
            } else {
                shown.push(c);
            }
        }
    }
    Cow::Owned(shown)
}

/// Whether `c` attaches to whatever comes before it (a combining mark, a
/// joiner). A joiner followed, in the same grapheme, by a character that
/// does not attach on its own has joined two characters into one.
fn attaches(c: char) -> bool {
    String::from_iter(['a', c]).graphemes(true).count() == 1
}

/// 🏴 followed by tag characters and the cancel tag: one flag, such as
/// Scotland's or Wales's.
fn is_subdivision_flag(grapheme: &str) -> bool {
    let mut chars = grapheme.chars();
    chars.next() == Some(WAVING_BLACK_FLAG)
        && chars.next_back() == Some(CANCEL_TAG)
        && chars.all(|c| ('\u{E0020}'..='\u{E007E}').contains(&c))
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

    #[test]
    fn reveals_what_would_reorder_or_hide_text() {
        for (text, shown) in [
            ("invoice\u{202E}fdp.exe", "invoice⟨U+202E⟩fdp.exe"),
            ("\u{2067}abc\u{2069}", "⟨U+2067⟩abc⟨U+2069⟩"),
            ("pay\u{200B}pal", "pay⟨U+200B⟩pal"),
            ("a\u{200D}b", "a⟨U+200D⟩b"),
            ("👍\u{200D}", "👍⟨U+200D⟩"),
            ("\u{200D}👍", "⟨U+200D⟩👍"),
            ("a\u{200D}\u{0301}", "a⟨U+200D⟩\u{0301}"),
            ("👨\u{200D}\u{200D}👩", "👨⟨U+200D⟩⟨U+200D⟩👩"),
            ("hi\u{E0068}\u{E0069}", "hi⟨U+E0068⟩⟨U+E0069⟩"),
            ("\u{1F3F4}\u{E0041}", "\u{1F3F4}⟨U+E0041⟩"),
            ("\u{FEFF}", "⟨U+FEFF⟩"),
        ] {
            assert_eq!(reveal(text), shown, "{text:?}");
        }
    }

    #[test]
    fn leaves_ordinary_text_and_joined_characters_alone() {
        let scotland = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
        for text in [
            "plain text, 東京, café, مرحبا, שלום",
            "family 👨\u{200D}👩\u{200D}👧 and 🏳\u{FE0F}\u{200D}🌈",
            "क्\u{200D}ष",
            scotland,
            "",
        ] {
            assert_eq!(reveal(text), text, "{text:?}");
        }
        let mixed = format!("{scotland} \u{202E}");
        assert_eq!(reveal(&mixed), format!("{scotland} ⟨U+202E⟩"));
    }

    proptest::proptest! {
        #[test]
        fn revealed_text_keeps_only_joiners_and_flag_tags(
            text in "[a-z .\u{0301}\u{00AD}\u{061C}\u{200B}-\u{206F}\u{FEFF}\u{E0000}-\u{E007F}\u{1F3F4}\u{1F468}\u{1F469}]{0,24}"
        ) {
            let shown = reveal(&text);
            let kept = |c: char| c == ZERO_WIDTH_JOINER || ('\u{E0020}'..=CANCEL_TAG).contains(&c);
            proptest::prop_assert!(!shown.chars().any(|c| is_invisible(c) && !kept(c)), "{:?}", shown);
            let plain = |s: &str| s.chars().filter(|&c| !is_invisible(c) && !"⟨U+0123456789ABCDEF⟩".contains(c)).collect::<String>();
            proptest::prop_assert_eq!(plain(&shown), plain(&text));
        }
    }
}
