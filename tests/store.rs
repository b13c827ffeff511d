//! The store's behaviour, one test body for both backends: the embedded
//! SQLite store and PostgreSQL (found as `common::services` says). Then
//! what only PostgreSQL has: its schema checks, seqs assigned under a row
//! lock when two servers write at once, and the re-checks that refuse a
//! change another server made stale.

mod common;

use common::services::Database;
use pyconchat::{
    protocol::{Body, ConvKind, FileInfo, Seq, direct_id},
    store::{
        Change, ConversationRecord, IdleGroup, Maintenance, NameClaim, PostgresStore, SqliteStore,
        Store, StoreError, UnusedName,
    },
};

/// Where a test's store lives; [`Backend::open`] opens it (again).
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(Database, tempfile::TempDir),
}

impl Backend {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Self {
        Self::Postgres(Database::migrated(), tempfile::tempdir().unwrap())
    }

    fn open(&self) -> Box<dyn Maintenance> {
        match self {
            Self::Sqlite(dir) => Box::new(SqliteStore::open(dir.path()).unwrap()),
            Self::Postgres(database, files) => {
                Box::new(PostgresStore::open(&database.url, files.path().to_owned()).unwrap())
            }
        }
    }
}

/// Runs each test body on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test(&super::Backend::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $test() { super::$test(&super::Backend::postgres()) })*
        }
    };
}

on_both!(
    numbers_entries_per_group_and_survives_reopening,
    a_failed_batch_changes_nothing,
    pins_a_name_to_its_first_secret,
    a_released_name_can_be_claimed_by_a_new_secret,
    verifies_a_name_without_claiming_it,
    lists_and_releases_names_in_no_group_not_seen_lately,
    a_group_is_idle_until_a_member_connects_or_it_logs_something,
    closing_a_group_removes_everything_of_it,
    a_direct_conversation_has_two_members_and_no_admin,
    lists_the_conversations_someone_is_in_or_asked_to_join,
    only_a_group_counts_as_shared,
    leaving_drops_the_membership_and_tells_the_log,
    closing_a_group_in_a_batch_removes_everything_of_it,
    a_read_position_only_moves_forward,
    ignoring_twice_or_unignoring_twice_is_harmless,
    counts_unread_messages_and_mentions_from_others_up_to_a_cap,
    search_finds_every_word_newest_first_ignoring_case_and_accents,
    search_keeps_to_what_the_searcher_may_read,
    search_reads_what_users_type_as_words_not_syntax,
    search_finds_a_readers_messages_among_many_elsewhere,
);

/// Later than any test runs: names claimed now were last seen before it.
const LATER: i64 = 4_000_000_000_000;

/// More matches of a word elsewhere than the embedded store reads before
/// it narrows a search to the searcher's conversations.
const MANY: usize = 4_000;

fn post(group: &str, from: &str, text: &str) -> Change {
    Change::Post {
        group: group.into(),
        from: from.into(),
        text: text.into(),
    }
}

/// The admin of the fixtures' groups.
fn admin(group: &str) -> &'static str {
    match group {
        "go" => "cat",
        _ => "ann",
    }
}

