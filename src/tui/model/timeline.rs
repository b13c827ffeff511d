//! The messages pane's model: its items, kept apart from how they are
//! drawn, with the scroll position, the unread count, the "while you were
//! away" divider, the day lines and the paging back through history.
//!
//! Items are counted in screen lines only for scrolling; the caller (which
//! knows the width) says how tall an item is when it arrives, so a view
//! scrolled back holds still while new lines come in below it, and older
//! pages come in above it.

use crate::protocol::Seq;

/// How many items the timeline keeps.
pub const MAX_ITEMS: usize = 100_000;

/// One entry of the messages pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Unix time in milliseconds; `None` for local notes.
    pub at_ms: Option<i64>,
    /// The log entry it shows, if it shows one (a search jumps to it).
    pub seq: Option<Seq>,
    pub kind: ItemKind,
}

impl Item {
    /// A local note: no time, no log entry.
    pub fn note(kind: ItemKind) -> Item {
        Item {
            at_ms: None,
            seq: None,
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    Chat {
        from: String,
        text: String,
        own: bool,
        mention: bool,
    },
    /// Something that happened in the group (joined, kicked, admin changed,
    /// request arrived).
    Event(String),
    /// An answer to a command.
    Info(String),
    Error(String),
    /// Where the messages not read yet start ("while you were away").
    Divider(String),
    /// The date, when it changes between two items.
    Day(String),
    /// A file announced in the group: the id of its shared file, whose
    /// state changes as it is fetched.
    File {
        id: String,
        own: bool,
    },
    /// Members coming online and going offline, gathered in one line.
    Presence(Presence),
}

impl ItemKind {
    /// Does it count as a message from someone else (unread, new below)?
    pub fn is_news(&self) -> bool {
        matches!(
            self,
            ItemKind::Chat { own: false, .. } | ItemKind::File { own: false, .. }
        )
    }
}

/// Who came online and who went offline, since the line was started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    pub online: Vec<String>,
    pub offline: Vec<String>,
}

impl Presence {
    /// Adds one change; someone who left and came back is listed once, as
    /// they are now.
    pub fn add(&mut self, name: &str, online: bool) {
        let (to, from) = if online {
            (&mut self.online, &mut self.offline)
        } else {
            (&mut self.offline, &mut self.online)
        };
        from.retain(|n| n != name);
        if !to.iter().any(|n| n == name) {
            to.push(name.to_owned());
        }
    }

    pub fn text(&self) -> String {
        let part = |names: &[String], what: &str| {
            (!names.is_empty()).then(|| format!("{} {what}", names.join(", ")))
        };
        [
            part(&self.online, "came online"),
            part(&self.offline, "went offline"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ")
    }
}

/// Scrollback, counted in screen lines from the bottom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scroll {
    /// 0 follows the newest message.
    pub offset: usize,
    /// Messages (not local notes) that arrived while scrolled up.
    pub new_below: usize,
}

/// Older entries for the top of the timeline, or newer ones for its
/// bottom, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The first and last log entries the items were made from.
    pub oldest: Seq,
    pub newest: Seq,
    /// The date of the newest item.
    pub last_day: Option<String>,
}

/// How far back the timeline reaches into the group's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum History {
    /// Older entries may exist: ask for them when the user scrolls there.
    #[default]
    More,
    /// A page of older entries is on its way.
    Asking,
    /// The oldest entry the member may read is shown (or the timeline is
    /// full): nothing older to ask for.
    Start,
}

/// What lies below the newest item: the live end of the log, or (after a
/// jump to an old message) newer entries not loaded yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Below {
    /// The timeline ends at the newest entry; new ones are added as they come.
    #[default]
    Live,
    /// Newer entries exist: ask for them when the user scrolls down there.
    More,
    /// A page of newer entries is on its way.
    Asking,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    items: Vec<Item>,
    scroll: Scroll,
    /// The newest log entry shown: an entry at or below it is a replay.
    newest_seq: Option<Seq>,
    /// The oldest log entry shown: where the next page of history ends.
    oldest_seq: Option<Seq>,
    history: History,
    below: Below,
    /// The entry a search jumped to, marked until the timeline goes live.
    highlight: Option<Seq>,
    /// Screen lines from the divider down, while a catch-up arrives below
    /// it and the user has not scrolled: the view keeps the divider in
    /// sight.
    divider_lines: Option<usize>,
    /// A divider marks news nobody has looked at since it was placed; the
    /// next news goes below it without another.
    divider_open: bool,
    /// While catching up after a (re)connect: the head the server reported.
    catch_up_to: Option<Seq>,
    /// Entries up to here came while the user was away: the server counted
    /// them unread.
    away_to: Option<Seq>,
    last_day: Option<String>,
}

