//! Runs the built `shmlane` binary: JSON output shape, and the errors for
//! bad options. Asserts no durations: speed lives in the benchmark itself.

use std::process::{Command, Output};

fn shmlane(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmlane"))
        .args(args)
        .output()
        .expect("the shmlane binary runs")
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

#[test]
fn json_lines_have_the_design_keys() {
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
