//! Runs the built `shmlane bench`: every registered case (from `--list`)
//! at a tiny `--secs`, the figures of each `--json` line for its mode,
//! ratios, and the errors for bad options. Asserts no durations: speed
//! lives in the benchmark itself.
//!
//! Every run is under the watchdog of `common` (a hung case fails its test
//! with a message instead of hanging CI), and the tests that run cases
//! hold the bench lock, so that no two pin and spin on cores 0 and 1 at
//! once.

mod common;

use common::{JsonRow, ListedCase, bench_list, bench_lock, json_run, run_bench};

/// Seconds of measurement per case: the harnesses' minimum counts
/// (10k warm-up round trips, a batch of messages per repetition) still
/// apply, so every case measures something, and all of them together
/// take seconds.
const SECS: &str = "0.01";

/// Checks the figures every line of `case` must have, for its mode. The
/// ratio is the caller's: it depends on which cases ran.
fn check_figures(row: &JsonRow, case: &ListedCase) {
    assert_eq!(row.case, case.name);
    assert_eq!(row.peers, case.peers, "{row:?}");
    assert!(case.sizes.contains(&row.size), "{row:?}");
    assert!(row.n > 0, "{row:?}");
    assert!(row.probe_ns.iter().all(|&p| p > 0), "{row:?}");
    let rtt = [
        row.rtt_p50_ns,
        row.rtt_p99_ns,
        row.rtt_p999_ns,
        row.rtt_max_ns,
    ];
    match row.mode.as_str() {
        "rtt" => {
            let [p50, p99, p999, max] = rtt.map(|v| v.unwrap_or_else(|| panic!("{row:?}")));
            assert!(
                0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
                "{row:?}"
            );
            assert!(row.rtt_mean_ns.is_some_and(|m| m > 0.0), "{row:?}");
            assert_eq!((row.msgs_per_s, row.gb_per_s), (None, None), "{row:?}");
        }
        "tput" => {
            assert!(row.msgs_per_s.is_some_and(|v| v > 0.0), "{row:?}");
            assert!(row.gb_per_s.is_some_and(|v| v > 0.0), "{row:?}");
            assert_eq!((rtt, row.rtt_mean_ns), ([None; 4], None), "{row:?}");
        }
        "idle" => {
            assert_eq!(row.n, 1, "one wait: {row:?}");
            assert_eq!((rtt, row.rtt_mean_ns), ([None; 4], None), "{row:?}");
            assert_eq!((row.msgs_per_s, row.gb_per_s), (None, None), "{row:?}");
            // Zero is a true figure: a short wait may cost less CPU than
            // the kernel's accounting resolves.
            assert!(row.cpu_ms_per_s.is_some_and(|v| v >= 0.0), "{row:?}");
        }
        other => panic!("mode {other} is none of rtt, tput, idle: {row:?}"),
    }
    assert_eq!(row.mode == "idle", row.cpu_ms_per_s.is_some(), "{row:?}");
    if let Some(wakes) = row.wakes_per_msg {
        assert!(wakes >= 0.0, "{row:?}");
    }
}

#[test]
fn every_case_runs_and_reports_the_figures_of_its_mode() {
    let cases = bench_list();
    assert!(!cases.is_empty(), "--list printed no case");
    let _lock = bench_lock();
    let rows = json_run(&["--secs", SECS]);

    // One line per case and size, in the order of the registry.
    let expected: Vec<(&ListedCase, usize)> = cases
        .iter()
        .flat_map(|case| case.sizes.iter().map(move |&size| (case, size)))
        .collect();
    let lines: Vec<(&str, usize)> = rows.iter().map(|r| (r.case.as_str(), r.size)).collect();
    let wanted: Vec<(&str, usize)> = expected
        .iter()
        .map(|(c, s)| (c.name.as_str(), *s))
        .collect();
    assert_eq!(lines, wanted, "one --json line per case and size");

    for (row, (case, _)) in rows.iter().zip(&expected) {
        check_figures(row, case);
        // Every baseline ran, so every row with a ratio has one; an idle
        // figure has none.
        match (&case.ratio_to, row.mode.as_str()) {
            (Some(base), "rtt" | "tput") => {
                assert_eq!(row.ratio_to.as_ref(), Some(base), "{row:?}");
                assert!(row.ratio.is_some_and(|r| r > 0.0), "{row:?}");
            }
            _ => assert_eq!((&row.ratio_to, row.ratio), (&None, None), "{row:?}"),
        }
    }

    let row = |name: &str| rows.iter().find(|r| r.case == name).unwrap();
    // No ring, no counters: the key is left out, not faked.
    assert_eq!(row("futex-rtt").wakes_per_msg, None);
    // Both sides park at once: messages need wakes.
    assert!(
        row("spsc-blocking-rtt")
            .wakes_per_msg
            .is_some_and(|w| w > 0.0)
    );
    // Only the two-by-two MPMC stream counts skipped slots; on two cores
    // it says why it has no ratio instead of printing one.
    for r in &rows {
        assert_eq!(r.skipped.is_some(), r.case == "mpmc-tput-2p2c", "{r:?}");
        assert_eq!(r.note.is_some(), r.case == "mpmc-tput-2p2c", "{r:?}");
    }
    assert_eq!(row("mpmc-tput-2p2c").ratio, None);
    // A parked pool answers every message after a wake.
    assert!(
        row("mpmc-fanout-rtt")
            .wakes_per_msg
            .is_some_and(|w| w > 0.0)
    );
}

#[test]
fn a_ratio_needs_its_baseline_in_the_same_run() {
    let cases = bench_list();
    let listed = |name: &str| cases.iter().find(|c| c.name == name).unwrap();
    let _lock = bench_lock();
    let rows = json_run(&["--secs", SECS, "--case", "atomic-pingpong,spsc-tput"]);
    let [pingpong, tput] = rows.as_slice() else {
        panic!("one line per case expected: {rows:?}");
    };
    check_figures(pingpong, listed("atomic-pingpong"));
    check_figures(tput, listed("spsc-tput"));
    // The baseline ran: its own ratio is 1.
    assert_eq!(pingpong.ratio_to.as_deref(), Some("atomic-pingpong"));
    assert_eq!(pingpong.ratio, Some(1.0));
    // rtrb-tput did not run, so there is no throughput ratio.
    assert_eq!(listed("spsc-tput").ratio_to.as_deref(), Some("rtrb-tput"));
    assert_eq!((&tput.ratio_to, tput.ratio), (&None, None), "{tput:?}");
}

#[test]
fn unknown_case_is_an_error_naming_it() {
    let out = run_bench(&["bench", "--case", "nosuch"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nosuch"), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing runs on a bad option");
}

#[test]
fn unsupported_size_is_an_error_naming_case_and_size() {
    let out = run_bench(&["bench", "--size", "64", "--case", "spsc-rtt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spsc-rtt") && stderr.contains("64"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing runs on a bad option");
}

#[test]
fn list_runs_nothing_and_takes_no_case_options() {
    let out = run_bench(&["bench", "--list", "--case", "spsc-rtt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--list"), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
}
