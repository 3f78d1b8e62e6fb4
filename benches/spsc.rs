//! Criterion micro-benchmarks of the SPSC ring's per-operation cost on one
//! core (no cross-core traffic): push+pop, and a 64-item chunk round, on heap
//! and memfd storage. Cross-process figures come from `shmlane bench`.
//!
//! Run: `cargo bench --bench spsc`
#![allow(missing_docs, reason = "criterion generates the entry point")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shmlane::{Options, spsc};

type Ends = (spsc::Producer<u64>, spsc::Consumer<u64>);

fn rings() -> Vec<(&'static str, Ends)> {
    let opts = Options::new().capacity(1024);
    vec![
        ("heap", spsc::heap_pair(&opts).expect("heap pair")),
        ("memfd", spsc::pair(&opts).expect("memfd pair")),
    ]
}

fn push_pop(c: &mut Criterion) {
    let mut group = c.benchmark_group("spsc/push+pop");
    group.throughput(Throughput::Elements(1));
    for (storage, (mut tx, mut rx)) in rings() {
        group.bench_function(BenchmarkId::from_parameter(storage), |b| {
            let mut v = 0u64;
            b.iter(|| {
                v = v.wrapping_add(1);
                tx.push(black_box(v)).expect("room");
                black_box(rx.pop().expect("item"))
            })
        });
    }
    group.finish();
}

fn chunk_round(c: &mut Criterion) {
    const N: usize = 64;
    let mut group = c.benchmark_group("spsc/chunk64");
    group.throughput(Throughput::Elements(N as u64));
    for (storage, (mut tx, mut rx)) in rings() {
        group.bench_function(BenchmarkId::from_parameter(storage), |b| {
            let mut v = 0u64;
            b.iter(|| {
                let mut chunk = tx.write_chunk(N).expect("room");
                let (first, second) = chunk.as_mut_slices();
                for slot in first.iter_mut().chain(second) {
                    v = v.wrapping_add(1);
                    *slot = v;
                }
                chunk.commit_all();
                let chunk = rx.read_chunk(N).expect("items");
                let (first, second) = chunk.as_slices();
                let sum = first
                    .iter()
                    .chain(second)
                    .fold(0u64, |s, x| s.wrapping_add(*x));
                chunk.release_all();
                black_box(sum)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, push_pop, chunk_round);
criterion_main!(benches);
