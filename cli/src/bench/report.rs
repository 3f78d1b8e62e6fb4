//! Output: a table, or one JSON object per case and line (`--json`).
//!
//! Rows are printed as each case finishes, so a long run shows progress.
//! A figure that does not apply to a case is `-` in the table and `null` in
//! JSON, never a number.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::affinity::Peers;
use super::measure::Figures;

/// One finished case.
pub struct Row {
    pub case: &'static str,
    pub peers: Peers,
    pub size: usize,
    pub figures: Figures,
    /// Probe before and after the case, ns.
    pub probe_ns: [u64; 2],
}

/// The case each mode's ratio is taken against.
fn baseline(figures: &Figures) -> &'static str {
    match figures {
        Figures::Rtt(_) => "atomic-pingpong",
        Figures::Tput(_) => "rtrb-tput",
    }
}

/// Prints rows and remembers the baselines' key figures for the ratios.
pub struct Report {
    json: bool,
    /// Key figure (see [`Figures::key`]) of every case printed so far.
    keys: HashMap<&'static str, f64>,
}

impl Report {
    /// Prints the table header unless `json`.
    pub fn new(json: bool) -> Self {
        if !json {
            println!("{}", table_line(&TABLE_HEADER.map(String::from)));
        }
        Self {
            json,
            keys: HashMap::new(),
        }
    }

    pub fn add(&mut self, row: &Row) {
        self.keys.insert(row.case, row.figures.key());
        let base = baseline(&row.figures);
        let ratio = self
            .keys
            .get(base)
            .filter(|&&k| k > 0.0)
            .map(|&k| (base, row.figures.key() / k));
        if self.json {
            println!("{}", json_line(row, ratio));
        } else {
            println!("{}", table_line(&table_cells(row, ratio)));
        }
    }

    /// Marks a case that failed (its error went to stderr). JSON gets no
    /// line: every line on stdout is a complete measurement.
    pub fn failed(&mut self, case: &'static str) {
        // A failed baseline leaves later rows without a ratio.
        self.keys.remove(case);
        if !self.json {
            println!("{case:<16} FAILED (error on stderr)");
        }
    }

    /// Explains the columns, after the table.
    pub fn finish(&self) {
        if !self.json {
            println!(
                "rtt columns: round trip in ns. ratio: p50 / atomic-pingpong p50 (rtt), \
                 msgs/s / rtrb-tput msgs/s (tput).\n\
                 probe: median atomic round trip between the two cores before/after the case, ns; \
                 compare rows only when their probes agree."
            );
        }
    }
}

const COLUMNS: usize = 14;
const TABLE_HEADER: [&str; COLUMNS] = [
    "case", "mode", "peers", "size", "n", "p50", "p99", "p999", "max", "mean", "msgs/s", "GB/s",
    "ratio", "probe",
];
/// Column widths; negative = left-aligned.
const WIDTHS: [i32; COLUMNS] = [-16, -4, -6, 4, 10, 6, 6, 6, 8, 8, 11, 6, 6, 9];

fn table_line(cells: &[String; COLUMNS]) -> String {
    let mut line = String::new();
    for (cell, &w) in cells.iter().zip(WIDTHS.iter()) {
        let width = w.unsigned_abs() as usize;
        if w < 0 {
            let _ = write!(line, "{cell:<width$} ");
        } else {
            let _ = write!(line, "{cell:>width$} ");
        }
    }
    line.trim_end().to_string()
}

fn table_cells(row: &Row, ratio: Option<(&str, f64)>) -> [String; COLUMNS] {
    let dash = || "-".to_string();
    let (p50, p99, p999, max, mean) = match &row.figures {
        Figures::Rtt(r) => (
            r.p50_ns.to_string(),
            r.p99_ns.to_string(),
            r.p999_ns.to_string(),
            r.max_ns.to_string(),
            format!("{:.1}", r.mean_ns),
        ),
        Figures::Tput(_) => (dash(), dash(), dash(), dash(), dash()),
    };
    let (msgs, gb) = match &row.figures {
        Figures::Tput(t) => (format!("{:.0}", t.msgs_per_s), format!("{:.3}", t.gb_per_s)),
        Figures::Rtt(_) => (dash(), dash()),
    };
    [
        row.case.to_string(),
        row.figures.mode().to_string(),
        row.peers.as_str().to_string(),
        row.size.to_string(),
        row.figures.n().to_string(),
        p50,
        p99,
        p999,
        max,
        mean,
        msgs,
        gb,
        ratio.map_or_else(dash, |(_, r)| format!("{r:.2}")),
        format!("{}/{}", row.probe_ns[0], row.probe_ns[1]),
    ]
}

