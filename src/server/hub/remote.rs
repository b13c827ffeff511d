//! The hub as one node of a cluster: it tells the other nodes what it
//! committed, and delivers what they committed through the same
//! gap-checked path as its own commits.
//!
//! Every conversation's delivered head only moves forward, one entry after
//! the other: an entry above the head + 1 waits until the entries between
//! are read from the store (the [`Backlog`]), and an entry at or below the
//! head was delivered already. A change that reshapes a group (membership,
//! requests, admin, closing) makes the node reload the group from the store
//! and then settle it with the very events a single node sends
//! ([`Group::settle`](super::group::Group::settle)); a reshaping the node was never told of (its bus
//! message was lost) shows up as a membership entry in a gap, and the
//! reload then moves sessions to match
//! ([`Group::reconcile`](super::group::Group::reconcile)).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
};

use super::{Arrival, HubTask, Planned, State, settle_ignore};
use crate::{
    cluster::{
        bus::{Committed, GroupNote, Inbound, UserNote},
        gapfill,
    },
    protocol::{Body, LogEntry, Seq, direct_id},
    server::{blocking, lock, rules::GroupState},
    store::{Change, GroupRecord},
};

/// Log entries read from the store to fill gaps, per conversation and in
/// order; each is delivered before anything later in its conversation.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    entries: HashMap<String, VecDeque<LogEntry>>,
    /// Conversations whose gap could not be read: nothing after the gap is
    /// delivered until a later fill succeeds.
    blocked: HashSet<String>,
    /// Membership entries found in gaps: their groups are reloaded after
    /// delivery, since this node may never have heard of those changes.
    unsettled: HashMap<String, Vec<LogEntry>>,
}

impl Backlog {
    /// Delivers the backlog of `conv` below `seq`; then says whether `seq`
    /// itself is new here, and if so makes it the head.
    pub(super) fn deliver_before(&mut self, state: &mut State, conv: &str, seq: Seq) -> bool {
        if self.blocked.contains(conv) {
            return false;
        }
        self.drain(state, conv, seq);
        match state.groups.get_mut(conv) {
            Some(group) if seq > group.rules.head => {
                group.rules.head = seq;
                true
            }
            _ => false,
        }
    }

    fn drain(&mut self, state: &mut State, conv: &str, below: Seq) {
        let Some(queue) = self.entries.get_mut(conv) else {
            return;
        };
        let State {
            groups, ignores, ..
        } = state;
        let Some(group) = groups.get_mut(conv) else {
            queue.clear();
            return;
        };
        while queue.front().is_some_and(|e| e.seq < below) {
            let Some(entry) = queue.pop_front() else {
                break;
            };
            if entry.seq <= group.rules.head {
                continue;
            }
            group.rules.head = entry.seq;
            if !matches!(entry.body, Body::Text { .. } | Body::File { .. }) {
                self.unsettled
                    .entry(conv.to_owned())
                    .or_default()
                    .push(entry.clone());
            }
            group.fan_out(entry, ignores);
        }
    }

    /// Delivers whatever is left; returns the groups to reload.
    pub(super) fn finish(mut self, state: &mut State) -> HashMap<String, Vec<LogEntry>> {
        let convs: Vec<String> = self.entries.keys().cloned().collect();
        for conv in convs {
            if !self.blocked.contains(&conv) {
                self.drain(state, &conv, Seq::MAX);
            }
        }
        self.unsettled
    }
}

/// Whether a change alters who is in a group or who decides: the node
/// reloads the group before settling it.
fn reshapes(change: &Change) -> bool {
    !matches!(
        change,
        Change::Post { .. }
            | Change::PostFile { .. }
            | Change::SaveCursor { .. }
            | Change::SetRead { .. }
    )
}

/// The people a change brings into a conversation: their nodes may not
/// hear it yet, so the change is also sent to them (an invitation).
fn invited(change: &Change) -> Vec<&str> {
    match change {
        Change::CreateGroup { admin, .. } => vec![admin],
        Change::CreateDirect { opener, peer, .. } => vec![opener, peer],
        Change::AddRequest { name, .. } | Change::Approve { name, .. } => vec![name],
        _ => Vec::new(),
    }
}

/// Whether a change brings someone connected here into a group this node
/// does not hold yet.
fn opens_for(state: &State, change: &Change) -> bool {
    invited(change)
        .into_iter()
        .any(|name| state.users.0.contains_key(name))
}

