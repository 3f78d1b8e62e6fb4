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

use common::{JsonRow, ListedCase, TempPath, bench_list, bench_lock, json_run, run_bench, success};

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

/// True when the row says its probes and its baseline's disagreed.
fn probes_differ(row: &JsonRow) -> bool {
    row.note
        .as_deref()
        .is_some_and(|n| n.starts_with("probes differ"))
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
        // Every baseline ran, so every row with a ratio has one, unless
        // the probes of the pair disagreed through every re-run (a busy
        // machine): then a note says so instead. An idle figure has none.
        match (&case.ratio_to, row.mode.as_str()) {
            (Some(_), "rtt" | "tput") if probes_differ(row) => {
                assert_eq!((&row.ratio_to, row.ratio), (&None, None), "{row:?}");
            }
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
        assert_eq!(
            r.note.is_some(),
            r.case == "mpmc-tput-2p2c" || probes_differ(r),
            "{r:?}"
        );
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

/// Runs `shmlane bench <args>`, which must be refused: exit status 2, a
/// message on stderr containing each of `needles`, and no case run.
fn refused(args: &[&str], needles: &[&str]) {
    let all: Vec<&str> = ["bench"].iter().chain(args).copied().collect();
    let out = run_bench(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
    }
    assert!(out.stdout.is_empty(), "nothing runs on a bad option");
    assert!(
        !stderr.contains("shmlane bench: ["),
        "a case started: {stderr}"
    );
}

#[test]
fn unknown_case_is_an_error_naming_it() {
    refused(&["--case", "nosuch"], &["nosuch", "--list"]);
}

#[test]
fn unsupported_size_is_an_error_naming_case_and_size() {
    refused(&["--size", "64", "--case", "spsc-rtt"], &["spsc-rtt", "64"]);
}

#[test]
fn cores_that_do_not_exist_or_repeat_are_refused() {
    refused(&["--cores", "0,4095", "--case", "spsc-rtt"], &["4095"]);
    refused(&["--cores", "1,1", "--case", "spsc-rtt"], &["differ"]);
}

#[test]
fn zero_or_negative_seconds_are_refused() {
    refused(&["--secs", "0", "--case", "spsc-rtt"], &["(0, 3600]"]);
    refused(&["--secs=-1", "--case", "spsc-rtt"], &["(0, 3600]"]);
}

#[test]
fn an_unwritable_plot_directory_is_refused() {
    // A regular file where the directory's parent should be: no user,
    // root included, can make a directory under it.
    let file = TempPath::new("plot-parent");
    std::fs::write(&file.0, b"").unwrap();
    let dir = file.0.join("plots");
    refused(
        &["--plot", dir.to_str().unwrap(), "--case", "spsc-rtt"],
        &["--plot", "plots"],
    );
}

#[cfg(not(feature = "iceoryx2"))]
#[test]
fn iceoryx2_cases_without_the_feature_say_how_to_build_them() {
    refused(
        &["--case", "iceoryx2-rtt"],
        &["iceoryx2-rtt", "--features iceoryx2"],
    );
}

#[cfg(not(feature = "tokio"))]
#[test]
fn async_cases_without_the_feature_say_how_to_build_them() {
    for case in ["async-rtt", "async-tput", "async-idle-cpu", "tokio-uds-rtt"] {
        refused(&["--case", case], &[case, "--features tokio"]);
    }
}

#[test]
fn the_answer_tables_come_first_then_every_case() {
    let _lock = bench_lock();
    let out = run_bench(&[
        "bench",
        "--secs",
        SECS,
        "--case",
        "atomic-pingpong,spsc-rtt,rtrb-tput,spsc-tput,futex-rtt,spsc-blocking-rtt,spsc-idle-cpu",
    ]);
    let stdout = success(&out, "shmlane bench");
    let at = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in\n{stdout}"))
    };
    assert!(at("(a) Round trip") < at("(b) Throughput"));
    assert!(at("(b) Throughput") < at("(c) Blocking"));
    assert!(at("(c) Blocking") < at("All cases:"));
    // Each mechanism row of (a) names its case and has a ratio cell.
    let spsc = stdout
        .lines()
        .find(|l| l.starts_with("shm SPSC ring, busy"))
        .unwrap_or_else(|| panic!("no spsc row in\n{stdout}"));
    assert!(spsc.contains("spsc-rtt"), "{spsc}");
    // The blocking table shows the idle CPU of the blocking ring.
    let blocking = stdout
        .lines()
        .rfind(|l| l.starts_with("shm SPSC ring, blocking"))
        .unwrap();
    assert!(
        !blocking.contains(" - "),
        "wake/msg and idle cpu: {blocking}"
    );
    // Progress on stderr, one line per case when it is not a terminal.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[1/7] atomic-pingpong"), "{stderr}");
    assert!(stderr.contains("[7/7] spsc-idle-cpu"), "{stderr}");
    assert!(stderr.contains("left)"), "{stderr}");
}

#[test]
fn plot_writes_the_latency_curves_and_throughput_bars() {
    let dir = TempPath::new("plots");
    let _lock = bench_lock();
    let out = run_bench(&[
        "bench",
        "--quiet",
        "--secs",
        SECS,
        "--case",
        "atomic-pingpong,spsc-rtt,rtrb-tput,spsc-tput",
        "--plot",
        dir.str(),
    ]);
    success(&out, "shmlane bench --plot");
    let read = |name: &str| {
        let text = std::fs::read_to_string(dir.0.join(name)).unwrap();
        std::fs::remove_file(dir.0.join(name)).unwrap();
        text
    };
    let latency = read("latency.svg");
    assert!(latency.starts_with("<svg"), "{latency}");
    assert!(latency.contains("shm SPSC ring, busy") && latency.contains("p99.99"));
    let tput = read("throughput.svg");
    assert!(tput.contains("rtrb, threads") && tput.contains("shm SPSC ring, push/pop"));
    std::fs::remove_dir(&dir.0).unwrap();
}

#[test]
fn list_runs_nothing_and_takes_no_case_options() {
    let out = run_bench(&["bench", "--list", "--case", "spsc-rtt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--list"), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
}

/// Runs `shmlane <args>` with stdout a pipe whose reader is already gone
/// (`shmlane bench --list | head -1`, once `head` has its line) and
/// returns its output: stderr and the exit status.
fn into_a_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut cmd = common::shmlane();
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("the command starts");
    drop(cmd); // our copy of the pipe's write end
    common::finish_within(child, &args.join(" "), common::BENCH_LIMIT)
}

#[test]
fn a_report_into_a_closed_pipe_ends_quietly() {
    let listed = into_a_closed_pipe(&["bench", "--list"]);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(listed.status.success(), "{:?}: {stderr}", listed.status);
    assert!(stderr.is_empty(), "{stderr}");
    // A run whose first JSON line finds nobody reading: it stops there.
    let _lock = bench_lock();
    let ran = into_a_closed_pipe(&[
        "bench",
        "--json",
        "--quiet",
        "--secs",
        SECS,
        "--case",
        "atomic-pingpong",
    ]);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{:?}: {stderr}", ran.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
