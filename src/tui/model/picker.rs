//! The file picker popup: browse directories, type to filter, pick a file
//! to send.
//!
//! The listing is state like any other: the runtime reads a directory on a
//! blocking task ([`list_dir`]) and hands the entries back as an event, so
//! the render loop never waits on a slow disk or a network mount, and the
//! popup is drawn (and tested) from a listing that need not exist on disk.
//! Hidden files are always listed and hidden here, so showing them is a
//! key press, not another read.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// For display (lossy for names that are not UTF-8).
    pub name: String,
    /// The exact name, to build the path from.
    pub file_name: OsString,
    pub is_dir: bool,
    /// Bytes; 0 for directories.
    pub size: u64,
    pub hidden: bool,
}

#[cfg(test)]
impl Entry {
    /// An entry of a listing made up for a test, with no disk behind it.
    pub fn new(name: &str, is_dir: bool, size: u64) -> Entry {
        Entry {
            name: name.to_owned(),
            file_name: OsString::from(name),
            is_dir,
            size,
            hidden: name.starts_with('.'),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    Loading,
    Ready(Vec<Entry>),
    /// Why the directory could not be read.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    pub dir: PathBuf,
    pub listing: Listing,
    /// Typed text; entries whose name contains it (any case) are shown.
    pub filter: String,
    pub show_hidden: bool,
    /// Index into [`Picker::visible`].
    pub selected: usize,
    /// The entry to select once the listing arrives (the directory just left).
    pub reveal: Option<String>,
}

impl Picker {
    /// A picker waiting for the listing of `dir`.
    pub fn new(dir: PathBuf) -> Picker {
        Picker {
            dir,
            listing: Listing::Loading,
            filter: String::new(),
            show_hidden: false,
            selected: 0,
            reveal: None,
        }
    }

    /// The entries shown: hidden ones only when asked for (or when the
    /// filter itself starts with a dot), then those matching the filter.
    pub fn visible(&self) -> Vec<&Entry> {
        let Listing::Ready(entries) = &self.listing else {
            return Vec::new();
        };
        let filter = self.filter.to_lowercase();
        let hidden_ok = self.show_hidden || filter.starts_with('.');
        entries
            .iter()
            .filter(|e| hidden_ok || !e.hidden)
            .filter(|e| e.name.to_lowercase().contains(&filter))
            .collect()
    }

    pub fn selected_entry(&self) -> Option<&Entry> {
        self.visible().get(self.selected).copied()
    }

    /// Moves the selection by `delta`, staying on the list.
    pub fn select_by(&mut self, delta: isize) {
        let last = self.visible().len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// Keeps the selection on the list after the visible entries changed.
    pub fn clamp(&mut self) {
        self.select_by(0);
    }

    /// Starts over in `dir`: a new listing is needed.
    pub fn enter(&mut self, dir: PathBuf) {
        self.dir = dir;
        self.listing = Listing::Loading;
        self.filter.clear();
        self.selected = 0;
        self.reveal = None;
    }

    /// The listing of `dir` arrived. One for a directory since left is ignored.
    pub fn listed(&mut self, dir: &Path, result: Result<Vec<Entry>, String>) {
        if dir != self.dir {
            return;
        }
        self.listing = match result {
            Ok(entries) => Listing::Ready(entries),
            Err(message) => Listing::Failed(message),
        };
        self.selected = 0;
        if let Some(name) = self.reveal.take()
            && let Some(at) = self.visible().iter().position(|e| e.name == name)
        {
            self.selected = at;
        }
    }
}

/// Directories first, then files, each by name without regard to case.
pub fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// Reads `dir`, sorted. Blocking: the runtime calls it on a blocking task.
/// An entry whose metadata cannot be read (a dangling link) is listed as a
/// file of size 0 rather than left out, so the listing matches `ls`.
pub fn list_dir(dir: &Path) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut entries: Vec<Entry> = read
        .filter_map(Result::ok)
        .map(|entry| {
            let file_name = entry.file_name();
            let name = file_name.to_string_lossy().into_owned();
            // Follows links, so a link to a directory can be entered.
            let metadata = std::fs::metadata(entry.path()).ok();
            let is_dir = metadata.as_ref().is_some_and(|m| m.is_dir());
            Entry {
                hidden: name.starts_with('.'),
                name,
                file_name,
                is_dir,
                size: metadata.filter(|m| m.is_file()).map_or(0, |m| m.len()),
            }
        })
        .collect();
    sort_entries(&mut entries);
    Ok(entries)
}

/// A path as the user typed it: `~` and `~/...` are the home directory,
/// a relative path is taken from `cwd`.
pub fn expand_path(typed: &str, cwd: &Path, home: Option<&Path>) -> PathBuf {
    let typed = typed.trim();
    let path = match (typed, home) {
        ("~", Some(home)) => home.to_path_buf(),
        (t, Some(home)) if t.starts_with("~/") => home.join(&t[2..]),
        (t, _) => PathBuf::from(t),
    };
    if path.is_absolute() {
        path
    } else {
        cwd.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(names: &[(&str, bool)]) -> Picker {
        let mut entries: Vec<Entry> = names
            .iter()
            .map(|&(name, dir)| Entry::new(name, dir, 10))
            .collect();
        sort_entries(&mut entries);
        let mut picker = Picker::new(PathBuf::from("/home/ann"));
        picker.listed(Path::new("/home/ann"), Ok(entries));
        picker
    }

    fn names(picker: &Picker) -> Vec<&str> {
        picker.visible().iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn directories_come_first_then_names_without_case() {
        let picker = ready(&[
            ("zeta.txt", false),
            ("Alpha.txt", false),
            ("src", true),
            ("Docs", true),
            ("beta.txt", false),
        ]);
        assert_eq!(
            names(&picker),
            ["Docs", "src", "Alpha.txt", "beta.txt", "zeta.txt"]
        );
    }

    #[test]
    fn hidden_files_wait_for_the_key_or_a_dot() {
        let mut picker = ready(&[(".git", true), (".env", false), ("notes.md", false)]);
        assert_eq!(names(&picker), ["notes.md"]);
        picker.show_hidden = true;
        assert_eq!(names(&picker), [".git", ".env", "notes.md"]);
        picker.show_hidden = false;
        picker.filter = ".e".into();
        assert_eq!(names(&picker), [".env"], "a filter with a dot finds them");
    }

    #[test]
    fn the_filter_matches_anywhere_in_any_case_and_keeps_the_selection_on_the_list() {
        let mut picker = ready(&[
            ("Report.pdf", false),
            ("report-old.pdf", false),
            ("photo.jpg", false),
            ("reports", true),
        ]);
        picker.select_by(10);
        assert_eq!(picker.selected, 3, "stops at the last entry");
        picker.filter = "REPORT".into();
        picker.clamp();
        assert_eq!(names(&picker), ["reports", "report-old.pdf", "Report.pdf"]);
        assert_eq!(picker.selected, 2);
        picker.filter = "zzz".into();
        picker.clamp();
        assert_eq!(picker.selected, 0);
        assert_eq!(picker.selected_entry(), None);
        picker.select_by(-1);
        assert_eq!(picker.selected, 0);
    }

    #[test]
    fn a_late_listing_for_another_directory_is_ignored_and_the_way_back_is_selected() {
        let mut picker = ready(&[("a", true), ("b", true), ("c", true)]);
        picker.enter(PathBuf::from("/home/ann/b"));
        picker.listed(Path::new("/home/ann"), Ok(vec![Entry::new("x", false, 1)]));
        assert_eq!(picker.listing, Listing::Loading, "stale answer dropped");
        picker.enter(PathBuf::from("/home/ann"));
        picker.reveal = Some("b".into());
        picker.listed(
            Path::new("/home/ann"),
            Ok(vec![
                Entry::new("a", true, 0),
                Entry::new("b", true, 0),
                Entry::new("c", true, 0),
            ]),
        );
        assert_eq!(picker.selected_entry().map(|e| e.name.as_str()), Some("b"));
        picker.listed(Path::new("/home/ann"), Err("cannot read /home/ann".into()));
        assert_eq!(
            picker.listing,
            Listing::Failed("cannot read /home/ann".into())
        );
    }

    #[test]
    fn typed_paths_expand_home_and_start_from_the_working_directory() {
        let cwd = Path::new("/work/project");
        let home = Some(Path::new("/home/ann"));
        assert_eq!(
            expand_path("~/Documents/a b.pdf", cwd, home),
            PathBuf::from("/home/ann/Documents/a b.pdf")
        );
        assert_eq!(expand_path("~", cwd, home), PathBuf::from("/home/ann"));
        assert_eq!(
            expand_path(" notes.txt ", cwd, home),
            PathBuf::from("/work/project/notes.txt")
        );
        assert_eq!(
            expand_path("../x", cwd, home),
            PathBuf::from("/work/project/../x")
        );
        assert_eq!(
            expand_path("/etc/hosts", cwd, home),
            PathBuf::from("/etc/hosts")
        );
        assert_eq!(
            expand_path("~bob/x", cwd, home),
            PathBuf::from("/work/project/~bob/x"),
            "only the user's own home"
        );
        assert_eq!(
            expand_path("~/x", cwd, None),
            PathBuf::from("/work/project/~/x")
        );
    }

    #[test]
    fn lists_a_real_directory_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), b"hello").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"").unwrap();
        std::fs::create_dir(dir.path().join("A")).unwrap();
        let entries = list_dir(dir.path()).unwrap();
        let summary: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.is_dir, e.size, e.hidden))
            .collect();
        assert_eq!(
            summary,
            [
                ("A", true, 0, false),
                (".hidden", false, 0, true),
                ("b.txt", false, 5, false)
            ]
        );
        let err = list_dir(&dir.path().join("missing")).unwrap_err();
        assert!(err.starts_with("cannot read"), "{err}");
    }
}
