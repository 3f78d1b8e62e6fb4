//! Output: the full table, or one JSON object per case and line (`--json`).
//!
//! JSON lines are printed as each case finishes; the table waits for the
//! end of the run, below the answer tables (`answers`), while stderr shows
//! the progress. A figure that does not apply to a case is `-` in the
//! table and `null` in JSON (or, for the keys only some cases have,
//! absent), never a number.

use std::fmt::Write as _;
use std::io::{self, Write as _};

use super::compare::{PROBE_AGREEMENT, Ratio};
use super::json_row::JsonRow;
use super::measure::Figures;
use super::runner::Peers;

/// One finished case.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: &'static str,
    pub peers: Peers,
    pub size: usize,
    pub figures: Figures,
    /// Probe before and after the case, ns.
    pub probe_ns: [u64; 2],
    /// The case this one's ratio is taken against (the registry's
    /// `ratio_to`).
    pub ratio_to: Option<&'static str>,
}

/// Prints JSON lines at once, or keeps the table's lines for the end.
pub struct Report {
    json: bool,
    /// The full table's lines, in the order the cases ran.
    lines: Vec<String>,
    /// Each baseline used so far, with the cases whose ratio was taken
    /// against it, in the order printed (for the table's notes).
    ratios: Vec<(&'static str, Vec<&'static str>)>,
    /// The notes of rows printed without a ratio, for after the table.
    notes: Vec<(&'static str, &'static str)>,
}

impl Report {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            lines: Vec::new(),
            ratios: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A finished row and its ratio to its registry baseline.
    /// Fails only if stdout does (`--json` writes the row at once).
    pub fn add(&mut self, row: &Row, ratio: Option<Ratio>) -> io::Result<()> {
        if let Some(note) = row.figures.note() {
            self.notes.push((row.case, note));
        }
        if let Some(Ratio::Value { to: base, .. }) = ratio {
            match self.ratios.iter_mut().find(|(b, _)| *b == base) {
                Some((_, cases)) if cases.last() == Some(&row.case) => {} // another size
                Some((_, cases)) => cases.push(row.case),
                None => self.ratios.push((base, vec![row.case])),
            }
        }
        if self.json {
            let line = serde_json::to_string(&json_row(row, ratio))
                .expect("a JsonRow has no map keys or other value serde_json rejects");
            writeln!(io::stdout().lock(), "{line}")?;
        } else {
            self.lines.push(table_line(&table_cells(row, ratio)));
        }
        Ok(())
    }

    /// Marks a case that failed (its error went to stderr). JSON gets no
    /// line: every line on stdout is a complete measurement.
    pub fn failed(&mut self, case: &'static str, size: usize) {
        if !self.json {
            self.lines.push(format!(
                "{case:<18} FAILED at size {size} (error on stderr)"
            ));
        }
    }

    /// Prints `answers` (the answer tables), then the full table and what
    /// its columns mean.
    pub fn finish(&self, answers: &str) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        write!(out, "{answers}")?;
        writeln!(out, "All cases:")?;
        writeln!(out, "{}", table_line(&TABLE_HEADER.map(String::from)))?;
        for line in &self.lines {
            writeln!(out, "{line}")?;
        }
        writeln!(
            out,
            "rtt columns: round trip in ns. ratio: p50 / baseline's p50 (rtt), \
             msgs/s / baseline's msgs/s (tput).\n\
             wake/msg: futex wake syscalls per message from the rings' counters \
             (rtt: both rings, two messages per round trip). \
             cpu ms/s: CPU time the blocked consumer used per second of waiting (idle).\n\
             probe: median atomic round trip between the two cores before/after the case, ns. \
             A ratio is printed only when the four probes of the two rows are within \
             {PROBE_AGREEMENT}x; otherwise the pair is re-run interleaved, and `r` marks a ratio \
             (and figures) from such a re-run, `probes differ` one no re-run could give."
        )?;
        for (base, cases) in &self.ratios {
            writeln!(out, "ratio to {base}: {}", cases.join(", "))?;
        }
        for (case, note) in &self.notes {
            writeln!(out, "{case}: {note}")?;
        }
        Ok(())
    }
}