fn numbers_entries_per_group_and_survives_reopening(backend: &Backend) {
    let store = backend.open();
    let create = |g: &str| Change::CreateGroup {
        group: g.into(),
        admin: "ann".into(),
    };
    let out = store
        .apply(
            1,
            &[
                create("a"),
                create("b"),
                post("a", "ann", "1"),
                post("b", "ann", "x"),
            ],
        )
        .unwrap();
    let seqs: Vec<_> = out.iter().map(|e| e.as_ref().unwrap().seq).collect();
    assert_eq!(seqs, [1, 1, 2, 2]);
    drop(store);

    let store = backend.open();
    let out = store.apply(2, &[post("a", "ann", "2")]).unwrap();
    assert_eq!(out[0].as_ref().unwrap().seq, 3);
    let texts: Vec<_> = store
        .read_log("a", 1, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect();
    assert_eq!(
        texts,
        [
            Body::Text { text: "1".into() },
            Body::Text { text: "2".into() }
        ]
    );
    assert_eq!(store.load_group("a").unwrap().unwrap().head, 3);
    let mut heads = store
        .heads(&["a".into(), "b".into(), "none".into()])
        .unwrap();
    heads.sort();
    assert_eq!(
        heads,
        [("a".into(), 3), ("b".into(), 2)],
        "no head for a group that does not exist"
    );
}

fn a_failed_batch_changes_nothing(backend: &Backend) {
    let store = backend.open();
    store
        .apply(
            1,
            &[Change::CreateGroup {
                group: "a".into(),
                admin: "ann".into(),
            }],
        )
        .unwrap();
    // Posting to a group that does not exist violates a foreign key.
    let err = store.apply(2, &[post("a", "ann", "kept?"), post("nope", "ann", "x")]);
    assert!(err.is_err());
    assert!(store.read_log("a", 1, 10).unwrap().is_empty());
    assert_eq!(
        store.apply(3, &[post("a", "ann", "next")]).unwrap()[0]
            .as_ref()
            .unwrap()
            .seq,
        2
    );
}

fn pins_a_name_to_its_first_secret(backend: &Backend) {
    let store = backend.open();
    assert_eq!(
        store.claim_name("ann", &[1; 32]).unwrap(),
        NameClaim::Claimed
    );
    assert_eq!(
        store.claim_name("ann", &[1; 32]).unwrap(),
        NameClaim::Verified
    );
    assert_eq!(store.claim_name("ann", &[2; 32]).unwrap(), NameClaim::Taken);
}

fn a_released_name_can_be_claimed_by_a_new_secret(backend: &Backend) {
    let store = backend.open();
    store.claim_name("ann", &[1; 32]).unwrap();
    assert!(store.release_name("ann").unwrap());
    assert!(!store.release_name("ann").unwrap());
    assert_eq!(
        store.claim_name("ann", &[2; 32]).unwrap(),
        NameClaim::Claimed
    );
}

fn verifies_a_name_without_claiming_it(backend: &Backend) {
    let store = backend.open();
    assert_eq!(store.verify_name("ann", &[1; 32]).unwrap(), None);
    assert_eq!(store.verify_name("ann", &[1; 32]).unwrap(), None);
    store.claim_name("ann", &[1; 32]).unwrap();
    assert_eq!(
        store.verify_name("ann", &[1; 32]).unwrap(),
        Some(NameClaim::Verified)
    );
    assert_eq!(
        store.verify_name("ann", &[2; 32]).unwrap(),
        Some(NameClaim::Taken)
    );
}

/// A store with `ann` (admin of `rust`), `bob` (asking to join it) and
/// `cat` (in no group), all last seen at `at(1000)`, and `rust` created at 1.
fn three_names(backend: &Backend) -> Box<dyn Maintenance> {
    let store = backend.open();
    for (i, name) in ["ann", "bob", "cat"].into_iter().enumerate() {
        store.claim_name(name, &[i as u8; 32]).unwrap();
    }
    store
        .apply(
            1,
            &[
                Change::CreateGroup {
                    group: "rust".into(),
                    admin: "ann".into(),
                },
                Change::AddRequest {
                    group: "rust".into(),
                    name: "bob".into(),
                },
            ],
        )
        .unwrap();
    let names = ["ann", "bob", "cat"].map(String::from);
    store.mark_seen(&names, at(1000)).unwrap();
    store
}

/// A time `ms` after [`LATER`].
fn at(ms: i64) -> i64 {
    LATER + ms
}

fn lists_and_releases_names_in_no_group_not_seen_lately(backend: &Backend) {
    let store = three_names(backend);
    assert!(store.unused_names(at(1000)).unwrap().is_empty());
    assert_eq!(
        store.unused_names(at(1001)).unwrap(),
        [UnusedName {
            name: "cat".into(),
            last_seen_ms: at(1000)
        }]
    );
    // Seen again later: no longer unused by that cut-off.
    store.mark_seen(&["cat".into()], at(2000)).unwrap();
    store.mark_seen(&["cat".into()], at(1500)).unwrap();
    assert!(store.unused_names(at(2000)).unwrap().is_empty());
    assert_eq!(store.release_unused_names(at(2001)).unwrap(), ["cat"]);
    assert_eq!(store.verify_name("cat", &[2; 32]).unwrap(), None);
    assert_eq!(
        store.verify_name("bob", &[1; 32]).unwrap(),
        Some(NameClaim::Verified),
        "a pending request keeps the name"
    );
}

fn a_group_is_idle_until_a_member_connects_or_it_logs_something(backend: &Backend) {
    let store = three_names(backend);
    let idle = store.idle_groups(at(1001)).unwrap();
    assert_eq!(
        idle,
        [IdleGroup {
            name: "rust".into(),
            admin: "ann".into(),
            members: 1,
            active_ms: at(1000)
        }]
    );
    assert!(store.idle_groups(at(1000)).unwrap().is_empty());
    store.apply(at(5000), &[post("rust", "ann", "hi")]).unwrap();
    assert!(store.idle_groups(at(5000)).unwrap().is_empty());
    assert_eq!(store.idle_groups(at(5001)).unwrap()[0].active_ms, at(5000));
}

fn closing_a_group_removes_everything_of_it(backend: &Backend) {
    let store = three_names(backend);
    let file = FileInfo {
        id: "f1".into(),
        name: "notes.txt".into(),
        size: 3,
        blake3: vec![0; 32],
    };
    let keep = Change::CreateGroup {
        group: "go".into(),
        admin: "cat".into(),
    };
    store
        .apply(
            2,
            &[
                keep,
                post("rust", "ann", "hi"),
                Change::PostFile {
                    group: "rust".into(),
                    from: "ann".into(),
                    file: file.clone(),
                },
            ],
        )
        .unwrap();
    assert_eq!(found(&*store, "ann", "hi"), [hit("rust", "hi")]);
    let closed = store.close_group("rust").unwrap().unwrap();
    assert_eq!((closed.members, closed.entries), (1, 3));
    assert_eq!(
        closed.files.iter().map(|f| &f.info).collect::<Vec<_>>(),
        [&file]
    );
    assert_eq!(store.load_group("rust").unwrap(), None);
    assert!(store.read_log("rust", 0, 10).unwrap().is_empty());
    assert!(store.files().unwrap().is_empty());
    assert_eq!(store.close_group("rust").unwrap(), None);
    assert!(store.load_group("go").unwrap().is_some());
    // The name is free to start it afresh, at seq 1.
    let created = store
        .apply(
            3,
            &[Change::CreateGroup {
                group: "rust".into(),
                admin: "bob".into(),
            }],
        )
        .unwrap();
    assert_eq!(created[0].as_ref().unwrap().seq, 1);
    assert!(
        found(&*store, "bob", "hi").is_empty(),
        "nothing of it is found"
    );
    // Without a membership or request left, ann's name counts as unused.
    assert_eq!(
        store
            .unused_names(at(1001))
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect::<Vec<_>>(),
        ["ann"]
    );
}

fn create(group: &str, admin: &str) -> Change {
    Change::CreateGroup {
        group: group.into(),
        admin: admin.into(),
    }
}

fn approve(group: &str, name: &str, floor: Seq) -> [Change; 2] {
    [
        Change::AddRequest {
            group: group.into(),
            name: name.into(),
        },
        Change::Approve {
            group: group.into(),
            name: name.into(),
            by: admin(group).into(),
            floor,
        },
    ]
}

fn direct(opener: &str, peer: &str) -> Change {
    Change::CreateDirect {
        group: direct_id(opener, peer),
        opener: opener.into(),
        peer: peer.into(),
    }
}

/// `rust` (ann admin; bob approved at 2, reading after 2) and `go`
/// (cat admin), and the direct conversation of ann and cat.
fn conversations(backend: &Backend) -> Box<dyn Maintenance> {
    let store = backend.open();
    store
        .apply(1, &[create("rust", "ann"), post("rust", "ann", "old news")])
        .unwrap();
    store.apply(2, &approve("rust", "bob", 2)).unwrap();
    store
        .apply(3, &[create("go", "cat"), direct("cat", "ann")])
        .unwrap();
    store
}

fn a_direct_conversation_has_two_members_and_no_admin(backend: &Backend) {
    let store = conversations(backend);
    let out = store.apply(4, &[post("ann+cat", "ann", "hi cat")]).unwrap();
    assert_eq!(out[0].as_ref().unwrap().seq, 2);
    let dm = store.load_group("ann+cat").unwrap().unwrap();
    assert_eq!(
        (dm.kind, dm.admin.as_str(), dm.head),
        (ConvKind::Direct, "", 2)
    );
    assert_eq!(
        dm.members
            .iter()
            .map(|m| (m.name.as_str(), m.floor, m.read))
            .collect::<Vec<_>>(),
        [("ann", 0, 0), ("cat", 0, 0)]
    );
    let first = &store.read_log("ann+cat", 0, 1).unwrap()[0];
    assert_eq!(
        (first.from.as_str(), &first.body),
        ("cat", &Body::GroupCreated)
    );
    assert_eq!(
        store.load_group("go").unwrap().unwrap().kind,
        ConvKind::Group
    );
}

fn lists_the_conversations_someone_is_in_or_asked_to_join(backend: &Backend) {
    let store = conversations(backend);
    store
        .apply(
            4,
            &[Change::AddRequest {
                group: "go".into(),
                name: "ann".into(),
            }],
        )
        .unwrap();
    let record = |id: &str, kind, pending| ConversationRecord {
        id: id.into(),
        kind,
        pending,
    };
    assert_eq!(
        store.conversations_of("ann").unwrap(),
        [
            record("ann+cat", ConvKind::Direct, false),
            record("go", ConvKind::Group, true),
            record("rust", ConvKind::Group, false),
        ]
    );
    assert!(store.conversations_of("dan").unwrap().is_empty());
}

fn only_a_group_counts_as_shared(backend: &Backend) {
    let store = conversations(backend);
    assert!(store.shares_group("ann", "bob").unwrap());
    assert!(store.shares_group("bob", "ann").unwrap());
    // ann and cat share only their direct conversation.
    assert!(!store.shares_group("ann", "cat").unwrap());
    store.apply(4, &approve("go", "ann", 0)).unwrap();
    assert!(store.shares_group("ann", "cat").unwrap());
    assert!(!store.shares_group("bob", "cat").unwrap());
}

fn leaving_drops_the_membership_and_tells_the_log(backend: &Backend) {
    let store = conversations(backend);
    let out = store
        .apply(
            4,
            &[Change::Leave {
                group: "rust".into(),
                name: "bob".into(),
            }],
        )
        .unwrap();
    let entry = out[0].as_ref().unwrap();
    assert_eq!(
        (entry.seq, entry.from.as_str(), &entry.body),
        (4, "bob", &Body::MemberLeft { name: "bob".into() })
    );
    let rust = store.load_group("rust").unwrap().unwrap();
    assert_eq!(
        rust.members.iter().map(|m| &m.name[..]).collect::<Vec<_>>(),
        ["ann"]
    );
    assert!(!store.shares_group("ann", "bob").unwrap());
}

fn closing_a_group_in_a_batch_removes_everything_of_it(backend: &Backend) {
    let store = conversations(backend);
    let announce = Change::PostFile {
        group: "rust".into(),
        from: "ann".into(),
        file: file("f1"),
    };
    store
        .apply(4, &[post("rust", "ann", "rust news"), announce])
        .unwrap();
    store.apply(4, &[post("go", "cat", "go news")]).unwrap();
    assert_eq!(
        found(&*store, "ann", "rust news"),
        [hit("rust", "rust news")]
    );
    assert_eq!(
        store
            .group_files("rust")
            .unwrap()
            .iter()
            .map(|f| &f.info)
            .collect::<Vec<_>>(),
        [&file("f1")]
    );
    let close = Change::CloseGroup {
        group: "rust".into(),
    };
    // Closed, then opened again in the same batch: it starts afresh.
    let out = store
        .apply(5, &[close.clone(), create("rust", "bob")])
        .unwrap();
    assert_eq!(out[0], None);
    assert_eq!(out[1].as_ref().unwrap().seq, 1);
    let rust = store.load_group("rust").unwrap().unwrap();
    assert_eq!(
        (rust.admin.as_str(), rust.head, rust.members.len()),
        ("bob", 1, 1)
    );
    assert!(store.files().unwrap().is_empty());
    assert!(store.group_files("rust").unwrap().is_empty());
    assert!(found(&*store, "bob", "news").is_empty());
    assert_eq!(found(&*store, "cat", "news"), [hit("go", "go news")]);

    store.apply(6, &[close]).unwrap();
    assert_eq!(store.load_group("rust").unwrap(), None);
    assert!(store.read_log("rust", 0, 10).unwrap().is_empty());
    assert!(store.conversations_of("bob").unwrap().is_empty());
    // Closing what is not there changes nothing.
    store
        .apply(
            7,
            &[Change::CloseGroup {
                group: "rust".into(),
            }],
        )
        .unwrap();
    let out = store.apply(8, &[create("rust", "cat")]).unwrap();
    assert_eq!(out[0].as_ref().unwrap().seq, 1);
}

fn a_read_position_only_moves_forward(backend: &Backend) {
    let store = conversations(backend);
    let set_read = |seq| Change::SetRead {
        group: "rust".into(),
        name: "bob".into(),
        seq,
    };
    let read_of_bob = || store.load_group("rust").unwrap().unwrap().members[1].read;
    assert_eq!(read_of_bob(), 2, "a newcomer starts at their floor");
    store.apply(4, &[set_read(3)]).unwrap();
    assert_eq!(read_of_bob(), 3);
    store.apply(5, &[set_read(1)]).unwrap();
    assert_eq!(read_of_bob(), 3);
    let rust = store.load_group("rust").unwrap().unwrap();
    assert_eq!(rust.members[1].cursor, 2, "reading is not delivery");
}

fn ignoring_twice_or_unignoring_twice_is_harmless(backend: &Backend) {
    let store = conversations(backend);
    let ignore = |name: &str, ignored: &str| Change::Ignore {
        name: name.into(),
        ignored: ignored.into(),
    };
    let unignore = Change::Unignore {
        name: "ann".into(),
        ignored: "cat".into(),
    };
    let out = store
        .apply(
            4,
            &[
                ignore("ann", "cat"),
                ignore("ann", "cat"),
                ignore("bob", "ann"),
            ],
        )
        .unwrap();
    assert_eq!(out, [None, None, None]);
    store.apply(5, &[ignore("ann", "cat")]).unwrap();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        store.ignores().unwrap(),
        [pair("ann", "cat"), pair("bob", "ann")]
    );
    store.apply(6, &[unignore.clone(), unignore]).unwrap();
    assert_eq!(store.ignores().unwrap(), [pair("bob", "ann")]);
}

