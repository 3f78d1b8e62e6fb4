//! Runs the built `shmlane` binary: JSON output shape, and the errors for
//! bad options. Asserts no durations: speed lives in the benchmark itself.
//!
//! The benchmarks pin two processes to cores 0 and 1 and spin: the tests
//! that run one take [`BENCH_LOCK`] so that they never run at once, and
//! every run is under a watchdog, so a hung case fails its test with a
//! message instead of hanging CI.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Longest a `shmlane bench` run of these tests may take; its own
/// watchdogs end a stuck spin in 10 s, a stuck blocking call never.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Held by every test that runs benchmark cases.
static BENCH_LOCK: Mutex<()> = Mutex::new(());

fn bench_lock() -> MutexGuard<'static, ()> {
    // A test that failed while holding it leaves nothing to clean up.
    BENCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `shmlane args`; kills it (its benchmark child dies with it) and
/// fails the test if it runs longer than [`RUN_LIMIT`].
fn shmlane(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_shmlane"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the shmlane binary runs");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(RUN_LIMIT) {
        Ok(output) => {
            waiter.join().expect("the waiting thread does not panic");
            output.expect("waiting for the shmlane binary")
        }
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            let output = done_rx.recv().ok().and_then(Result::ok);
            let stderr = output.map_or_else(String::new, |o| {
                String::from_utf8_lossy(&o.stderr).into_owned()
            });
            panic!(
                "shmlane {} did not finish within {} s (a blocking call hung?); killed. stderr:\n{stderr}",
                args.join(" "),
                RUN_LIMIT.as_secs()
            );
        }
    }
}

/// The value of `"key":` in a flat JSON object line, as raw text.
fn raw_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    let end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}

fn positive(line: &str, key: &str) -> f64 {
    let raw = raw_value(line, key).unwrap_or_else(|| panic!("no key {key} in {line}"));
    let v: f64 = raw
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {line}"));
    assert!(v > 0.0, "{key} = {v} is not positive in {line}");
    v
}

fn null(line: &str, key: &str) {
    assert_eq!(
        raw_value(line, key),
        Some("null"),
        "{key} should be null in {line}"
    );
}

const KEYS: [&str; 13] = [
    "case",
    "mode",
    "peers",
    "size",
    "n",
    "rtt_p50_ns",
    "rtt_p99_ns",
    "rtt_p999_ns",
    "rtt_max_ns",
    "rtt_mean_ns",
    "msgs_per_s",
    "gb_per_s",
    "probe_ns",
];

/// Runs the cases with `--json --secs 0.2` and returns stdout's lines,
/// after checking that the run succeeded and printed one line per case
/// with every DESIGN.md key.
fn json_run(cases: &str) -> Vec<String> {
    let out = shmlane(&["bench", "--json", "--secs", "0.2", "--case", cases]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}\n{stdout}");
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(
        lines.len(),
        cases.split(',').count(),
        "one line per case expected:\n{stdout}"
    );
    for line in &lines {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not an object: {line}"
        );
        for key in KEYS {
            assert!(
                raw_value(line, key).is_some(),
                "key {key} missing in {line}"
            );
        }
    }
    lines
}

const RTT_KEYS: [&str; 5] = [
    "rtt_p50_ns",
    "rtt_p99_ns",
    "rtt_p999_ns",
    "rtt_max_ns",
    "rtt_mean_ns",
];

#[test]
fn blocking_cases_report_their_figures() {
    let _lock = bench_lock();
    let lines = json_run("futex-rtt,spsc-blocking-rtt,spsc-idle-cpu");
    for (line, case) in lines
        .iter()
        .zip(["futex-rtt", "spsc-blocking-rtt", "spsc-idle-cpu"])
    {
        assert_eq!(
            raw_value(line, "case"),
            Some(format!("\"{case}\"").as_str())
        );
        assert_eq!(raw_value(line, "size"), Some("8"));
        assert_eq!(raw_value(line, "peers"), Some("\"proc\""));
        positive(line, "n");
    }

    let [futex, blocking, idle] = [&lines[0], &lines[1], &lines[2]];
    for line in [futex, blocking] {
        assert_eq!(raw_value(line, "mode"), Some("\"rtt\""));
        for key in RTT_KEYS {
            positive(line, key);
        }
        null(line, "msgs_per_s");
        null(line, "gb_per_s");
        // Both are taken against the futex baseline, which ran first.
        assert_eq!(raw_value(line, "ratio_to"), Some("\"futex-rtt\""));
        positive(line, "ratio");
        assert_eq!(raw_value(line, "cpu_ms_per_s"), None, "{line}");
    }
    // No ring, no counters: the key is left out, not faked.
    assert_eq!(raw_value(futex, "wakes_per_msg"), None, "{futex}");
    // Both sides park at once: messages need wakes.
    positive(blocking, "wakes_per_msg");

    assert_eq!(raw_value(idle, "mode"), Some("\"idle\""));
    assert_eq!(raw_value(idle, "n"), Some("1"));
    for key in RTT_KEYS.iter().chain(&["msgs_per_s", "gb_per_s"]) {
        null(idle, key);
    }
    positive(idle, "cpu_ms_per_s");
    assert_eq!(raw_value(idle, "ratio"), None, "{idle}");
}