impl HubTask {
    /// Tells the other nodes what the batch committed: per conversation one
    /// note, encoded once; ignores on the user's subject.
    pub(super) fn publish(&self, planned: &[Planned], entries: &[Option<LogEntry>]) {
        if self.bus.is_local() {
            return;
        }
        let mut notes: Vec<(String, Vec<Committed>)> = Vec::new();
        for (p, entry) in planned.iter().zip(entries) {
            let change = match &p.change {
                Change::Ignore { name, .. } | Change::Unignore { name, .. } => {
                    self.bus.publish_user(name, p.change.clone());
                    continue;
                }
                Change::SaveCursor { .. } => continue,
                Change::Post { .. } | Change::PostFile { .. } => None,
                other => Some(other.clone()),
            };
            let Some(conv) = p.change.group() else {
                continue;
            };
            let committed = Committed {
                change,
                entry: entry.clone(),
            };
            match notes.iter_mut().find(|(c, _)| c == conv) {
                Some((_, list)) => list.push(committed),
                None => notes.push((conv.to_owned(), vec![committed])),
            }
        }
        for (conv, committed) in notes {
            let mut invite: Vec<String> = committed
                .iter()
                .filter_map(|c| c.change.as_ref())
                .flat_map(invited)
                .map(str::to_owned)
                .collect();
            invite.sort();
            invite.dedup();
            self.bus.publish_group(conv, committed, &invite);
        }
    }

    /// The gaps before the entries this batch committed, read from the
    /// store. Empty on a single node, where nobody else commits.
    pub(super) async fn backlog(
        &self,
        planned: &[Planned],
        entries: &[Option<LogEntry>],
    ) -> Backlog {
        let mut arrived: Vec<(String, Vec<Seq>, Seq)> = Vec::new();
        for (p, entry) in planned.iter().zip(entries) {
            let (Some(conv), Some(entry)) = (p.change.group(), entry) else {
                continue;
            };
            match arrived.iter_mut().find(|(c, _, _)| c == conv) {
                Some((_, seqs, _)) => seqs.push(entry.seq),
                None => arrived.push((conv.to_owned(), vec![entry.seq], 0)),
            }
        }
        self.fill(arrived).await
    }

    /// Reads from the store every gap between what this node delivered and
    /// what arrived (`(conversation, arrived sequence numbers, known tip)`).
    async fn fill(&self, arrived: Vec<(String, Vec<Seq>, Seq)>) -> Backlog {
        let gaps: Vec<(String, gapfill::Gap)> = {
            let state = lock(&self.state);
            arrived
                .into_iter()
                .filter_map(|(conv, seqs, tip)| {
                    let head = state.groups.get(&conv)?.rules.head;
                    Some((conv, gapfill::gaps(head, &seqs, tip)))
                })
                .flat_map(|(conv, gaps)| gaps.into_iter().map(move |gap| (conv.clone(), gap)))
                .collect()
        };
        let mut backlog = Backlog::default();
        for (conv, gap) in gaps {
            let store = self.store.clone();
            let name = conv.clone();
            let count = (gap.upto - gap.after) as usize;
            match blocking(move || store.read_log(&name, gap.after, count)).await {
                Ok(entries) => {
                    self.metrics.gaps_filled.inc_by(entries.len() as u64);
                    tracing::debug!(%conv, after = gap.after, upto = gap.upto, "filled a gap from the store");
                    backlog.entries.entry(conv).or_default().extend(entries);
                }
                Err(error) => {
                    tracing::warn!(%conv, error = %error.message, "cannot fill a gap; delivery waits");
                    backlog.blocked.insert(conv);
                }
            }
        }
        backlog
    }

    /// `Ok(None)`: the conversation is gone.
    async fn load(&self, conv: &str) -> Result<Option<GroupRecord>, ()> {
        let (store, name) = (self.store.clone(), conv.to_owned());
        blocking(move || store.load_group(&name))
            .await
            .map_err(|error| {
                tracing::warn!(%conv, error = %error.message, "cannot read a conversation");
            })
    }

    /// Reads `conv` from the store into the cache: the copy held here is
    /// refreshed (keeping its head: newer entries come through the gap
    /// rule), else the conversation is cached, if it exists. Hear it first
    /// ([`Bus::listen`]) so nothing committed after the read is missed.
    /// False when the store could not be read.
    pub(super) async fn reload(&self, conv: &str) -> bool {
        let Ok(record) = self.load(conv).await else {
            return false;
        };
        if let Some(record) = record {
            let mut state = lock(&self.state);
            match state.groups.get_mut(conv) {
                Some(group) => group.refresh(record),
                None => {
                    state.cache(conv, GroupState::from_record(record));
                }
            }
        }
        true
    }