/// The DESIGN.md line: fixed keys in a fixed order, `null` where a key does
/// not apply, `ratio_to`/`ratio` only when the baseline ran.
fn json_line(row: &Row, ratio: Option<(&str, f64)>) -> String {
    let null = || "null".to_string();
    let rtt = match &row.figures {
        Figures::Rtt(r) => Some(r),
        Figures::Tput(_) => None,
    };
    let tput = match &row.figures {
        Figures::Tput(t) => Some(t),
        Figures::Rtt(_) => None,
    };
    let int = |v: Option<u64>| v.map_or_else(null, |v| v.to_string());
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"case\":{},\"mode\":{},\"peers\":{},\"size\":{},\"n\":{}",
        json_str(row.case),
        json_str(row.figures.mode()),
        json_str(row.peers.as_str()),
        row.size,
        row.figures.n()
    );
    let _ = write!(
        s,
        ",\"rtt_p50_ns\":{},\"rtt_p99_ns\":{},\"rtt_p999_ns\":{},\"rtt_max_ns\":{},\"rtt_mean_ns\":{}",
        int(rtt.map(|r| r.p50_ns)),
        int(rtt.map(|r| r.p99_ns)),
        int(rtt.map(|r| r.p999_ns)),
        int(rtt.map(|r| r.max_ns)),
        rtt.map_or_else(null, |r| json_f64(r.mean_ns, 1)),
    );
    let _ = write!(
        s,
        ",\"msgs_per_s\":{},\"gb_per_s\":{},\"probe_ns\":[{},{}]",
        tput.map_or_else(null, |t| json_f64(t.msgs_per_s, 0)),
        tput.map_or_else(null, |t| json_f64(t.gb_per_s, 4)),
        row.probe_ns[0],
        row.probe_ns[1],
    );
    if let Some((to, r)) = ratio {
        let _ = write!(
            s,
            ",\"ratio_to\":{},\"ratio\":{}",
            json_str(to),
            json_f64(r, 3)
        );
    }
    s.push('}');
    s
}

/// A JSON number with `decimals` digits; `null` if not finite (JSON has no
/// NaN or infinity).
fn json_f64(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "null".to_string()
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::{RttStats, TputStats};

    fn rtt_row() -> Row {
        Row {
            case: "spsc-rtt",
            peers: Peers::Proc,
            size: 8,
            figures: Figures::Rtt(RttStats {
                n: 1000,
                p50_ns: 180,
                p99_ns: 250,
                p999_ns: 400,
                max_ns: 40000,
                mean_ns: 185.25,
            }),
            probe_ns: [120, 121],
        }
    }

    #[test]
    fn json_rtt_line_has_nulls_for_tput() {
        let line = json_line(&rtt_row(), Some(("atomic-pingpong", 1.5)));
        assert_eq!(
            line,
            "{\"case\":\"spsc-rtt\",\"mode\":\"rtt\",\"peers\":\"proc\",\"size\":8,\"n\":1000,\
             \"rtt_p50_ns\":180,\"rtt_p99_ns\":250,\"rtt_p999_ns\":400,\"rtt_max_ns\":40000,\
             \"rtt_mean_ns\":185.2,\"msgs_per_s\":null,\"gb_per_s\":null,\"probe_ns\":[120,121],\
             \"ratio_to\":\"atomic-pingpong\",\"ratio\":1.500}"
        );
    }

    #[test]
    fn json_tput_line_has_nulls_for_rtt_and_no_ratio_without_baseline() {
        let row = Row {
            case: "spsc-tput",
            peers: Peers::Proc,
            size: 8,
            figures: Figures::Tput(TputStats {
                n: 10,
                msgs_per_s: 1e8,
                gb_per_s: 0.8,
            }),
            probe_ns: [1, 2],
        };
        let line = json_line(&row, None);
        assert!(line.contains("\"rtt_p50_ns\":null,"), "{line}");
        assert!(
            line.contains("\"msgs_per_s\":100000000,\"gb_per_s\":0.8000,"),
            "{line}"
        );
        assert!(!line.contains("ratio"), "{line}");
    }

    #[test]
    fn json_str_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
