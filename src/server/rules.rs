//! A group's rules as pure functions: given the group's state and what a
//! user asks, what happens. Nothing here does I/O or touches a session, so
//! every rule is tested row by row below; the hub commits and fans out what
//! these functions decide.
//!
//! One rule bounds reading: a member reads the log after the [`Grant`] of
//! their current membership, on every path (resume, catch-up, file fetch).

use std::collections::{BTreeMap, HashMap};

use super::{Limits, clock::millis};
use crate::{
    protocol::{
        ConvKind, ErrorBody, ErrorCode, FileInfo, JoinRequest, JoinStatus, Role, Seq, quote,
    },
    store::{Change, GroupRecord},
};

/// Where a member's reading of the log begins: after `floor`, the point
/// their current membership was granted (0 for the group's creator; the
/// newcomer's history for an approved member). A member who was kicked and
/// let back in gets a new grant, not the old one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Grant {
    floor: Seq,
}

impl Grant {
    pub fn after(floor: Seq) -> Self {
        Self { floor }
    }

    pub fn floor(self) -> Seq {
        self.floor
    }

    pub fn may_read(self, seq: Seq) -> bool {
        seq > self.floor
    }

    /// Where serving the log resumes when the client says it has seen up
    /// to `seen`: never before the grant, never past the head.
    pub fn resume_after(self, seen: Seq, head: Seq) -> Seq {
        seen.max(self.floor).min(head)
    }
}

/// One member's standing in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership {
    /// The last log entry delivered to them, as stored.
    pub cursor: Seq,
    pub grant: Grant,
    /// The last log entry they have read, on any connection.
    pub read: Seq,
}

impl Membership {
    /// A membership that may read the log after `floor`, delivered and
    /// read up to there.
    fn from(floor: Seq) -> Self {
        Self {
            cursor: floor,
            grant: Grant::after(floor),
            read: floor,
        }
    }
}

/// A group's state as the rules see it: what the store holds, plus recent
/// rejections (kept in memory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupState {
    pub kind: ConvKind,
    /// Empty in a direct conversation.
    pub admin: String,
    pub members: BTreeMap<String, Membership>,
    /// Oldest first.
    pub requests: Vec<JoinRequest>,
    /// The newest committed sequence number.
    pub head: Seq,
    /// When each recently rejected user was turned down (Unix ms).
    rejected: HashMap<String, i64>,
}

impl GroupState {
    pub fn from_record(record: GroupRecord) -> Self {
        Self {
            kind: record.kind,
            admin: record.admin,
            members: record
                .members
                .into_iter()
                .map(|m| {
                    let standing = Membership {
                        cursor: m.cursor,
                        grant: Grant::after(m.floor),
                        read: m.read,
                    };
                    (m.name, standing)
                })
                .collect(),
            requests: record.requests,
            head: record.head,
            rejected: HashMap::new(),
        }
    }

    /// A group just created by `admin`, who may read all of it.
    pub fn created_by(admin: &str) -> Self {
        Self {
            kind: ConvKind::Group,
            admin: admin.to_owned(),
            members: BTreeMap::from([(admin.to_owned(), Membership::from(0))]),
            requests: Vec::new(),
            head: 0,
            rejected: HashMap::new(),
        }
    }

    /// A direct conversation just opened: two people, no admin, both read
    /// all of it.
    pub fn direct(a: &str, b: &str) -> Self {
        Self {
            kind: ConvKind::Direct,
            admin: String::new(),
            members: BTreeMap::from([
                (a.to_owned(), Membership::from(0)),
                (b.to_owned(), Membership::from(0)),
            ]),
            requests: Vec::new(),
            head: 0,
            rejected: HashMap::new(),
        }
    }

    pub fn is_direct(&self) -> bool {
        self.kind == ConvKind::Direct
    }

    /// How `name` stands here, as a welcome tells it.
    pub fn status_of(&self, name: &str) -> JoinStatus {
        if self.is_direct() {
            JoinStatus::Direct
        } else if self.admin == name {
            JoinStatus::Admin
        } else if self.members.contains_key(name) {
            JoinStatus::Member
        } else {
            JoinStatus::Pending
        }
    }

    pub fn role_of(&self, name: &str) -> Role {
        if self.admin == name {
            Role::Admin
        } else {
            Role::Member
        }
    }

