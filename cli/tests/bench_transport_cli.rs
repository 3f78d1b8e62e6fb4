//! The transport bench cases, each beside its raw baseline: registered
//! after it with their ratio taken against it, and refusing sizes they
//! cannot send. They run, with every other case, in `bench_cli.rs`
//! (`every_case_runs_and_reports_the_figures_of_its_mode`), which also
//! checks each row's ratio to the baseline measured in the same run.

mod common;

use common::{bench_list, run_bench};

/// Each transport case and its baseline, in registry order.
const PAIRS: [(&str, &str); 7] = [
    ("pipe-rtt", "pipe-rtt-raw"),
    ("fifo-rtt", "fifo-rtt-raw"),
    ("mq-rtt", "mq-rtt-raw"),
    ("sysvmq-rtt", "sysvmq-rtt-raw"),
    ("unix-rtt", "uds-rtt-raw"),
    ("seqpacket-rtt", "seqpacket-rtt-raw"),
    ("tcp-rtt", "tcp-rtt-raw"),
];

#[test]
fn every_transport_case_is_registered_after_its_raw_baseline() {
    let cases = bench_list();
    let position = |name: &str| {
        cases
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} is not registered: {cases:?}"))
    };
    for (case, base) in PAIRS {
        let (at, base_at) = (position(case), position(base));
        assert!(base_at < at, "{base} runs after {case}");
        for (listed, ratio_to) in [(&cases[base_at], base), (&cases[at], base)] {
            assert_eq!(listed.ratio_to.as_deref(), Some(ratio_to), "{listed:?}");
            assert_eq!(listed.peers, "proc", "{listed:?}");
            assert!(listed.sizes.contains(&64), "{listed:?}");
        }
    }
}

#[test]
fn the_transport_cases_refuse_sizes_they_cannot_send() {
    let out = run_bench(&["bench", "--size", "16", "--case", "mq-rtt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mq-rtt") && stderr.contains("64"),
        "{stderr}"
    );
}
