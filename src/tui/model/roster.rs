//! Who is in the group: the admin, the members and who of them is online,
//! the join requests waiting for the admin, and the selection in each list.
//!
//! The roster starts from the server's snapshot, which is the group as of
//! its `head`; log entries at or below that head are already in it, so
//! [`Roster::apply`] skips them (a replayed `member_kicked` must not remove
//! someone the snapshot shows back in). Presence comes from the online and
//! offline events, requests from the `join_requested` event; an approval
//! takes a request away through its `member_joined` entry, a rejection
//! through the reply (it has no entry), each from one source.

use crate::protocol::{Body, GroupSnapshot, JoinRequest, LogEntry, MemberInfo, Role, Seq};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    me: String,
    admin: String,
    members: Vec<MemberInfo>,
    requests: Vec<JoinRequest>,
    /// The snapshot's head: entries up to here are already counted.
    as_of: Seq,
    selected_member: usize,
    selected_request: usize,
    /// We were removed from the group: the roster is as it was then.
    removed: bool,
}

impl Roster {
    pub fn new(me: &str, snapshot: GroupSnapshot) -> Roster {
        let mut roster = Roster {
            me: me.to_owned(),
            admin: String::new(),
            members: Vec::new(),
            requests: Vec::new(),
            as_of: 0,
            selected_member: 0,
            selected_request: 0,
            removed: false,
        };
        roster.reset(snapshot);
        roster
    }

    /// A fresh snapshot (a reconnect): the group as the server has it now.
    pub fn reset(&mut self, snapshot: GroupSnapshot) {
        self.admin = snapshot.admin;
        self.members = snapshot.members;
        self.requests = snapshot.requests;
        self.as_of = snapshot.head;
        self.removed = false;
        self.clamp();
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn admin(&self) -> &str {
        &self.admin
    }

    pub fn is_admin(&self) -> bool {
        !self.me.is_empty() && self.admin == self.me
    }

    pub fn role(&self) -> Role {
        if self.is_admin() {
            Role::Admin
        } else {
            Role::Member
        }
    }

    /// Members in display order: the admin, then those online, then by
    /// name without regard to case.
    pub fn members(&self) -> Vec<&MemberInfo> {
        let mut members: Vec<&MemberInfo> = self.members.iter().collect();
        members.sort_by(|a, b| {
            (b.name == self.admin)
                .cmp(&(a.name == self.admin))
                .then(b.online.cmp(&a.online))
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
                .then_with(|| a.name.cmp(&b.name))
        });
        members
    }

    pub fn online_count(&self) -> usize {
        self.members.iter().filter(|m| m.online).count()
    }

    /// The other members' names, to complete.
    pub fn member_names(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.name != self.me)
            .map(|m| m.name.clone())
            .collect()
    }

    pub fn requests(&self) -> &[JoinRequest] {
        &self.requests
    }

    pub fn requester_names(&self) -> Vec<String> {
        self.requests.iter().map(|r| r.name.clone()).collect()
    }

    pub fn selected_member(&self) -> usize {
        self.selected_member
    }

    pub fn selected_request(&self) -> usize {
        self.selected_request
    }

    pub fn selected_member_name(&self) -> Option<String> {
        self.members()
            .get(self.selected_member)
            .map(|m| m.name.clone())
    }

    pub fn selected_request_name(&self) -> Option<String> {
        self.requests
            .get(self.selected_request)
            .map(|r| r.name.clone())
    }

    pub fn select_member(&mut self, delta: isize) {
        self.selected_member = self.selected_member.saturating_add_signed(delta);
        self.clamp();
    }

    pub fn select_request(&mut self, delta: isize) {
        self.selected_request = self.selected_request.saturating_add_signed(delta);
        self.clamp();
    }

    /// Selects row `row` of the members (a click); false if there is none.
    pub fn click_member(&mut self, row: usize) -> bool {
        let exists = row < self.members.len();
        if exists {
            self.selected_member = row;
        }
        exists
    }

    pub fn click_request(&mut self, row: usize) -> bool {
        let exists = row < self.requests.len();
        if exists {
            self.selected_request = row;
        }
        exists
    }

    fn clamp(&mut self) {
        self.selected_member = self
            .selected_member
            .min(self.members.len().saturating_sub(1));
        self.selected_request = self
            .selected_request
            .min(self.requests.len().saturating_sub(1));
    }

    /// A log entry past the snapshot changes the group. Returns false for
    /// one the snapshot already counts.
    pub fn apply(&mut self, entry: &LogEntry) -> bool {
        if entry.seq <= self.as_of {
            return false;
        }
        self.as_of = entry.seq;
        match &entry.body {
            Body::MemberJoined { name } => {
                self.requests.retain(|r| &r.name != name);
                if !self.members.iter().any(|m| &m.name == name) {
                    self.members.push(MemberInfo {
                        name: name.clone(),
                        role: Role::Member,
                        online: false,
                    });
                }
            }
            Body::MemberKicked { name } | Body::MemberLeft { name } => {
                self.members.retain(|m| &m.name != name);
            }
            Body::AdminChanged { to } => {
                let was_admin = self.is_admin();
                self.admin = to.clone();
                for m in &mut self.members {
                    m.role = if &m.name == to {
                        Role::Admin
                    } else {
                        Role::Member
                    };
                }
                if was_admin && !self.is_admin() {
                    // Requests go to the admin only.
                    self.requests.clear();
                }
            }
            Body::Text { .. } | Body::File { .. } | Body::GroupCreated => {}
        }
        self.clamp();
        true
    }

