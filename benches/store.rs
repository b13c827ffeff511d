//! The store's append path: one durable transaction per batch of posts, as
//! the hub commits them (group commit). Reports time per batch; divide by
//! the batch size for the cost of one message.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pyconchat::store::{Change, SqliteStore, Store};

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_append");
    for batch in [1_usize, 16, 256, 1024] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("open store");
        store
            .apply(
                0,
                &[Change::CreateGroup {
                    group: "bench".into(),
                    admin: "ann".into(),
                }],
            )
            .expect("create group");
        let changes: Vec<Change> = (0..batch)
            .map(|i| Change::Post {
                group: "bench".into(),
                from: "ann".into(),
                text: format!("{i:064}"),
            })
            .collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("posts", batch), &changes, |b, changes| {
            b.iter(|| store.apply(1, changes).expect("apply"));
        });
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
