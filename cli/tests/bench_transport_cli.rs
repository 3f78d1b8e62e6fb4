//! The transport bench cases run, each beside its raw baseline: one JSON
//! line per case with the round-trip figures and the ratio to the
//! baseline measured in the same run. Asserts no durations.

use std::process::Command;

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

/// The value of `"key":` in a flat JSON object line, as raw text.
fn raw_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}

#[test]
fn every_transport_case_runs_beside_its_raw_baseline() {
    let cases: Vec<&str> = PAIRS
        .iter()
        .flat_map(|(case, base)| [*base, *case])
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_shmlane"))
        .args([
            "bench", "--json", "--secs", "0.05", "--size", "64", "--case",
        ])
        .arg(cases.join(","))
        .output()
        .expect("the shmlane binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "one line per case:\n{stdout}");
    for (case, base) in PAIRS {
        for (name, ratio_to) in [(base, base), (case, base)] {
            let line = lines
                .iter()
                .find(|l| raw_value(l, "case") == Some(&format!("\"{name}\"")))
                .unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"));
            assert_eq!(raw_value(line, "mode"), Some("\"rtt\""), "{line}");
            assert_eq!(raw_value(line, "size"), Some("64"), "{line}");
            assert_eq!(raw_value(line, "peers"), Some("\"proc\""), "{line}");
            assert_eq!(
                raw_value(line, "ratio_to"),
                Some(format!("\"{ratio_to}\"").as_str()),
                "{line}"
            );
            for key in ["rtt_p50_ns", "rtt_max_ns", "ratio", "n"] {
                let v: f64 = raw_value(line, key)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{key} missing in {line}"));
                assert!(v > 0.0, "{key} in {line}");
            }
        }
    }
}

#[test]
fn the_transport_cases_refuse_sizes_they_cannot_send() {
    let out = Command::new(env!("CARGO_BIN_EXE_shmlane"))
        .args(["bench", "--size", "16", "--case", "mq-rtt"])
        .output()
        .expect("the shmlane binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mq-rtt") && stderr.contains("64"),
        "{stderr}"
    );
}