impl Timeline {
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn scroll(&self) -> Scroll {
        self.scroll
    }

    /// Adds an item `height` lines tall; a view scrolled back holds still.
    /// A divider replaces the one before it.
    pub fn push(&mut self, item: Item, height: usize) {
        let news = item.kind.is_news();
        if self.scroll.offset > 0 {
            self.scroll.offset += height;
            if news {
                self.scroll.new_below += 1;
            }
        }
        if let ItemKind::Divider(_) = item.kind {
            if let Some(at) = self
                .items
                .iter()
                .rposition(|i| matches!(i.kind, ItemKind::Divider(_)))
            {
                self.items.remove(at);
            }
            self.divider_lines = Some(0);
            self.divider_open = true;
            self.away_to = None;
        }
        if let Some(lines) = &mut self.divider_lines {
            *lines += height;
        }
        self.items.push(item);
        if self.items.len() > MAX_ITEMS {
            self.items.drain(..self.items.len() - MAX_ITEMS);
            // What went is not asked for again: that would leave a gap.
            self.history = History::Start;
        }
    }

    /// Does news from entry `seq` need a divider above it: it is not read
    /// (after `read`), it came while the user was away (in a catch-up,
    /// counted unread by the server, or while not `looking`), and no
    /// divider already marks news not looked at?
    pub fn divider_due(&self, seq: Seq, read: Seq, looking: bool) -> bool {
        let away = !looking || self.catching_up(seq) || self.away_to.is_some_and(|to| seq <= to);
        seq > read && !self.divider_open && away
    }

    /// The server counts entries up to `head` unread: they came while the
    /// user was away, whenever they arrive.
    pub fn away_until(&mut self, head: Seq) {
        self.away_to = Some(head);
    }

    /// The user looked at the newest messages: the divider stays where it
    /// is, and news arriving later while away gets a new one. A catch-up
    /// still arriving is news from while away, below the same divider.
    pub fn looked(&mut self) {
        if self.caught_up() {
            self.divider_open = false;
        }
    }

    /// Scrolls so that the divider stays at the top of a pane `page` lines
    /// tall while the catch-up below it is longer than the pane; the view
    /// opens where the news starts. Holds until the catch-up is over or
    /// the user scrolls.
    pub fn keep_divider_in_view(&mut self, page: usize) {
        let Some(lines) = self.divider_lines else {
            return;
        };
        self.scroll.offset = self.scroll.offset.max(lines.saturating_sub(page));
        if self.caught_up() {
            self.divider_lines = None;
        }
    }

    /// The oldest log entry shown, if any is.
    pub fn oldest_seq(&self) -> Option<Seq> {
        self.oldest_seq
    }

    /// The newest log entry shown, if any is.
    pub fn newest_seq(&self) -> Option<Seq> {
        self.newest_seq
    }

    pub fn history(&self) -> History {
        self.history
    }

    pub fn below(&self) -> Below {
        self.below
    }

    /// Does the timeline end at the live end of the log?
    pub fn live(&self) -> bool {
        self.below == Below::Live
    }

    pub fn highlight(&self) -> Option<Seq> {
        self.highlight
    }

    /// The `before` of the next page of history, if one should be asked
    /// for now (`newest`: the first seq of the log still to come when
    /// nothing is shown); the timeline then waits for it.
    pub fn ask_older(&mut self, newest: Seq) -> Option<Seq> {
        if self.history != History::More {
            return None;
        }
        self.history = History::Asking;
        Some(self.oldest_seq.unwrap_or(newest))
    }

    /// The page asked for did not come: it may be asked for again.
    pub fn older_failed(&mut self) {
        if self.history == History::Asking {
            self.history = History::More;
        }
    }

    /// Would an entry with this seq go above everything shown?
    pub fn is_older(&self, seq: Seq) -> bool {
        self.oldest_seq.is_none_or(|oldest| seq < oldest)
    }