fn counts_unread_messages_and_mentions_from_others_up_to_a_cap(backend: &Backend) {
    let store = conversations(backend);
    // After seq 3: two mentions of ann, a file, her own words (which
    // never count), and bob's arrival (not a message).
    store
        .apply(
            4,
            &[
                post("rust", "bob", "@ann look"),
                post("rust", "ann", "@ann talking to myself"),
                post("rust", "bob", "plain"),
                Change::PostFile {
                    group: "rust".into(),
                    from: "bob".into(),
                    file: file("f1"),
                },
                post("rust", "bob", "ann: and this"),
                post("rust", "bob", "@annie is someone else"),
            ],
        )
        .unwrap();
    store.apply(5, &approve("rust", "cat", 9)).unwrap();
    assert_eq!(store.unread("rust", "ann", 3, 999).unwrap(), (5, 2));
    assert_eq!(store.unread("rust", "ann", 3, 2).unwrap(), (2, 1));
    assert_eq!(store.unread("rust", "ann", 6, 999).unwrap(), (3, 1));
    assert_eq!(store.unread("rust", "ann", 9, 999).unwrap(), (0, 0));
    assert_eq!(store.unread("rust", "ann", 3, 0).unwrap(), (0, 0));
    // bob's own messages are not unread for him; ann's are.
    assert_eq!(store.unread("rust", "bob", 3, 999).unwrap(), (1, 0));
    assert_eq!(store.unread("nope", "ann", 0, 999).unwrap(), (0, 0));
}