    /// Someone came online or left. Returns whether anything changed.
    pub fn set_online(&mut self, name: &str, online: bool) -> bool {
        match self.members.iter_mut().find(|m| m.name == name) {
            Some(member) if member.online != online => {
                member.online = online;
                true
            }
            Some(_) => false,
            None if online => {
                self.members.push(MemberInfo {
                    name: name.to_owned(),
                    role: Role::Member,
                    online,
                });
                true
            }
            None => false,
        }
    }

    /// A join request arrived; false if it was already here (a reconnect
    /// tells the admin again).
    pub fn request_arrived(&mut self, request: JoinRequest) -> bool {
        if self.requests.iter().any(|r| r.name == request.name) {
            return false;
        }
        self.requests.push(request);
        true
    }

    /// The admin turned `name` down.
    pub fn rejected(&mut self, name: &str) {
        self.requests.retain(|r| r.name != name);
        self.clamp();
    }

    /// The server's list of requests, fresh.
    pub fn set_requests(&mut self, requests: Vec<JoinRequest>) {
        self.requests = requests;
        self.clamp();
    }

    /// We were removed from the group. Who was in it stays in view (the
    /// admin to ask to come back, the others); who is online is no longer
    /// heard, so the view makes no claim about it (marking everyone
    /// offline would be false), and requests are no longer ours to see.
    pub fn left(&mut self) {
        self.removed = true;
        self.requests.clear();
        self.clamp();
    }

    pub fn removed(&self) -> bool {
        self.removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::{request, snapshot};

    fn entry(seq: Seq, body: Body) -> LogEntry {
        LogEntry {
            seq,
            at_ms: 0,
            from: "alice".into(),
            body,
        }
    }

    fn names(roster: &Roster) -> Vec<(&str, bool)> {
        roster
            .members()
            .iter()
            .map(|m| (m.name.as_str(), m.online))
            .collect()
    }

    #[test]
    fn entries_the_snapshot_already_counts_change_nothing() {
        // rust was kicked (seq 5) and let back in (seq 6); the snapshot at
        // head 6 shows him online. A replay of 5 and 6 must not undo that.
        let snap = snapshot("alice", &[("alice", true), ("rust", true)], &[], 6);
        let mut roster = Roster::new("rust", snap);
        let kicked = Body::MemberKicked {
            name: "rust".into(),
        };
        let joined = Body::MemberJoined {
            name: "rust".into(),
        };
        assert!(!roster.apply(&entry(5, kicked.clone())));
        assert!(!roster.apply(&entry(6, joined)));
        assert_eq!(names(&roster), [("alice", true), ("rust", true)]);
        assert_eq!(roster.online_count(), 2);
        // Past the snapshot, entries count.
        assert!(roster.apply(&entry(7, kicked)));
        assert_eq!(names(&roster), [("alice", true)]);
    }

    #[test]
    fn admin_first_then_online_then_names_in_any_case() {
        let snap = snapshot(
            "zed",
            &[
                ("bob", false),
                ("Carol", true),
                ("ann", true),
                ("zed", false),
                ("Dan", false),
            ],
            &[],
            1,
        );
        let roster = Roster::new("bob", snap);
        assert_eq!(
            names(&roster),
            [
                ("zed", false),
                ("ann", true),
                ("Carol", true),
                ("bob", false),
                ("Dan", false)
            ]
        );
    }

    #[test]
    fn requests_come_by_event_and_leave_by_entry_or_rejection() {
        let snap = snapshot("alice", &[("alice", true)], &["carol"], 3);
        let mut roster = Roster::new("alice", snap);
        assert!(roster.request_arrived(request("dan", 1)));
        assert!(!roster.request_arrived(request("dan", 1)), "told again");
        roster.select_request(5);
        assert_eq!(roster.selected_request_name().as_deref(), Some("dan"));
        roster.apply(&entry(4, Body::MemberJoined { name: "dan".into() }));
        assert_eq!(roster.requester_names(), ["carol"]);
        assert_eq!(roster.selected_request_name().as_deref(), Some("carol"));
        assert!(
            roster
                .members()
                .iter()
                .any(|m| m.name == "dan" && !m.online)
        );
        assert!(roster.set_online("dan", true));
        assert!(!roster.set_online("dan", true), "no change");
        roster.rejected("carol");
        assert!(roster.requests().is_empty());
        // Handing the role over hides the requests.
        roster.request_arrived(request("erin", 2));
        roster.apply(&entry(5, Body::AdminChanged { to: "dan".into() }));
        assert!(!roster.is_admin());
        assert!(roster.requests().is_empty());
        assert_eq!(roster.members()[0].name, "dan");
        assert_eq!(roster.members()[0].role, Role::Admin);
    }

    #[test]
    fn removed_the_roster_stays_as_it_was_and_a_way_back_makes_it_live() {
        let snap = snapshot("alice", &[("alice", true), ("bob", true)], &["carol"], 3);
        let mut roster = Roster::new("bob", snap.clone());
        roster.left();
        assert!(roster.removed());
        assert_eq!(
            names(&roster),
            [("alice", true), ("bob", true)],
            "nobody is said to have gone offline"
        );
        assert!(roster.requests().is_empty());
        roster.reset(snap);
        assert!(!roster.removed(), "let back in");
    }
}