    /// A page of history arrived: its items go above everything shown;
    /// `None`, the page was empty and the start of what may be read is
    /// reached. A view scrolled back holds still.
    pub fn prepend(&mut self, page: Option<Page>) {
        let Some(page) = page else {
            self.history = History::Start;
            return;
        };
        if self.items.len() + page.items.len() > MAX_ITEMS {
            self.history = History::Start;
            return;
        }
        self.history = History::More;
        self.oldest_seq = Some(page.oldest);
        self.newest_seq = self.newest_seq.max(Some(page.newest));
        if self.last_day.is_none() {
            self.last_day = page.last_day;
        }
        self.items.splice(0..0, page.items);
    }

    /// Jumps to entry `seq`, far older than what is shown: the timeline
    /// starts over around it, detached from the live end until newer
    /// pages reach it again.
    pub fn jump(&mut self, seq: Seq) {
        *self = Timeline {
            below: Below::Asking,
            highlight: Some(seq),
            ..Timeline::default()
        };
    }

    /// Marks entry `seq`, already shown, as the one a search found.
    pub fn mark(&mut self, seq: Seq) {
        self.highlight = Some(seq);
    }

    /// The `before` of the next page of newer entries (`page` of them), if
    /// one should be asked for now; the timeline then waits for it.
    pub fn ask_newer(&mut self, page: u32) -> Option<Seq> {
        if self.below != Below::More {
            return None;
        }
        let newest = self.newest_seq?;
        self.below = Below::Asking;
        Some(newest + 1 + Seq::from(page))
    }

    /// A page of newer entries arrived (`None`: nothing newer); `live`:
    /// it reaches the newest entry there is, so the timeline is live
    /// again. The view holds still; `heights` are the items' line counts.
    pub fn append(&mut self, page: Option<Page>, heights: &[usize], live: bool) {
        self.below = if live { Below::Live } else { Below::More };
        let Some(page) = page else { return };
        let at_top = self.items.is_empty();
        self.oldest_seq = Some(self.oldest_seq.map_or(page.oldest, |o| o.min(page.oldest)));
        self.newest_seq = self.newest_seq.max(Some(page.newest));
        self.last_day = page.last_day.or(self.last_day.take());
        if !at_top {
            self.scroll.offset += heights.iter().sum::<usize>();
        }
        self.items.extend(page.items);
    }

    /// The newer page asked for did not come: it may be asked for again.
    pub fn newer_failed(&mut self) {
        if self.below == Below::Asking {
            self.below = Below::More;
        }
    }

    /// Scrolls so that `lines_below` lines of the timeline are below the
    /// view (a jump puts the message found in sight).
    pub fn scroll_to(&mut self, lines_below: usize) {
        self.scroll.offset = lines_below;
        self.scroll.new_below = 0;
        self.divider_lines = None;
    }

    /// The last item, if it is a presence line that may take one more change.
    pub fn presence_mut(&mut self) -> Option<&mut Presence> {
        match self.items.last_mut() {
            Some(Item {
                kind: ItemKind::Presence(presence),
                ..
            }) => Some(presence),
            _ => None,
        }
    }

    /// Is `day` another day than the last dated item's? Remembers it.
    pub fn day_changed(&mut self, day: &str) -> bool {
        let changed = self.last_day.as_deref().is_some_and(|last| last != day);
        self.last_day = Some(day.to_owned());
        changed
    }

    /// Scrolls by `delta` lines (positive = back in time), within `0..=max`.
    pub fn scroll_by(&mut self, delta: isize, max: usize) {
        if delta != 0 {
            self.divider_lines = None;
        }
        self.scroll.offset = self.scroll.offset.saturating_add_signed(delta).min(max);
        if self.scroll.offset == 0 {
            self.scroll.new_below = 0;
        }
    }

    pub fn to_bottom(&mut self) {
        self.scroll = Scroll::default();
        self.divider_lines = None;
    }

    /// Does the user see the newest entry (given the pane is shown)?
    pub fn at_newest(&self) -> bool {
        self.scroll.offset == 0 && self.live()
    }

    /// A log entry arrived: false if it is already shown (a replay) or the
    /// timeline shows an older stretch of the log (after a jump).
    pub fn take_seq(&mut self, seq: Seq) -> bool {
        if !self.live() || self.newest_seq.is_some_and(|newest| seq <= newest) {
            return false;
        }
        self.newest_seq = Some(seq);
        self.oldest_seq.get_or_insert(seq);
        true
    }

