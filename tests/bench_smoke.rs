//! A short run of `pyconchat bench` against its embedded server: every
//! message must reach every member once. No timing is asserted; the numbers
//! belong in docs/performance.md, not in the test suite.

use pyconchat::bench::{BenchOptions, run};

fn small(groups: usize, clients: usize, publishers: usize) -> BenchOptions {
    BenchOptions {
        clients,
        groups,
        publishers,
        duration: 0.5,
        quiet: true,
        ..BenchOptions::default()
    }
}

#[test]
fn flat_out_delivers_every_message_once() {
    let report = run(&small(2, 8, 1)).expect("the bench runs");
    assert!(report.deliveries > 0, "{report}");
    assert_eq!(report.gaps, 0, "{report}");
    assert_eq!(report.duplicates, 0, "{report}");
    assert_eq!(report.misrouted, 0, "{report}");
    assert_eq!(report.messages_accepted, report.messages_sent, "{report}");
    // Each member of a group of 4 receives every message of its group.
    assert_eq!(report.deliveries, report.messages_sent * 4, "{report}");
    assert!(report.errors.is_empty(), "{report}");
}

#[test]
fn one_large_group_is_not_held_back_by_flood_control() {
    // More join requests at once than a group normally holds, and a
    // publisher faster than a person: the bench's server allows both.
    let report = run(&small(1, 150, 1)).expect("the bench runs");
    assert_eq!(report.gaps + report.duplicates, 0, "{report}");
    assert_eq!(report.deliveries, report.messages_sent * 150, "{report}");
    assert!(report.messages_sent > 100, "{report}");
}

#[test]
fn each_client_in_several_groups_on_one_connection() {
    // 12 clients, 4 in each of 3 groups first; each client also joins the
    // next two groups, so every group has all 12 as members.
    let options = BenchOptions {
        groups_per_client: 3,
        ..small(3, 12, 1)
    };
    let report = run(&options).expect("the bench runs");
    assert!(report.deliveries > 0, "{report}");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.members_per_group, (12, 12), "{report}");
    assert_eq!(report.deliveries, report.messages_sent * 12, "{report}");
    assert!(report.errors.is_empty(), "{report}");
}

#[test]
fn a_fixed_rate_with_several_publishers_per_group() {
    let options = BenchOptions {
        rate: Some(200.0),
        size: 300,
        ..small(1, 5, 2)
    };
    let report = run(&options).expect("the bench runs");
    assert!(report.deliveries > 0, "{report}");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.deliveries, report.messages_sent * 5, "{report}");
    let json = serde_json::to_value(&report).expect("the report serializes");
    assert_eq!(json["gaps"], 0);
    assert!(json["latency"]["p99_us"].is_number());
}

#[test]
fn refuses_options_that_make_no_sense() {
    for options in [
        small(0, 8, 1),
        small(4, 2, 1),
        small(2, 8, 5),
        BenchOptions {
            size: 10,
            ..small(1, 2, 1)
        },
        BenchOptions {
            groups_per_client: 0,
            ..small(2, 8, 1)
        },
        BenchOptions {
            groups_per_client: 3,
            ..small(2, 8, 1)
        },
    ] {
        assert!(run(&options).is_err(), "{options:?}");
    }
}
