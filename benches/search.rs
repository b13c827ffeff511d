//! Search at scale: 1,000,000 text messages over 100 groups, searched by a
//! member of 10 of them for two words (budget: p99 under 50 ms). The words
//! follow Zipf's law over a 5,000-word vocabulary, as natural language
//! does, so the queries range from words in most messages to words in a
//! few.
//!
//! Before criterion's timings, each query runs 1,000 times and its mean,
//! p50, p99 and maximum are printed, with how many messages it finds; also
//! for a member of all 100 groups, and for a member of one quiet group
//! (1,000 messages), whose hits are few among many matches elsewhere.

use std::{
    ops::Range,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pyconchat::store::{Change, SqliteStore, Store};

const MESSAGES: usize = 1_000_000;
const GROUPS: usize = 100;
const BATCH: usize = 1_000;
const VOCABULARY: usize = 5_000;
/// The group that gets one message of every batch, beside the busy ones.
const QUIET: usize = GROUPS;
/// Who searches, and which groups they are a member of.
const SEARCHERS: [(&str, Range<usize>); 3] = [
    ("sam", 0..10),
    ("ada", 0..GROUPS),
    ("quinn", QUIET..QUIET + 1),
];
/// As many hits as the protocol lets a client ask for.
const LIMIT: usize = 100;
const RUNS: usize = 1_000;

/// splitmix64: a fixed stream, so every run builds the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// The word of a given frequency rank (0 is the most frequent): two to
/// four syllables, distinct for every rank.
fn word(rank: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "du", "fi", "go", "ha", "je", "pu",
        "ze",
    ];
    let mut n = rank + SYLLABLES.len();
    let mut word = String::new();
    while n > 0 {
        word.insert_str(0, SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    word
}

/// Draws word ranks with probability proportional to 1 / (rank + 1).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Self { cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let target = rng.unit() * self.cumulative[self.cumulative.len() - 1];
        self.cumulative
            .partition_point(|c| *c < target)
            .min(self.cumulative.len() - 1)
    }
}

fn group(i: usize) -> String {
    format!("group{i:03}")
}

/// Builds the store in `dir`: the groups with the [`SEARCHERS`] in them,
/// then the messages, a batch at a time as the hub commits them.
fn build(dir: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::open(dir).expect("open store");
    let mut setup = Vec::new();
    for g in 0..=QUIET {
        setup.push(Change::CreateGroup {
            group: group(g),
            admin: format!("admin{g}"),
        });
        for (name, groups) in &SEARCHERS {
            if groups.contains(&g) {
                setup.push(Change::AddRequest {
                    group: group(g),
                    name: (*name).into(),
                });
                setup.push(Change::Approve {
                    group: group(g),
                    name: (*name).into(),
                    by: format!("admin{g}"),
                    floor: 0,
                });
            }
        }
    }
    store.apply(0, &setup).expect("create groups");
    let zipf = Zipf::new(VOCABULARY);
    let words: Vec<String> = (0..VOCABULARY).map(word).collect();
    let mut rng = Rng(7);
    for batch in 0..MESSAGES / BATCH {
        let posts: Vec<Change> = (0..BATCH)
            .map(|i| {
                let length = 3 + rng.below(18);
                let text: Vec<&str> = (0..length)
                    .map(|_| words[zipf.draw(&mut rng)].as_str())
                    .collect();
                Change::Post {
                    group: group(if i == 0 { QUIET } else { rng.below(GROUPS) }),
                    from: format!("user{}", rng.below(1_000)),
                    text: text.join(" "),
                }
            })
            .collect();
        store
            .apply(1 + batch as i64 * 1_000, &posts)
            .expect("post a batch");
    }
    store
}

/// Two-word queries, from words in most messages to words in a few.
fn queries() -> Vec<(&'static str, String)> {
    [
        ("common", 2, 7),
        ("frequent", 20, 60),
        ("typical", 200, 700),
        ("rare", 1_500, 4_000),
    ]
    .into_iter()
    .map(|(name, a, b)| (name, format!("{} {}", word(a), word(b))))
    .collect()
}

fn search(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let store = build(dir.path());
    let size = std::fs::metadata(dir.path().join(SqliteStore::FILE_NAME)).map_or(0, |m| m.len());
    println!(
        "built {MESSAGES} messages in {} groups in {:.1} s ({} MiB)",
        QUIET + 1,
        started.elapsed().as_secs_f64(),
        size >> 20
    );
    let queries = queries();
    for (searcher, groups) in &SEARCHERS {
        for (name, query) in &queries {
            let found = store.search(searcher, query, LIMIT).expect("search").len();
            let mut times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    let hits = store.search(searcher, query, LIMIT).expect("search");
                    let elapsed = started.elapsed();
                    assert_eq!(hits.len(), found);
                    elapsed
                })
                .collect();
            times.sort();
            let mean = times.iter().sum::<Duration>() / RUNS as u32;
            let at = |p: f64| times[((RUNS as f64 * p) as usize).min(RUNS - 1)];
            println!(
                "{searcher:<5} ({:>3} groups) {name:<9} {query:<14} {found:>3} hits  mean {mean:>9.3?}  p50 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}",
                groups.len(),
                at(0.50),
                at(0.99),
                times[RUNS - 1],
            );
        }
    }
    let mut group = c.benchmark_group("search_1m");
    for (name, query) in &queries {
        group.bench_with_input(BenchmarkId::new("two_words", name), query, |b, query| {
            b.iter(|| store.search("sam", query, LIMIT).expect("search"));
        });
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