fn search_finds_every_word_newest_first_ignoring_case_and_accents(backend: &Backend) {
    let store = conversations(backend);
    store
        .apply(4, &[post("rust", "ann", "Café au lait, anyone?")])
        .unwrap();
    store
        .apply(
            5,
            &[
                post("rust", "bob", "the cafe is closed"),
                post("ann+cat", "cat", "meet at the CAFÉ"),
                post("rust", "bob", "lait only"),
            ],
        )
        .unwrap();
    assert_eq!(
        found(&*store, "ann", "café"),
        [
            hit("ann+cat", "meet at the CAFÉ"),
            hit("rust", "the cafe is closed"),
            hit("rust", "Café au lait, anyone?"),
        ]
    );
    assert_eq!(
        found(&*store, "ann", "  LAIT   cafe "),
        [hit("rust", "Café au lait, anyone?")]
    );
    let newest = store.search("ann", "cafe", 1).unwrap();
    assert_eq!(newest[0].0, "ann+cat");
    assert_eq!(newest[0].1.seq, 2);
    assert_eq!(newest[0].1.from, "cat");
    assert!(store.search("ann", "cafe", 0).unwrap().is_empty());
    assert!(found(&*store, "ann", "").is_empty());
    assert!(found(&*store, "ann", " \t\n").is_empty());
    assert!(found(&*store, "ann", "caf").is_empty(), "whole words only");
}