const COLUMNS: usize = 16;
const TABLE_HEADER: [&str; COLUMNS] = [
    "case", "mode", "peers", "size", "n", "p50", "p99", "p999", "max", "mean", "msgs/s", "GB/s",
    "wake/msg", "cpu ms/s", "ratio", "probe",
];
/// Column widths; negative = left-aligned.
const WIDTHS: [i32; COLUMNS] = [-26, -4, -6, 8, 10, 6, 6, 6, 8, 8, 11, 6, 8, 8, 6, 9];

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

fn table_cells(row: &Row, ratio: Option<Ratio>) -> [String; COLUMNS] {
    let dash = || "-".to_string();
    let (p50, p99, p999, max, mean) = match &row.figures {
        Figures::Rtt(r) => (
            r.p50_ns.to_string(),
            r.p99_ns.to_string(),
            r.p999_ns.to_string(),
            r.max_ns.to_string(),
            format!("{:.1}", r.mean_ns),
        ),
        Figures::Tput(_) | Figures::Idle(_) => (dash(), dash(), dash(), dash(), dash()),
    };
    let (msgs, gb) = match &row.figures {
        Figures::Tput(t) => (format!("{:.0}", t.msgs_per_s), format!("{:.3}", t.gb_per_s)),
        Figures::Rtt(_) | Figures::Idle(_) => (dash(), dash()),
    };
    let cpu = match &row.figures {
        Figures::Idle(i) => table_f64(i.cpu_ms_per_s),
        Figures::Rtt(_) | Figures::Tput(_) => dash(),
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
        row.figures.wakes_per_msg().map_or_else(dash, table_f64),
        cpu,
        ratio.map_or_else(dash, Ratio::cell),
        format!("{}/{}", row.probe_ns[0], row.probe_ns[1]),
    ]
}

/// A small non-negative figure in at most 8 characters, 3 significant
/// digits: `0` for zero, scientific below 0.001.
pub fn table_f64(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else {
        format!("{v:.decimals$}", decimals = sig_decimals(v, 3))
    }
}

/// Decimals that show `sig` significant digits of `v` (none past the
/// point for large values, at most 12).
fn sig_decimals(v: f64, sig: i32) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 0;
    }
    let magnitude = v.abs().log10().floor() as i32;
    usize::try_from((sig - 1 - magnitude).clamp(0, 12)).unwrap_or(0)
}

/// The `--json` line of a row (see [`JsonRow`] for the keys), figures
/// rounded to the precision the table shows or a little more; the small
/// ones to significant digits, so that none rounds to a false zero.
fn json_row(row: &Row, ratio: Option<Ratio>) -> JsonRow {
    let rtt = match &row.figures {
        Figures::Rtt(r) => Some(r),
        Figures::Tput(_) | Figures::Idle(_) => None,
    };
    let tput = match &row.figures {
        Figures::Tput(t) => Some(t),
        Figures::Rtt(_) | Figures::Idle(_) => None,
    };
    let cpu_ms_per_s = match &row.figures {
        Figures::Idle(i) => Some(i.cpu_ms_per_s),
        Figures::Rtt(_) | Figures::Tput(_) => None,
    };
    let four_digits = |v: f64| rounded(v, sig_decimals(v, 4));
    let (ratio_to, ratio_value, differ) = match ratio {
        Some(Ratio::Value { to, ratio, .. }) => (Some(to), Some(ratio), None),
        Some(Ratio::ProbesDiffer { to }) => (None, None, Some(to)),
        None => (None, None, None),
    };
    let note = tput.and_then(|t| t.note).map(str::to_string).or_else(|| {
        differ
            .map(|to| format!("probes differ from {to}'s (more than {PROBE_AGREEMENT}x); no ratio"))
    });
    JsonRow {
        case: row.case.to_string(),
        mode: row.figures.mode().to_string(),
        peers: row.peers.as_str().to_string(),
        size: row.size,
        n: row.figures.n(),
        rtt_p50_ns: rtt.map(|r| r.p50_ns),
        rtt_p99_ns: rtt.map(|r| r.p99_ns),
        rtt_p999_ns: rtt.map(|r| r.p999_ns),
        rtt_max_ns: rtt.map(|r| r.max_ns),
        rtt_mean_ns: rtt.and_then(|r| rounded(r.mean_ns, 1)),
        msgs_per_s: tput.and_then(|t| rounded(t.msgs_per_s, 0)),
        gb_per_s: tput.and_then(|t| four_digits(t.gb_per_s)),
        probe_ns: row.probe_ns,
        wakes_per_msg: row.figures.wakes_per_msg().and_then(four_digits),
        skipped: tput.and_then(|t| t.skipped),
        note,
        cpu_ms_per_s: cpu_ms_per_s.and_then(four_digits),
        ratio_to: ratio_to.map(str::to_string),
        ratio: ratio_value.and_then(|r| rounded(r, 3)),
    }
}