    /// Takes the durable part of a reloaded copy, keeping the rejections.
    pub fn reload(&mut self, fresh: GroupState) {
        let rejected = std::mem::take(&mut self.rejected);
        *self = GroupState { rejected, ..fresh };
    }

    /// Applies a change the store is about to commit, so that later
    /// requests in the same batch see it.
    pub fn apply(&mut self, change: &Change, now_ms: i64, limits: &Limits) {
        match change {
            Change::CreateGroup { admin, .. } => *self = GroupState::created_by(admin),
            Change::CreateDirect { opener, peer, .. } => *self = GroupState::direct(opener, peer),
            Change::AddRequest { name, .. } => {
                let cooldown = millis(limits.rejoin_cooldown);
                self.rejected
                    .retain(|_, at| now_ms.saturating_sub(*at) < cooldown);
                self.requests.push(JoinRequest {
                    name: name.clone(),
                    at_ms: now_ms,
                });
            }
            Change::RejectRequest { name, .. } => {
                self.requests.retain(|r| &r.name != name);
                self.rejected.insert(name.clone(), now_ms);
            }
            Change::Approve { name, floor, .. } => {
                self.requests.retain(|r| &r.name != name);
                self.members.insert(name.clone(), Membership::from(*floor));
            }
            Change::Kick { name, .. } | Change::Leave { name, .. } => {
                self.members.remove(name);
            }
            Change::WithdrawRequest { name, .. } => self.requests.retain(|r| &r.name != name),
            Change::CloseGroup { .. } => {
                self.members.clear();
                self.requests.clear();
            }
            Change::SetRead { name, seq, .. } => {
                if let Some(member) = self.members.get_mut(name) {
                    member.read = member.read.max(*seq);
                }
            }
            Change::ChangeAdmin { to, .. } => self.admin.clone_from(to),
            Change::SaveCursor { name, seq, .. } => {
                if let Some(member) = self.members.get_mut(name) {
                    member.cursor = member.cursor.max(*seq);
                }
            }
            Change::Post { .. }
            | Change::PostFile { .. }
            | Change::Ignore { .. }
            | Change::Unignore { .. } => {}
        }
    }
}

/// What a join leads to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JoinDecision {
    /// The group does not exist: commit this to create it, joiner as admin.
    Create(Change),
    /// A member comes back: serve the log after `after`, then live.
    Enter {
        status: JoinStatus,
        grant: Grant,
        after: Seq,
    },
    /// The user has asked already and waits for the admin.
    Wait,
    /// Commit this join request and wait for the admin.
    Request(Change),
}

/// What happens when `name` joins `group_name` (`None`: no such group),
/// having seen the log up to `seen` if the client says so.
pub(crate) fn join(
    group: Option<&GroupState>,
    group_name: &str,
    name: &str,
    seen: Option<Seq>,
    limits: &Limits,
    now_ms: i64,
) -> Result<JoinDecision, ErrorBody> {
    let Some(group) = group else {
        return Ok(JoinDecision::Create(Change::CreateGroup {
            group: group_name.to_owned(),
            admin: name.to_owned(),
        }));
    };
    if let Some(member) = group.members.get(name) {
        let after = member
            .grant
            .resume_after(seen.unwrap_or(member.cursor), group.head);
        return Ok(JoinDecision::Enter {
            status: group.status_of(name),
            grant: member.grant,
            after,
        });
    }
    if group.is_direct() {
        return Err(not_member());
    }
    if group.requests.iter().any(|r| r.name == name) {
        return Ok(JoinDecision::Wait);
    }
    let cooldown = millis(limits.rejoin_cooldown);
    if let Some(at) = group.rejected.get(name) {
        let left = cooldown.saturating_sub(now_ms.saturating_sub(*at));
        if left > 0 {
            return Err(ErrorBody::new(
                ErrorCode::RateLimited,
                format!(
                    "the admin turned down your request; you can ask again in {} s",
                    left / 1000 + 1
                ),
            ));
        }
    }
    if group.requests.len() >= limits.max_pending_requests {
        return Err(ErrorBody::new(
            ErrorCode::RateLimited,
            "this group has too many pending join requests; try again later",
        ));
    }
    Ok(JoinDecision::Request(Change::AddRequest {
        group: group_name.to_owned(),
        name: name.to_owned(),
    }))
}