fn search_keeps_to_what_the_searcher_may_read(backend: &Backend) {
    let store = conversations(backend);
    store
        .apply(
            4,
            &[
                post("rust", "ann", "secret plan"),
                post("go", "cat", "secret recipe"),
                post("ann+cat", "cat", "secret gift"),
                Change::AddRequest {
                    group: "go".into(),
                    name: "bob".into(),
                },
            ],
        )
        .unwrap();
    // bob reads rust after his floor (2): not "old news"; a pending
    // request opens nothing.
    assert_eq!(
        found(&*store, "bob", "secret"),
        [hit("rust", "secret plan")]
    );
    assert!(found(&*store, "bob", "old news").is_empty());
    assert_eq!(found(&*store, "ann", "old news"), [hit("rust", "old news")]);
    assert!(found(&*store, "dan", "secret").is_empty());
    assert_eq!(
        found(&*store, "cat", "secret"),
        [hit("ann+cat", "secret gift"), hit("go", "secret recipe")]
    );
    // ann ignores cat: their direct conversation leaves her results,
    // not cat's; cat's groups are not affected.
    let ignore = Change::Ignore {
        name: "ann".into(),
        ignored: "cat".into(),
    };
    store.apply(5, &[ignore]).unwrap();
    store.apply(6, &approve("go", "ann", 0)).unwrap();
    assert_eq!(
        found(&*store, "ann", "secret"),
        [hit("go", "secret recipe"), hit("rust", "secret plan")]
    );
    assert_eq!(found(&*store, "cat", "secret").len(), 2);
    store
        .apply(
            7,
            &[Change::Unignore {
                name: "ann".into(),
                ignored: "cat".into(),
            }],
        )
        .unwrap();
    assert_eq!(found(&*store, "ann", "secret").len(), 3);
    // A member who left reads nothing more of the group.
    store
        .apply(
            8,
            &[Change::Leave {
                group: "rust".into(),
                name: "bob".into(),
            }],
        )
        .unwrap();
    assert!(found(&*store, "bob", "secret").is_empty());
}

