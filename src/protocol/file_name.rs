//! Turning a file name from someone else into one that is safe to show and
//! to create on any common file system. The server cleans names before it
//! announces them and receivers clean them again before saving, so neither
//! has to trust the other.

use super::invisible::is_invisible;

/// Longest cleaned name, in bytes: under every common file system's 255,
/// with room for a ` (12)` suffix.
pub const FILE_NAME_MAX_BYTES: usize = 200;

/// What an empty or all-dots name becomes.
const FALLBACK: &str = "file";

/// Device names Windows reserves whatever the extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
    "COM8", "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A plain file name made from `name`: only its last path component
/// (either slash), no control characters, no characters that reorder or
/// hide part of the name ([`is_invisible`]: `invoice\u{202E}fdp.exe` would
/// show as `invoiceexe.pdf`), no characters Windows forbids, no
/// leading dots or spaces, no trailing dots or spaces, not a reserved device
/// name, at most [`FILE_NAME_MAX_BYTES`] bytes with the extension kept.
pub fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let replaced: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible(c))
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = replaced
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let mut cleaned = if trimmed.is_empty() {
        FALLBACK.to_owned()
    } else {
        trimmed.to_owned()
    };
    let stem = cleaned.split('.').next().unwrap_or_default();
    if RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem.trim_end()))
    {
        cleaned.insert(0, '_');
    }
    shorten(&cleaned, FILE_NAME_MAX_BYTES)
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a
/// short extension so the file still opens with the right program.
pub(crate) fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut end = max - extension.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(['.', ' ']);
    format!("{stem}{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_plain_names() {
        for (hostile, clean) in [
            ("../x", "x"),
            ("/etc/passwd", "passwd"),
            ("C:\\x", "x"),
            ("C:x", "C_x"),
            ("a\0b\nc.txt", "abc.txt"),
            (".", "file"),
            ("..", "file"),
            ("", "file"),
            ("dir/", "file"),
            (".bashrc", "bashrc"),
            ("...hidden. ", "hidden"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("console.txt", "console.txt"),
            ("what?.md", "what_.md"),
            ("report 2026.pdf", "report 2026.pdf"),
            ("東京 café 🎉.png", "東京 café 🎉.png"),
            ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
            ("\u{2066}notes\u{2069}.txt", "notes.txt"),
            ("a\u{200E}\u{200F}\u{061C}b", "ab"),
            (
                "zero\u{200B}\u{200C}\u{200D}width\u{2060}\u{FEFF}",
                "zerowidth",
            ),
            ("soft\u{00AD}hyphen\u{180E}", "softhyphen"),
            ("\u{202E}.bashrc", "bashrc"),
            ("hidden\u{E0041}\u{E0042}.md", "hidden.md"),
            ("👨\u{200D}👩.png", "👨👩.png"),
            ("\u{202E}\u{200B}", "file"),
        ] {
            assert_eq!(clean_file_name(hostile), clean, "{hostile:?}");
        }
    }

    #[test]
    fn long_names_keep_their_extension_and_whole_characters() {
        let long = format!("{}.tar.gz", "é".repeat(5_000));
        let cleaned = clean_file_name(&long);
        assert!(cleaned.len() <= FILE_NAME_MAX_BYTES, "{}", cleaned.len());
        assert!(cleaned.ends_with(".gz"));
        assert!(cleaned.starts_with('é'));
        let no_extension = "x".repeat(10_000);
        assert_eq!(clean_file_name(&no_extension).len(), FILE_NAME_MAX_BYTES);
    }

    proptest::proptest! {
        #[test]
        fn any_name_cleans_to_one_safe_component(
            name in "(.|[\u{00AD}\u{061C}\u{200B}-\u{206F}\u{FEFF}\u{E0000}-\u{E007F}])*"
        ) {
            let cleaned = clean_file_name(&name);
            proptest::prop_assert!(!cleaned.is_empty());
            proptest::prop_assert!(cleaned.len() <= FILE_NAME_MAX_BYTES);
            proptest::prop_assert!(!cleaned.contains(['/', '\\', '\0']));
            proptest::prop_assert!(!cleaned.chars().any(char::is_control));
            proptest::prop_assert!(!cleaned.chars().any(is_invisible));
            proptest::prop_assert!(!cleaned.starts_with('.'));
            proptest::prop_assert!(cleaned != "." && cleaned != "..");
            proptest::prop_assert_eq!(clean_file_name(&cleaned), cleaned.clone());
        }
    }
}
