//! `shmlane torture` as a user runs it: a short fixed-seed run over every
//! ring kind passes, prints its table, and leaves nothing in /dev/shm.

mod common;

use std::time::Duration;

use common::{finish_within, shmlane, start, success};

#[test]
fn a_short_fixed_seed_run_passes_and_leaves_nothing() {
    let mut cmd = shmlane();
    cmd.args(["torture", "--kind", "all", "--trials", "24", "--seed", "7"]);
    let out = finish_within(start(cmd), "shmlane torture", Duration::from_secs(240));
    let table = success(&out, "torture");
    for kind in ["spsc", "bytes", "mpmc"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row in:\n{table}"));
        assert!(row.split_whitespace().nth(1) == Some("24"), "{row}");
    }
    let prefix = table
        .lines()
        .find_map(|l| l.strip_prefix("segments: "))
        .and_then(|p| p.strip_suffix('*'))
        .unwrap_or_else(|| panic!("no segments line in:\n{table}"));
    let left = shmlane::registry::list_matching(prefix).expect("list");
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn zero_trials_is_a_usage_error() {
    let mut cmd = shmlane();
    cmd.args(["torture", "--trials", "0"]);
    let out = finish_within(start(cmd), "shmlane torture", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
}