fn search_reads_what_users_type_as_words_not_syntax(backend: &Backend) {
    let store = conversations(backend);
    let texts = [
        "say \"hello\" to NEAR(the) world",
        "hello-world OR not",
        "party time 🎉",
        "conv : 72757374",
        "wildcards* are stars",
    ];
    let posts: Vec<Change> = texts.iter().map(|t| post("rust", "ann", t)).collect();
    store.apply(4, &posts).unwrap();
    let one = |text: &str| vec![hit("rust", text)];
    for (query, expected) in [
        (
            "\"hello\"",
            vec![hit("rust", texts[1]), hit("rust", texts[0])],
        ),
        (
            "\"hello",
            vec![hit("rust", texts[1]), hit("rust", texts[0])],
        ),
        ("NEAR(the", one(texts[0])),
        // A phrase of two words, not hello near world.
        ("NEAR(hello world)", vec![]),
        ("NEAR(the) world", one(texts[0])),
        ("hello OR world", one(texts[1])),
        (
            "world -hello",
            vec![hit("rust", texts[1]), hit("rust", texts[0])],
        ),
        ("NOT world", one(texts[1])),
        ("wild*", vec![]),
        ("wildcards*", one(texts[4])),
        ("🎉 party", one(texts[2])),
        ("conv : 72757374", one(texts[3])),
        ("text:hello", vec![]),
        ("{text}: hello", vec![]),
        ("\"\" '' ( ) * - ^ : + AND OR NOT", vec![]),
    ] {
        assert_eq!(found(&*store, "ann", query), expected, "query {query:?}");
    }
    for query in ["\"", "*", "-", "🎉", "(", "\"\"\"", ":", "^"] {
        assert!(found(&*store, "ann", query).is_empty(), "query {query:?}");
    }
}