    /// Handles what another node committed or reported.
    pub(super) async fn hear(&self, inbound: Inbound) {
        match inbound {
            Inbound::Group(note) => self.hear_group(note).await,
            // Where the conversation is heard, its own note does the work.
            Inbound::Invite(note) => {
                if !lock(&self.state).groups.contains_key(&note.conv) {
                    self.hear_group(note).await;
                }
            }
            Inbound::User(note) => self.hear_user(note).await,
            Inbound::Online(names) => {
                let mut state = lock(&self.state);
                let elsewhere = Arc::new(names);
                state.elsewhere = elsewhere.clone();
                for group in state.groups.values_mut() {
                    group.presence_changed(elsewhere.clone());
                }
            }
            Inbound::Tip { conv, head } => self.catch_up(vec![(conv, head)]).await,
            Inbound::Resync => {
                let cached: Vec<String> = lock(&self.state).groups.keys().cloned().collect();
                for conv in cached {
                    self.resync(&conv, Vec::new()).await;
                }
            }
            Inbound::Beat { check_heads } => {
                self.lose_interest();
                if check_heads {
                    self.check_heads().await;
                }
            }
        }
    }

    /// Reads what the store committed beyond this node's head in each
    /// conversation of `tips` (`(conversation, committed head)`), and
    /// delivers it.
    async fn catch_up(&self, tips: Vec<(String, Seq)>) {
        let behind: Vec<(String, Vec<Seq>, Seq)> = {
            let state = lock(&self.state);
            tips.into_iter()
                .filter(|(conv, tip)| state.groups.get(conv).is_some_and(|g| g.rules.head < *tip))
                .map(|(conv, tip)| (conv, Vec::new(), tip))
                .collect()
        };
        if behind.is_empty() {
            return;
        }
        let backlog = self.fill(behind).await;
        let unsettled = backlog.finish(&mut lock(&self.state));
        self.resettle(unsettled).await;
    }

    /// Compares every conversation held here with the store's head, in one
    /// read: finds a lost last message that no later entry, heartbeat or
    /// reconnect revealed (its sender died, or its bus was away longer
    /// than a heartbeat repeats heads).
    async fn check_heads(&self) {
        let held: Vec<String> = lock(&self.state).groups.keys().cloned().collect();
        if held.is_empty() {
            return;
        }
        let store = self.store.clone();
        match blocking(move || store.heads(&held)).await {
            Ok(heads) => self.catch_up(heads).await,
            Err(error) => {
                tracing::warn!(error = %error.message, "cannot check the heads against the store")
            }
        }
    }

    /// Stops hearing, and forgets, the conversations nobody connected here
    /// is in (as a member or waiting): the store has them for whoever
    /// comes, who hears the conversation again before it is read.
    fn lose_interest(&self) {
        let mut state = lock(&self.state);
        for conv in self.bus.listening() {
            if state.groups.get(&conv).is_none_or(|g| g.is_idle()) {
                state.groups.remove(&conv);
                self.bus.unlisten(&conv);
            }
        }
    }

    async fn hear_group(&self, note: GroupNote) {
        let GroupNote {
            conv, committed, ..
        } = note;
        let (cached, opens) = {
            let state = lock(&self.state);
            let opens = committed
                .iter()
                .filter_map(|c| c.change.as_ref())
                .any(|change| opens_for(&state, change));
            (state.groups.contains_key(&conv), opens)
        };
        if !cached && !opens {
            // Nobody here is in it; whoever comes loads it from the store.
            return;
        }
        let reshaped = committed
            .iter()
            .filter_map(|c| c.change.as_ref())
            .any(reshapes);
        if !cached {
            self.bus.listen(std::slice::from_ref(&conv)).await;
        }
        // A conversation closed since is not in the store: the note's
        // `CloseGroup` (or the resync below) takes everyone out.
        if (!cached || reshaped) && !self.reload(&conv).await {
            return;
        }
        let seqs: Vec<Seq> = committed
            .iter()
            .filter_map(|c| c.entry.as_ref().map(|e| e.seq))
            .collect();
        let mut backlog = self.fill(vec![(conv.clone(), seqs, 0)]).await;
        let unsettled = {
            let mut state = lock(&self.state);
            for Committed { change, entry } in committed {
                if let Some(entry) = entry
                    && backlog.deliver_before(&mut state, &conv, entry.seq)
                {
                    let State {
                        groups, ignores, ..
                    } = &mut *state;
                    if let Some(group) = groups.get_mut(&conv) {
                        group.fan_out(entry, ignores);
                    }
                }
                if let Some(change) = change {
                    self.settle_remote(&mut state, &conv, &change);
                }
            }
            backlog.finish(&mut state)
        };
        self.resettle(unsettled).await;
    }