/// A request that changes a group, checked by [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Post {
        text: String,
    },
    PostFile {
        file: FileInfo,
    },
    Approve {
        name: String,
    },
    Reject {
        name: String,
    },
    Kick {
        name: String,
    },
    ChangeAdmin {
        name: String,
    },
    /// Leave the group, or withdraw a pending request.
    Leave,
    /// The member has read up to `seq`.
    MarkRead {
        seq: Seq,
    },
}

/// Whether `by` may do `action` in the group now, and the change it makes.
pub(crate) fn decide(
    group: &GroupState,
    group_name: &str,
    by: &str,
    action: &Action,
    limits: &Limits,
) -> Result<Change, ErrorBody> {
    let group_name = group_name.to_owned();
    if *action == Action::Leave && group.requests.iter().any(|r| r.name == by) {
        return Ok(Change::WithdrawRequest {
            group: group_name,
            name: by.to_owned(),
        });
    }
    if !group.members.contains_key(by) {
        return Err(not_member());
    }
    let admin_only = || {
        if group.is_direct() {
            Err(no_admin())
        } else if group.admin == by {
            Ok(())
        } else {
            Err(ErrorBody::new(
                ErrorCode::NotAdmin,
                format!("only the admin ({}) can do that", group.admin),
            ))
        }
    };
    let requested = |name: &str| {
        if group.requests.iter().any(|r| r.name == name) {
            Ok(())
        } else {
            Err(ErrorBody::new(
                ErrorCode::NoSuchUser,
                format!("{} has no pending request", quote(name)),
            ))
        }
    };
    let member = |name: &str| {
        if group.members.contains_key(name) {
            Ok(())
        } else {
            Err(ErrorBody::new(
                ErrorCode::NoSuchUser,
                format!("{} is not a member", quote(name)),
            ))
        }
    };
    let not_self = |name: &str, message: &str| {
        if name == by {
            Err(ErrorBody::new(ErrorCode::InvalidTarget, message))
        } else {
            Ok(())
        }
    };
    Ok(match action {
        Action::Post { text } => Change::Post {
            group: group_name,
            from: by.to_owned(),
            text: text.clone(),
        },
        Action::PostFile { file } => Change::PostFile {
            group: group_name,
            from: by.to_owned(),
            file: file.clone(),
        },
        Action::Approve { name } => {
            admin_only()?;
            requested(name)?;
            Change::Approve {
                group: group_name,
                name: name.clone(),
                by: by.to_owned(),
                floor: group.head.saturating_sub(limits.history_on_join),
            }
        }
        Action::Reject { name } => {
            admin_only()?;
            requested(name)?;
            Change::RejectRequest {
                group: group_name,
                name: name.clone(),
            }
        }
        Action::Kick { name } => {
            admin_only()?;
            not_self(
                name,
                "you cannot kick yourself; hand the admin role to someone first",
            )?;
            member(name)?;
            Change::Kick {
                group: group_name,
                name: name.clone(),
                by: by.to_owned(),
            }
        }
        Action::ChangeAdmin { name } => {
            admin_only()?;
            not_self(name, "you are already the admin")?;
            member(name)?;
            Change::ChangeAdmin {
                group: group_name,
                from: by.to_owned(),
                to: name.clone(),
            }
        }
        Action::Leave if group.is_direct() => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidTarget,
                "a direct conversation cannot be left; /ignore NAME stops their messages",
            ));
        }
        Action::Leave if group.admin != by => Change::Leave {
            group: group_name,
            name: by.to_owned(),
        },
        Action::Leave if group.members.len() == 1 => Change::CloseGroup { group: group_name },
        Action::Leave => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidTarget,
                "you are the admin: hand the role to another member first (/changeAdmin NAME)",
            ));
        }
        Action::MarkRead { seq } => Change::SetRead {
            group: group_name,
            name: by.to_owned(),
            seq: (*seq).min(group.head),
        },
    })
}

fn no_admin() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidTarget,
        "a direct conversation has no admin",
    )
}

/// Something a member asks about the group; answered from its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Query {
    ViewRequests,
    WhoAdmin,
    AllMembers,
    OnlineMembers,
}

