//! The history search popup: a query, the server's matches across every
//! conversation the user may read (newest first), and the one selected.

use crate::protocol::SearchHit;

/// The most matches asked for (the server's limit).
pub const SEARCH_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Results {
    /// Nothing asked yet.
    None,
    /// Asked for `query`; the answer is on its way.
    Asking,
    Found(Vec<SearchHit>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    /// The query the results are for.
    pub searched: Option<String>,
    pub results: Results,
    pub selected: usize,
}

impl Search {
    pub fn new(query: &str) -> Search {
        Search {
            query: query.to_owned(),
            searched: None,
            results: Results::None,
            selected: 0,
        }
    }

    /// The query to send, when Enter should search rather than jump: it
    /// changed since the results came.
    pub fn to_ask(&self) -> Option<String> {
        let query = self.query.trim();
        (!query.is_empty() && self.searched.as_deref() != Some(query)).then(|| query.to_owned())
    }

    /// The search for `query` is on its way.
    pub fn asking(&mut self, query: String) {
        self.searched = Some(query);
        self.results = Results::Asking;
        self.selected = 0;
    }

    /// The answer to the search for `query`; an answer to an older query
    /// is dropped.
    pub fn answered(&mut self, query: &str, results: Result<Vec<SearchHit>, String>) {
        if self.searched.as_deref() != Some(query) {
            return;
        }
        self.results = match results {
            Ok(hits) => Results::Found(hits),
            Err(message) => Results::Failed(message),
        };
        self.selected = 0;
    }

    pub fn hits(&self) -> &[SearchHit] {
        match &self.results {
            Results::Found(hits) => hits,
            _ => &[],
        }
    }

    pub fn selected_hit(&self) -> Option<&SearchHit> {
        self.hits().get(self.selected)
    }

    pub fn select_by(&mut self, delta: isize) {
        let last = self.hits().len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }
}

/// Byte ranges of `text` where a word of `query` occurs, without regard to
/// case, in order and not overlapping: what the popup highlights.
pub fn match_spans(text: &str, query: &str) -> Vec<(usize, usize)> {
    let lower = text.to_lowercase();
    // Lowercasing may change lengths; then nothing is highlighted rather
    // than the wrong letters.
    if lower.len() != text.len() {
        return Vec::new();
    }
    let mut spans: Vec<(usize, usize)> = query
        .split_whitespace()
        .map(str::to_lowercase)
        .filter(|word| !word.is_empty())
        .flat_map(|word| {
            lower
                .match_indices(&word)
                .map(|(at, found)| (at, at + found.len()))
                .collect::<Vec<_>>()
        })
        .filter(|&(start, end)| text.is_char_boundary(start) && text.is_char_boundary(end))
        .collect();
    spans.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::text_entry;

    fn hit(conv: &str, seq: u64) -> SearchHit {
        SearchHit {
            conv: conv.into(),
            entry: text_entry(seq, "alice", "x"),
        }
    }

    #[test]
    fn enter_searches_a_changed_query_and_old_answers_are_dropped() {
        let mut search = Search::new("");
        assert_eq!(search.to_ask(), None, "nothing typed");
        search.query = " tokio  ".into();
        let query = search.to_ask().unwrap();
        assert_eq!(query, "tokio");
        search.asking(query);
        assert_eq!(search.to_ask(), None, "asked: Enter jumps");
        search.query = "tokio select".into();
        search.asking(search.to_ask().unwrap());
        search.answered("tokio", Ok(vec![hit("rust", 1)]));
        assert_eq!(search.results, Results::Asking, "an older answer");
        search.answered("tokio select", Ok(vec![hit("rust", 2), hit("go", 1)]));
        search.select_by(5);
        assert_eq!(search.selected_hit(), Some(&hit("go", 1)));
    }

    #[test]
    fn match_spans_find_every_word_without_regard_to_case() {
        assert_eq!(
            match_spans("Tokio's select! and TOKIO", "tokio select"),
            [(0, 5), (8, 14), (20, 25)]
        );
        assert_eq!(match_spans("aaa", "a aa"), [(0, 3)], "overlaps merge");
        assert_eq!(match_spans("東京 tokyo", "東京"), [(0, 6)]);
        assert!(match_spans("nothing", "").is_empty());
    }
}