/// `v` rounded to `decimals` places; `None` if not finite (JSON has no NaN
/// or infinity).
fn rounded(v: f64, decimals: usize) -> Option<f64> {
    let scale = 10f64.powi(i32::try_from(decimals).unwrap_or(i32::MAX));
    v.is_finite().then(|| (v * scale).round() / scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::{IdleStats, RttStats, TputStats};

    fn rtt_stats(p50_ns: u64, wakes_per_msg: Option<f64>) -> RttStats {
        RttStats {
            n: 1000,
            p50_ns,
            p99_ns: 250,
            p999_ns: 400,
            max_ns: 40000,
            mean_ns: 185.25,
            wakes_per_msg,
            curve: [p50_ns, 250, 250, 400, 400],
        }
    }

    fn rtt_row() -> Row {
        Row {
            case: "spsc-rtt",
            peers: Peers::Proc,
            size: 8,
            figures: Figures::Rtt(rtt_stats(180, None)),
            probe_ns: [120, 121],
            ratio_to: Some("atomic-pingpong"),
        }
    }

    /// The line `--json` prints for `row`, and that line parsed back.
    fn value(to: &'static str, ratio: f64) -> Option<Ratio> {
        Some(Ratio::Value {
            to,
            ratio,
            rerun: false,
        })
    }

    fn json_line(row: &Row, ratio: Option<Ratio>) -> (String, JsonRow) {
        let line = serde_json::to_string(&json_row(row, ratio)).unwrap();
        let parsed = serde_json::from_str(&line).unwrap();
        (line, parsed)
    }

    #[test]
    fn json_rtt_line_has_nulls_for_tput() {
        let (line, parsed) = json_line(&rtt_row(), value("atomic-pingpong", 1.5));
        assert_eq!(
            line,
            "{\"case\":\"spsc-rtt\",\"mode\":\"rtt\",\"peers\":\"proc\",\"size\":8,\"n\":1000,\
             \"rtt_p50_ns\":180,\"rtt_p99_ns\":250,\"rtt_p999_ns\":400,\"rtt_max_ns\":40000,\
             \"rtt_mean_ns\":185.3,\"msgs_per_s\":null,\"gb_per_s\":null,\"probe_ns\":[120,121],\
             \"ratio_to\":\"atomic-pingpong\",\"ratio\":1.5}"
        );
        assert_eq!(parsed, json_row(&rtt_row(), value("atomic-pingpong", 1.5)));
    }

    #[test]
    fn json_tput_line_has_nulls_for_rtt_and_no_ratio_without_baseline() {
        let row = Row {
            case: "spsc-tput",
            peers: Peers::Proc,
            size: 8,
            figures: Figures::Tput(TputStats {
                n: 10,
                msgs_per_s: 1.234_567_8e8,
                // A slow stream: significant digits, not a rounded zero.
                gb_per_s: 0.000_043_216,
                wakes_per_msg: Some(0.000_012_345_6),
                skipped: None,
                note: None,
            }),
            probe_ns: [1, 2],
            ratio_to: Some("rtrb-tput"),
        };
        let (line, parsed) = json_line(&row, None);
        assert_eq!(parsed.rtt_p50_ns, None);
        assert!(line.contains("\"rtt_p50_ns\":null,"), "{line}");
        assert_eq!(parsed.msgs_per_s, Some(123_456_780.0));
        assert_eq!(parsed.gb_per_s, Some(0.000_043_22));
        assert_eq!(parsed.wakes_per_msg, Some(0.000_012_35));
        assert!(!line.contains("ratio"), "{line}");
        assert!(!line.contains("cpu_ms_per_s"), "{line}");
        assert!(!line.contains("skipped"), "{line}");
    }

    #[test]
    fn json_idle_line_has_cpu_and_nulls_for_rtt_and_tput() {
        let row = Row {
            case: "spsc-idle-cpu",
            peers: Peers::Proc,
            size: 8,
            figures: Figures::Idle(IdleStats { cpu_ms_per_s: 0.25 }),
            probe_ns: [1, 2],
            ratio_to: None,
        };
        let (line, parsed) = json_line(&row, None);
        assert!(line.contains("\"mode\":\"idle\",\"peers\":\"proc\",\"size\":8,\"n\":1,"));
        assert!(line.contains("\"rtt_p50_ns\":null,"), "{line}");
        assert!(
            line.contains("\"msgs_per_s\":null,\"gb_per_s\":null,"),
            "{line}"
        );
        assert!(line.ends_with(",\"cpu_ms_per_s\":0.25}"), "{line}");
        assert!(!line.contains("wakes_per_msg"), "{line}");
        assert_eq!(parsed.cpu_ms_per_s, Some(0.25));
    }

    #[test]
    fn a_json_line_without_an_always_present_key_does_not_parse() {
        let (line, _) = json_line(&rtt_row(), None);
        let without = line.replace("\"msgs_per_s\":null,", "");
        let e = serde_json::from_str::<JsonRow>(&without).unwrap_err();
        assert!(e.to_string().contains("msgs_per_s"), "{e}");
        let extra = line.replace("{", "{\"surprise\":1,");
        assert!(serde_json::from_str::<JsonRow>(&extra).is_err());
    }

    #[test]
    fn non_finite_figures_are_null_not_numbers() {
        assert_eq!(rounded(f64::NAN, 1), None);
        assert_eq!(rounded(f64::INFINITY, 0), None);
        assert_eq!(rounded(2.345_67, 2), Some(2.35));
    }

    #[test]
    fn ratios_follow_each_rows_baseline() {
        use crate::bench::compare::baseline;
        let row = |case, size, p50| Row {
            case,
            peers: Peers::Proc,
            size,
            figures: Figures::Rtt(rtt_stats(p50, Some(1.0))),
            probe_ns: [1, 1],
            ratio_to: None,
        };
        let mut done = vec![row("futex-rtt", 8, 4000)];
        assert_eq!(baseline(&done, "futex-rtt", 8).unwrap().case, "futex-rtt");
        // A baseline of one size serves every size.
        assert_eq!(baseline(&done, "futex-rtt", 64).unwrap().size, 8);
        assert!(baseline(&done, "spsc-rtt", 8).is_none(), "did not run");
        done.push(row("futex-rtt", 64, 5000));
        assert_eq!(baseline(&done, "futex-rtt", 64).unwrap().size, 64);
        assert!(
            baseline(&done, "futex-rtt", 16).is_none(),
            "two sizes, none 16"
        );
        done.push(Row {
            figures: Figures::Idle(IdleStats { cpu_ms_per_s: 1.0 }),
            ..row("spsc-idle-cpu", 8, 0)
        });
        assert!(
            baseline(&done, "spsc-idle-cpu", 8).is_none(),
            "no key figure"
        );
    }

    #[test]
    fn probes_differ_is_a_note_not_a_ratio() {
        let (line, parsed) = json_line(
            &rtt_row(),
            Some(Ratio::ProbesDiffer {
                to: "atomic-pingpong",
            }),
        );
        assert_eq!((parsed.ratio_to, parsed.ratio), (None, None), "{line}");
        assert!(
            parsed.note.is_some_and(|n| n.contains("probes differ")),
            "{line}"
        );
    }

    #[test]
    fn table_figures_fit_their_columns() {
        assert_eq!(table_f64(0.0), "0");
        assert_eq!(table_f64(1.0), "1.00");
        assert_eq!(table_f64(0.5), "0.500");
        assert_eq!(table_f64(0.012_34), "0.0123");
        assert_eq!(table_f64(0.000_012_34), "1.2e-5");
        assert_eq!(table_f64(123.4), "123");
    }
}