/// Whether `by` may ask `query` of the group.
pub(crate) fn may_ask(group: &GroupState, by: &str, query: Query) -> Result<(), ErrorBody> {
    if !group.members.contains_key(by) {
        return Err(not_member());
    }
    if group.is_direct() && matches!(query, Query::ViewRequests | Query::WhoAdmin) {
        return Err(no_admin());
    }
    if query == Query::ViewRequests && group.admin != by {
        return Err(ErrorBody::new(
            ErrorCode::NotAdmin,
            format!("only the admin ({}) can see join requests", group.admin),
        ));
    }
    Ok(())
}

pub(crate) fn not_member() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::NotMember,
        "you are not a member of this conversation",
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::MemberRecord;

    /// "ann" (admin, reads everything), "bob" (approved at 40 with a
    /// grant after 30, delivered up to 45), "cid" pending; head 50.
    fn group() -> GroupState {
        GroupState::from_record(GroupRecord {
            kind: ConvKind::Group,
            admin: "ann".into(),
            members: vec![
                MemberRecord {
                    name: "ann".into(),
                    cursor: 50,
                    floor: 0,
                    read: 50,
                },
                MemberRecord {
                    name: "bob".into(),
                    cursor: 45,
                    floor: 30,
                    read: 40,
                },
            ],
            requests: vec![JoinRequest {
                name: "cid".into(),
                at_ms: 1,
            }],
            head: 50,
        })
    }

    fn limits() -> Limits {
        Limits {
            history_on_join: 10,
            max_pending_requests: 2,
            rejoin_cooldown: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    #[test]
    fn a_grant_bounds_every_resume() {
        let grant = Grant::after(30);
        for (seen, head, after) in [
            (0, 50, 30),  // a client that claims to have seen nothing
            (10, 50, 30), // or something from before its grant
            (30, 50, 30),
            (42, 50, 42),
            (50, 50, 50),
            (99, 50, 50), // or more than there is
        ] {
            assert_eq!(grant.resume_after(seen, head), after, "seen {seen}");
        }
        assert!(!grant.may_read(30));
        assert!(grant.may_read(31));
        assert!(Grant::default().may_read(1));
    }

    #[test]
    fn joins_row_by_row() {
        let g = group();
        let l = limits();
        let enter = |status, floor, after| {
            Ok(JoinDecision::Enter {
                status,
                grant: Grant::after(floor),
                after,
            })
        };
        type Row<'a> = (
            &'a str,
            Option<&'a GroupState>,
            &'a str,
            Option<Seq>,
            Result<JoinDecision, ErrorCode>,
        );
        let cases: Vec<Row> = vec![
            (
                "new group",
                None,
                "ann",
                None,
                Ok(JoinDecision::Create(Change::CreateGroup {
                    group: "g".into(),
                    admin: "ann".into(),
                })),
            ),
            (
                "admin back, server cursor",
                Some(&g),
                "ann",
                None,
                enter(JoinStatus::Admin, 0, 50),
            ),
            (
                "admin from scratch",
                Some(&g),
                "ann",
                Some(0),
                enter(JoinStatus::Admin, 0, 0),
            ),
            (
                "member back, server cursor",
                Some(&g),
                "bob",
                None,
                enter(JoinStatus::Member, 30, 45),
            ),
            (
                "member asks for all",
                Some(&g),
                "bob",
                Some(0),
                enter(JoinStatus::Member, 30, 30),
            ),
            (
                "member ahead of head",
                Some(&g),
                "bob",
                Some(80),
                enter(JoinStatus::Member, 30, 50),
            ),
            (
                "pending asks again",
                Some(&g),
                "cid",
                None,
                Ok(JoinDecision::Wait),
            ),
            (
                "stranger asks",
                Some(&g),
                "dee",
                None,
                Ok(JoinDecision::Request(Change::AddRequest {
                    group: "g".into(),
                    name: "dee".into(),
                })),
            ),
        ];
        for (why, group, name, seen, expected) in cases {
            let got = join(group, "g", name, seen, &l, 0).map_err(|e| e.code);
            assert_eq!(got, expected, "{why}");
        }
    }

    #[test]
    fn join_requests_are_bounded_and_a_rejection_holds_off_the_next() {
        let l = limits();
        let mut g = group();
        let ask = |g: &GroupState, name: &str, at: i64| {
            join(Some(g), "g", name, None, &l, at).map_err(|e| e.code)
        };
        g.apply(
            &Change::RejectRequest {
                group: "g".into(),
                name: "cid".into(),
            },
            1_000,
            &l,
        );
        assert_eq!(ask(&g, "cid", 1_000), Err(ErrorCode::RateLimited));
        assert_eq!(ask(&g, "cid", 60_999), Err(ErrorCode::RateLimited));
        assert!(matches!(
            ask(&g, "cid", 61_000),
            Ok(JoinDecision::Request(_))
        ));
        for name in ["dee", "eve"] {
            g.apply(
                &Change::AddRequest {
                    group: "g".into(),
                    name: name.into(),
                },
                2_000,
                &l,
            );
        }
        assert_eq!(ask(&g, "fay", 2_000), Err(ErrorCode::RateLimited));
    }

    #[test]
    fn actions_row_by_row() {
        let g = group();
        let l = limits();
        let post = Action::Post { text: "hi".into() };
        let approve = |n: &str| Action::Approve { name: n.into() };
        let reject = |n: &str| Action::Reject { name: n.into() };
        let kick = |n: &str| Action::Kick { name: n.into() };
        let admin = |n: &str| Action::ChangeAdmin { name: n.into() };
        use ErrorCode::*;
        let cases: Vec<(&str, Action, Result<(), ErrorCode>)> = vec![
            ("ann", post.clone(), Ok(())),
            ("bob", post.clone(), Ok(())),
            ("cid", post, Err(NotMember)),
            ("dee", kick("bob"), Err(NotMember)),
            ("ann", approve("cid"), Ok(())),
            ("ann", approve("dee"), Err(NoSuchUser)),
            ("bob", approve("cid"), Err(NotAdmin)),
            ("ann", reject("cid"), Ok(())),
            ("ann", reject("bob"), Err(NoSuchUser)),
            ("bob", reject("cid"), Err(NotAdmin)),
            ("ann", kick("bob"), Ok(())),
            ("ann", kick("ann"), Err(InvalidTarget)),
            ("ann", kick("cid"), Err(NoSuchUser)),
            ("bob", kick("ann"), Err(NotAdmin)),
            ("ann", admin("bob"), Ok(())),
            ("ann", admin("ann"), Err(InvalidTarget)),
            ("ann", admin("cid"), Err(NoSuchUser)),
            ("bob", admin("bob"), Err(NotAdmin)),
        ];
        for (by, action, expected) in cases {
            let got = decide(&g, "g", by, &action, &l)
                .map(|_| ())
                .map_err(|e| e.code);
            assert_eq!(got, expected, "{by} {action:?}");
        }
    }

    #[test]
    fn an_approval_grants_the_recent_history_only() {
        let l = limits();
        let mut g = group();
        let change = decide(&g, "g", "ann", &Action::Approve { name: "cid".into() }, &l).unwrap();
        assert_eq!(
            change,
            Change::Approve {
                group: "g".into(),
                name: "cid".into(),
                by: "ann".into(),
                floor: 40,
            }
        );
        g.apply(&change, 0, &l);
        assert!(g.requests.is_empty());
        assert_eq!(
            join(Some(&g), "g", "cid", Some(0), &l, 0),
            Ok(JoinDecision::Enter {
                status: JoinStatus::Member,
                grant: Grant::after(40),
                after: 40,
            })
        );
    }

    #[test]
    fn a_member_let_back_in_gets_a_new_grant() {
        let l = limits();
        let mut g = group();
        for change in [
            decide(&g, "g", "ann", &Action::Kick { name: "bob".into() }, &l).unwrap(),
            Change::AddRequest {
                group: "g".into(),
                name: "bob".into(),
            },
        ] {
            g.apply(&change, 0, &l);
        }
        g.head = 90;
        let approve = decide(&g, "g", "ann", &Action::Approve { name: "bob".into() }, &l).unwrap();
        g.apply(&approve, 0, &l);
        assert_eq!(g.members["bob"].grant, Grant::after(80));
    }

    #[test]
    fn errors_quote_at_most_a_short_prefix_of_what_was_sent() {
        let g = group();
        let huge = "x".repeat(1 << 20);
        for action in [
            Action::Kick { name: huge.clone() },
            Action::Approve { name: huge.clone() },
            Action::ChangeAdmin { name: huge.clone() },
        ] {
            let error = decide(&g, "g", "ann", &action, &limits()).unwrap_err();
            assert!(error.message.len() < 200, "{}", error.message.len());
            assert!(error.message.contains('…'));
        }
    }

    #[test]
    fn queries_row_by_row() {
        let g = group();
        use Query::*;
        for (by, query, expected) in [
            ("ann", ViewRequests, Ok(())),
            ("bob", ViewRequests, Err(ErrorCode::NotAdmin)),
            ("bob", WhoAdmin, Ok(())),
            ("bob", AllMembers, Ok(())),
            ("bob", OnlineMembers, Ok(())),
            ("cid", WhoAdmin, Err(ErrorCode::NotMember)),
            ("dee", AllMembers, Err(ErrorCode::NotMember)),
        ] {
            assert_eq!(
                may_ask(&g, by, query).map_err(|e| e.code),
                expected,
                "{by} {query:?}"
            );
        }
    }

    #[test]
    fn leaving_row_by_row() {
        let l = limits();
        let g = group();
        let mut alone = GroupState::created_by("ann");
        alone.head = 3;
        let leave = |g: &GroupState, by: &str| decide(g, "g", by, &Action::Leave, &l);
        assert_eq!(
            leave(&g, "bob"),
            Ok(Change::Leave {
                group: "g".into(),
                name: "bob".into()
            })
        );
        assert_eq!(
            leave(&g, "cid"),
            Ok(Change::WithdrawRequest {
                group: "g".into(),
                name: "cid".into()
            }),
            "a pending user withdraws"
        );
        assert_eq!(
            leave(&g, "ann").map_err(|e| e.code),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(
            leave(&alone, "ann"),
            Ok(Change::CloseGroup { group: "g".into() }),
            "the last member closes the group"
        );
        assert_eq!(
            leave(&g, "dee").map_err(|e| e.code),
            Err(ErrorCode::NotMember)
        );
    }

    #[test]
    fn a_direct_conversation_has_two_people_and_no_admin() {
        let l = limits();
        let dm = GroupState::direct("ann", "bob");
        assert_eq!(dm.status_of("bob"), JoinStatus::Direct);
        assert!(matches!(
            join(Some(&dm), "ann+bob", "ann", None, &l, 0),
            Ok(JoinDecision::Enter {
                status: JoinStatus::Direct,
                ..
            })
        ));
        assert_eq!(
            join(Some(&dm), "ann+bob", "cid", None, &l, 0).map_err(|e| e.code),
            Err(ErrorCode::NotMember),
            "nobody asks to join a direct conversation"
        );
        for action in [
            Action::Kick { name: "bob".into() },
            Action::ChangeAdmin { name: "bob".into() },
            Action::Approve { name: "bob".into() },
            Action::Leave,
        ] {
            assert_eq!(
                decide(&dm, "ann+bob", "ann", &action, &l).map_err(|e| e.code),
                Err(ErrorCode::InvalidTarget),
                "{action:?}"
            );
        }
        assert!(
            decide(
                &dm,
                "ann+bob",
                "bob",
                &Action::Post { text: "hi".into() },
                &l
            )
            .is_ok()
        );
        assert_eq!(
            may_ask(&dm, "ann", Query::WhoAdmin).map_err(|e| e.code),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(may_ask(&dm, "ann", Query::AllMembers), Ok(()));
    }

    #[test]
    fn a_read_position_stays_within_the_log_and_never_moves_back() {
        let l = limits();
        let mut g = group();
        let read = |g: &GroupState, seq| decide(g, "g", "bob", &Action::MarkRead { seq }, &l);
        let change = read(&g, 500).unwrap();
        assert_eq!(
            change,
            Change::SetRead {
                group: "g".into(),
                name: "bob".into(),
                seq: 50
            }
        );
        g.apply(&change, 0, &l);
        g.apply(&read(&g, 10).unwrap(), 0, &l);
        assert_eq!(g.members["bob"].read, 50);
    }
}