    /// Tells the sessions here what another node's change means for them,
    /// as [`super::deliver`] does for this node's own.
    fn settle_remote(&self, state: &mut State, conv: &str, change: &Change) {
        match change {
            Change::CreateGroup { admin: opener, .. } | Change::CreateDirect { opener, .. } => {
                state.open_everywhere(conv, opener, None);
            }
            Change::AddRequest { name, .. } => {
                if let Some(group) = state.groups.get(conv) {
                    group.announce_request(name);
                }
                state.enter_everywhere(conv, name, None, &Arrival::Added);
            }
            Change::SetRead { .. } | Change::SaveCursor { .. } => {
                let State { groups, users, .. } = state;
                if let Some(group) = groups.get_mut(conv) {
                    group.rules.apply(change, 0, &self.limits);
                    group.settle(users, change, "", 0);
                }
            }
            _ => {
                let State { groups, users, .. } = state;
                let Some(group) = groups.get_mut(conv) else {
                    return;
                };
                let by = match change {
                    Change::Approve { by, .. } | Change::Kick { by, .. } => by.clone(),
                    _ => group.rules.admin.clone(),
                };
                group.settle(users, change, &by, 0);
                if matches!(change, Change::CloseGroup { .. }) {
                    groups.remove(conv);
                }
            }
        }
    }

    async fn hear_user(&self, note: UserNote) {
        // The direct conversation comes back to the user's connections
        // here, so this node must hold it (it forgets what nobody here is in).
        if let Change::Unignore { name, ignored } = &note.change {
            let conv = direct_id(name, ignored);
            let missing = {
                let state = lock(&self.state);
                state.users.0.contains_key(name) && !state.groups.contains_key(&conv)
            };
            if missing {
                self.bus.listen(std::slice::from_ref(&conv)).await;
                self.reload(&conv).await;
            }
        }
        let mut state = lock(&self.state);
        match &note.change {
            Change::Ignore { name, ignored } => {
                state
                    .ignores
                    .entry(name.clone())
                    .or_default()
                    .insert(ignored.clone());
            }
            Change::Unignore { name, ignored } => {
                if let Some(set) = state.ignores.get_mut(name) {
                    set.remove(ignored);
                }
            }
            _ => return,
        }
        settle_ignore(&mut state, &note.change);
    }

    /// Reloads the groups whose gaps held membership entries.
    pub(super) async fn resettle(&self, unsettled: HashMap<String, Vec<LogEntry>>) {
        for (conv, seen) in unsettled {
            self.resync(&conv, seen).await;
        }
    }

    /// Brings one cached conversation in line with the store: its state,
    /// every entry up to the store's head, and its sessions.
    async fn resync(&self, conv: &str, mut seen: Vec<LogEntry>) {
        let Ok(record) = self.load(conv).await else {
            return;
        };
        let Some(record) = record else {
            let mut state = lock(&self.state);
            let State { groups, users, .. } = &mut *state;
            if let Some(mut group) = groups.remove(conv) {
                let close = Change::CloseGroup {
                    group: conv.to_owned(),
                };
                group.settle(users, &close, "", 0);
            }
            return;
        };
        let tip = record.head;
        match lock(&self.state).groups.get_mut(conv) {
            Some(group) => group.refresh(record),
            None => return,
        }
        let mut backlog = self.fill(vec![(conv.to_owned(), Vec::new(), tip)]).await;
        let mut state = lock(&self.state);
        backlog.drain(&mut state, conv, Seq::MAX);
        seen.extend(backlog.unsettled.remove(conv).unwrap_or_default());
        let State { groups, users, .. } = &mut *state;
        if let Some(group) = groups.get_mut(conv) {
            group.reconcile(users, &seen);
        }
    }
}