fn search_finds_a_readers_messages_among_many_elsewhere(backend: &Backend) {
    let store = conversations(backend);
    let busy = |n| -> Vec<Change> {
        (0..n)
            .map(|i| post("go", "cat", &format!("needle {i}")))
            .collect()
    };
    store
        .apply(4, &[post("rust", "ann", "needle one")])
        .unwrap();
    store.apply(5, &busy(MANY)).unwrap();
    store
        .apply(6, &[post("rust", "ann", "needle two")])
        .unwrap();
    store.apply(7, &busy(10)).unwrap();
    let expected = [hit("rust", "needle two"), hit("rust", "needle one")];
    assert_eq!(found(&*store, "bob", "needle"), expected);
    assert_eq!(found(&*store, "ann", "needle"), expected);
    let newest = store.search("ann", "needle", 1).unwrap();
    assert_eq!(newest[0].1.seq, 5);
    assert_eq!(found(&*store, "cat", "needle").len(), 100);
}

fn file(id: &str) -> FileInfo {
    FileInfo {
        id: id.into(),
        name: "notes.txt".into(),
        size: 3,
        blake3: vec![0; 32],
    }
}

/// What a search finds, as (conversation, text).
fn found(store: &dyn Maintenance, name: &str, query: &str) -> Vec<(String, String)> {
    store
        .search(name, query, 100)
        .unwrap()
        .into_iter()
        .map(|(conv, entry)| match entry.body {
            Body::Text { text } => (conv, text),
            other => panic!("search found {other:?}"),
        })
        .collect()
}

fn hit(conv: &str, text: &str) -> (String, String) {
    (conv.into(), text.into())
}

fn open(database: &Database) -> PostgresStore {
    PostgresStore::open(&database.url, std::env::temp_dir()).unwrap()
}

#[test]
fn postgres_serves_only_the_schema_it_knows_and_says_what_to_do() {
    let database = Database::empty();
    let error = PostgresStore::open(&database.url, std::env::temp_dir())
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::NoSchema { .. }), "{error}");
    assert!(error.to_string().contains("pyconchat migrate"), "{error}");
    let migrated = PostgresStore::migrate(&database.url).unwrap();
    assert_eq!(
        (migrated.from, migrated.to),
        (0, PostgresStore::SCHEMA_VERSION)
    );
    let again = PostgresStore::migrate(&database.url).unwrap();
    assert_eq!(
        again.from,
        PostgresStore::SCHEMA_VERSION,
        "migrating twice is harmless"
    );
    open(&database);

    database.execute("UPDATE schema_version SET version = 99");
    for error in [
        PostgresStore::open(&database.url, std::env::temp_dir()).err(),
        PostgresStore::migrate(&database.url).err(),
    ] {
        let error = error.expect("a newer schema is refused");
        assert!(
            matches!(error, StoreError::NewSchema { found: 99, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("upgrade PyconChat"), "{error}");
    }
}

#[test]
fn postgres_that_cannot_be_reached_is_said_in_one_sentence() {
    // Nothing listens on port 1.
    let url = "postgres://chat:secret@127.0.0.1:1/pyconchat";
    let error = PostgresStore::open(url, std::env::temp_dir())
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error}");
    let said = error.to_string();
    assert!(
        said.starts_with(
            "cannot connect to the database at postgres://chat:***@127.0.0.1:1/pyconchat"
        ),
        "{said}"
    );
    assert!(!said.contains("secret"), "{said}");
    let error = PostgresStore::open("postgres://127.0.0.1:port/db", std::env::temp_dir())
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::BadUrl { .. }), "{error}");
}