/// The two half-chunked streams: every value arrives in order (the bench
/// checks each one) and each row is a ratio to rtrb's stream.
#[test]
fn half_chunked_streams_run_against_rtrb() {
    let _lock = bench_lock();
    let cases = ["rtrb-tput", "spsc-chunkwrite-tput", "spsc-chunkread-tput"];
    let lines = json_run(&cases.join(","));
    for (line, case) in lines.iter().zip(cases) {
        assert_eq!(
            raw_value(line, "case"),
            Some(format!("\"{case}\"").as_str())
        );
        assert_eq!(raw_value(line, "mode"), Some("\"tput\""));
        assert_eq!(raw_value(line, "size"), Some("8"));
        positive(line, "msgs_per_s");
        assert_eq!(raw_value(line, "ratio_to"), Some("\"rtrb-tput\""));
        positive(line, "ratio");
    }
    assert_eq!(raw_value(&lines[1], "peers"), Some("\"proc\""));
    assert_eq!(raw_value(&lines[2], "peers"), Some("\"proc\""));
}

#[test]
fn json_lines_have_the_design_keys() {
    let _lock = bench_lock();
    let out = shmlane(&[
        "bench",
        "--json",
        "--secs",
        "0.2",
        "--case",
        "atomic-pingpong,spsc-tput",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per case expected:\n{stdout}");

    for line in &lines {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not an object: {line}"
        );
        for key in KEYS {
            assert!(
                raw_value(line, key).is_some(),
                "key {key} missing in {line}"
            );
        }
        assert_eq!(raw_value(line, "size"), Some("8"));
        assert_eq!(raw_value(line, "peers"), Some("\"proc\""));
        positive(line, "n");
        let probe = raw_value(line, "probe_ns").unwrap();
        let probes: Vec<f64> = probe
            .trim_matches(['[', ']'])
            .split(',')
            .map(|p| p.parse().expect("probe is a number"))
            .collect();
        assert_eq!(probes.len(), 2, "probe_ns is [before, after]: {line}");
        assert!(probes.iter().all(|&p| p > 0.0), "{line}");
    }

    let rtt = lines[0];
    assert_eq!(raw_value(rtt, "case"), Some("\"atomic-pingpong\""));
    assert_eq!(raw_value(rtt, "mode"), Some("\"rtt\""));
    for key in [
        "rtt_p50_ns",
        "rtt_p99_ns",
        "rtt_p999_ns",
        "rtt_max_ns",
        "rtt_mean_ns",
    ] {
        positive(rtt, key);
    }
    assert!(positive(rtt, "rtt_p50_ns") <= positive(rtt, "rtt_max_ns"));
    null(rtt, "msgs_per_s");
    null(rtt, "gb_per_s");
    // The baseline ran: its own ratio is 1.
    assert_eq!(raw_value(rtt, "ratio_to"), Some("\"atomic-pingpong\""));

    let tput = lines[1];
    assert_eq!(raw_value(tput, "case"), Some("\"spsc-tput\""));
    assert_eq!(raw_value(tput, "mode"), Some("\"tput\""));
    positive(tput, "msgs_per_s");
    positive(tput, "gb_per_s");
    for key in [
        "rtt_p50_ns",
        "rtt_p99_ns",
        "rtt_p999_ns",
        "rtt_max_ns",
        "rtt_mean_ns",
    ] {
        null(tput, key);
    }
    // rtrb-tput did not run, so there is no throughput ratio.
    assert_eq!(raw_value(tput, "ratio"), None, "{tput}");
}

#[test]
fn unknown_case_is_an_error_naming_it() {
    let out = shmlane(&["bench", "--case", "nosuch"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nosuch"), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing runs on a bad option");
}

#[test]
fn unsupported_size_is_an_error_naming_case_and_size() {
    let out = shmlane(&["bench", "--size", "64", "--case", "spsc-rtt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spsc-rtt") && stderr.contains("64"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing runs on a bad option");
}