    /// A (re)connect reported the log's `head`, and the server resumes
    /// after `resume`: the entries up to the head are a catch-up. Without
    /// a resume point (the server's own), there is no telling.
    pub fn start_catch_up(&mut self, head: Seq, resume: Option<Seq>) {
        self.catch_up_to = resume.filter(|&seen| head > seen).map(|_| head);
    }

    pub fn catching_up(&self, seq: Seq) -> bool {
        self.catch_up_to.is_some_and(|head| seq <= head)
    }

    pub fn caught_up(&self) -> bool {
        self.catch_up_to.is_none()
    }

    /// Entry `seq` arrived: the catch-up ends when it reaches the head.
    pub fn arrived(&mut self, seq: Seq) {
        if self.catch_up_to.is_some_and(|head| seq >= head) {
            self.catch_up_to = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(own: bool) -> Item {
        Item {
            at_ms: Some(0),
            seq: None,
            kind: ItemKind::Chat {
                from: "x".into(),
                text: "hi".into(),
                own,
                mention: false,
            },
        }
    }

    fn info() -> Item {
        Item::note(ItemKind::Info("note".into()))
    }

    fn divider() -> Item {
        Item::note(ItemKind::Divider("while you were away".into()))
    }

    #[test]
    fn scrolled_back_the_view_holds_still_and_counts_only_messages() {
        let mut timeline = Timeline::default();
        timeline.push(chat(false), 3);
        assert_eq!(timeline.scroll(), Scroll::default(), "following the bottom");
        assert!(timeline.at_newest());
        timeline.scroll_by(10, 6);
        assert_eq!(timeline.scroll().offset, 6);
        timeline.push(chat(false), 2);
        timeline.push(info(), 1);
        timeline.push(chat(true), 1);
        assert_eq!(
            timeline.scroll(),
            Scroll {
                offset: 10,
                new_below: 1
            },
            "a local note and my own message are not new messages"
        );
        assert!(!timeline.at_newest());
        timeline.scroll_by(-100, 10);
        assert_eq!(timeline.scroll(), Scroll::default());
    }

    #[test]
    fn a_catch_up_is_known_only_from_a_resume_point_and_replays_are_dropped() {
        let mut timeline = Timeline::default();
        timeline.start_catch_up(5, Some(3));
        assert!(!timeline.caught_up());
        assert!(timeline.catching_up(4));
        assert!(timeline.take_seq(4));
        timeline.arrived(4);
        assert!(timeline.take_seq(5));
        timeline.arrived(5);
        assert!(timeline.caught_up());
        assert!(!timeline.take_seq(5), "the same entry again");
        assert!(timeline.take_seq(6));
        // Nothing missed, or no resume point told: no catch-up at all.
        timeline.start_catch_up(6, Some(6));
        assert!(timeline.caught_up());
        timeline.start_catch_up(9, None);
        assert!(timeline.caught_up());
    }

    #[test]
    fn one_divider_marks_news_nobody_looked_at() {
        let mut timeline = Timeline::default();
        // Looking at the newest, nothing needs a divider; away, news does.
        assert!(!timeline.divider_due(4, 3, true));
        assert!(!timeline.divider_due(3, 3, false), "read already");
        assert!(timeline.divider_due(4, 3, false));
        timeline.push(chat(false), 1);
        timeline.push(divider(), 1);
        timeline.push(chat(false), 1);
        assert!(!timeline.divider_due(5, 3, false), "one is open");
        // Looked at, then news again while away: the divider moves down.
        timeline.looked();
        assert!(timeline.divider_due(6, 5, false));
        timeline.push(divider(), 1);
        let dividers = timeline
            .items()
            .iter()
            .filter(|i| matches!(i.kind, ItemKind::Divider(_)))
            .count();
        assert_eq!(dividers, 1);
        assert_eq!(timeline.items().last(), Some(&divider()));
        // A catch-up, or entries the server counts unread, are news from
        // while away even when looking.
        let mut timeline = Timeline::default();
        timeline.start_catch_up(9, Some(5));
        assert!(timeline.divider_due(6, 5, true));
        let mut timeline = Timeline::default();
        timeline.away_until(9);
        assert!(timeline.divider_due(6, 5, true));
        assert!(!timeline.divider_due(10, 5, true), "live, while looking");
    }

    #[test]
    fn history_pages_go_on_top_until_the_start() {
        let mut timeline = Timeline::default();
        assert_eq!(timeline.ask_older(11), Some(11), "nothing shown yet");
        assert_eq!(timeline.ask_older(11), None, "one page at a time");
        assert!(timeline.take_seq(11), "a live entry meanwhile");
        timeline.push(chat(false), 1);
        timeline.scroll_by(1, 1);
        let page = Page {
            items: vec![info(), chat(true)],
            oldest: 9,
            newest: 10,
            last_day: Some("Fri 2 Jan 2026".into()),
        };
        timeline.prepend(Some(page));
        assert_eq!(timeline.items().len(), 3);
        assert_eq!(timeline.items()[0], info(), "above what was shown");
        assert_eq!(
            timeline.scroll().offset,
            1,
            "a view scrolled back holds still"
        );
        assert!(timeline.is_older(8) && !timeline.is_older(9));
        assert!(!timeline.take_seq(10), "shown already");
        assert_eq!(timeline.ask_older(99), Some(9));
        timeline.older_failed();
        assert_eq!(timeline.ask_older(99), Some(9), "asked again");
        timeline.prepend(None);
        assert_eq!(timeline.history(), History::Start);
        assert_eq!(timeline.ask_older(99), None);
    }

    #[test]
    fn a_jump_detaches_the_timeline_until_newer_pages_reach_the_live_end() {
        let mut timeline = Timeline::default();
        assert!(timeline.take_seq(500));
        timeline.push(chat(false), 1);
        timeline.jump(42);
        assert!(timeline.items().is_empty());
        assert_eq!(timeline.below(), Below::Asking);
        assert_eq!(timeline.highlight(), Some(42));
        assert!(!timeline.take_seq(501), "live entries wait below");
        let page = |oldest, newest| Page {
            items: vec![chat(false); 3],
            oldest,
            newest,
            last_day: None,
        };
        timeline.append(Some(page(23, 52)), &[1, 1, 1], false);
        assert_eq!(timeline.scroll().offset, 0, "the first page is the view");
        assert_eq!(timeline.below(), Below::More);
        assert!(!timeline.at_newest());
        assert_eq!(timeline.ask_newer(100), Some(153));
        assert_eq!(timeline.ask_newer(100), None, "one page at a time");
        timeline.scroll_by(1, 2);
        timeline.append(Some(page(53, 501)), &[2, 2, 2], true);
        assert_eq!(timeline.scroll().offset, 7, "the view holds still");
        assert!(timeline.live());
        assert!(timeline.take_seq(502));
        assert_eq!(timeline.oldest_seq(), Some(23));
    }

    #[test]
    fn the_divider_stays_in_view_while_the_catch_up_fills_more_than_a_page() {
        let mut timeline = Timeline::default();
        timeline.start_catch_up(20, Some(10));
        timeline.push(chat(false), 1);
        timeline.push(divider(), 1);
        for seq in 11..20 {
            timeline.arrived(seq);
            timeline.push(chat(false), 2);
            timeline.keep_divider_in_view(5);
        }
        // 1 + 9 × 2 lines from the divider down, 5 on the page.
        assert_eq!(timeline.scroll().offset, 14);
        timeline.arrived(20);
        timeline.push(chat(false), 2);
        timeline.keep_divider_in_view(5);
        assert_eq!(timeline.scroll().offset, 16, "the last of the catch-up");
        assert!(timeline.caught_up());
        // Caught up, the view no longer follows the divider but holds still.
        timeline.push(chat(false), 3);
        timeline.keep_divider_in_view(5);
        assert_eq!(timeline.scroll().offset, 19);
        timeline.scroll_by(-100, 19);
        timeline.push(chat(false), 3);
        timeline.keep_divider_in_view(5);
        assert_eq!(
            timeline.scroll().offset,
            0,
            "back at the bottom, it follows"
        );
    }

    #[test]
    fn presence_changes_gather_in_one_line() {
        let mut presence = Presence::default();
        presence.add("bob", false);
        presence.add("carol", false);
        presence.add("dan", true);
        assert_eq!(presence.text(), "dan came online · bob, carol went offline");
        presence.add("bob", true);
        assert_eq!(presence.text(), "dan, bob came online · carol went offline");
    }

    #[test]
    fn a_day_line_comes_when_the_date_changes() {
        let mut timeline = Timeline::default();
        assert!(!timeline.day_changed("Fri 2 Jan 2026"));
        assert!(!timeline.day_changed("Fri 2 Jan 2026"));
        assert!(timeline.day_changed("Sat 3 Jan 2026"));
    }
}