#[test]
fn two_servers_writing_at_once_number_one_log_without_gap_or_duplicate() {
    let database = Database::migrated();
    let (a, b) = (open(&database), open(&database));
    a.apply(
        1,
        &[
            create("rust", "ann"),
            Change::AddRequest {
                group: "rust".into(),
                name: "bob".into(),
            },
        ],
    )
    .unwrap();
    a.apply(
        2,
        &[Change::Approve {
            group: "rust".into(),
            name: "bob".into(),
            by: "ann".into(),
            floor: 0,
        }],
    )
    .unwrap();
    let write = |store: &PostgresStore, from: &str| -> Vec<Seq> {
        (0..40)
            .flat_map(|i| {
                let batch: Vec<Change> = (0..5)
                    .map(|j| post("rust", from, &format!("{i}.{j}")))
                    .collect();
                store
                    .apply(3, &batch)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.unwrap().seq)
            })
            .collect()
    };
    let (by_ann, by_bob) = std::thread::scope(|s| {
        let ann = s.spawn(|| write(&a, "ann"));
        let bob = s.spawn(|| write(&b, "bob"));
        (ann.join().unwrap(), bob.join().unwrap())
    });
    let mut seqs: Vec<Seq> = by_ann.iter().chain(&by_bob).copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (3..=402).collect::<Vec<Seq>>(),
        "after created and joined"
    );
    let log: Vec<Seq> = a
        .read_log("rust", 0, 1000)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(log, (1..=402).collect::<Vec<Seq>>());
    assert_eq!(b.load_group("rust").unwrap().unwrap().head, 402);
}

#[test]
fn a_change_another_server_made_stale_is_refused_whole() {
    let database = Database::migrated();
    let (a, b) = (open(&database), open(&database));
    let join = |name: &str| {
        [
            Change::AddRequest {
                group: "rust".into(),
                name: name.into(),
            },
            Change::Approve {
                group: "rust".into(),
                name: name.into(),
                by: "ann".into(),
                floor: 0,
            },
        ]
    };
    a.apply(1, &[create("rust", "ann")]).unwrap();
    a.apply(2, &join("bob")).unwrap();
    a.apply(2, &join("cat")).unwrap();
    // Server b kicks bob; server a, not knowing, goes on as before.
    b.apply(
        3,
        &[Change::Kick {
            group: "rust".into(),
            name: "bob".into(),
            by: "ann".into(),
        }],
    )
    .unwrap();
    let head = a.load_group("rust").unwrap().unwrap().head;
    let stale = [
        vec![
            post("rust", "ann", "kept?"),
            post("rust", "bob", "still here?"),
        ],
        vec![Change::Kick {
            group: "rust".into(),
            name: "bob".into(),
            by: "ann".into(),
        }],
        vec![Change::Leave {
            group: "rust".into(),
            name: "bob".into(),
        }],
        vec![create("rust", "dan")],
        vec![Change::Approve {
            group: "rust".into(),
            name: "dan".into(),
            by: "ann".into(),
            floor: 0,
        }],
        vec![Change::RejectRequest {
            group: "rust".into(),
            name: "dan".into(),
        }],
        vec![Change::AddRequest {
            group: "rust".into(),
            name: "cat".into(),
        }],
        vec![Change::ChangeAdmin {
            group: "rust".into(),
            from: "ann".into(),
            to: "bob".into(),
        }],
        vec![post("gone", "ann", "anyone?")],
    ];
    for batch in stale {
        let error = a
            .apply(4, &batch)
            .err()
            .unwrap_or_else(|| panic!("{batch:?} refused"));
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{batch:?}: {error}"
        );
        assert!(error.to_string().contains("nothing was saved"), "{error}");
    }
    assert_eq!(
        a.load_group("rust").unwrap().unwrap().head,
        head,
        "nothing was written"
    );
    b.apply(
        5,
        &[Change::ChangeAdmin {
            group: "rust".into(),
            from: "ann".into(),
            to: "cat".into(),
        }],
    )
    .unwrap();
    let error = a
        .apply(
            6,
            &[Change::Kick {
                group: "rust".into(),
                name: "cat".into(),
                by: "ann".into(),
            }],
        )
        .expect_err("ann is no longer the admin");
    assert!(
        error.to_string().contains("ann is no longer its admin"),
        "{error}"
    );
    // What still holds goes through.
    let out = a.apply(7, &[post("rust", "ann", "hello")]).unwrap();
    assert_eq!(out[0].as_ref().unwrap().seq, head + 2);
}
