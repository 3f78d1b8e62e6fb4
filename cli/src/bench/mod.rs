//! `shmlane bench`: its options, and running the cases they select.
//!
//! Layout: `cases` (the registry, one line per case, and the cases
//! themselves), `measure` (the rtt and tput harnesses), `affinity` (pinning),
//! `runner` (the fork/thread helper that starts a case's peer), `spin`
//! (busy waiting with a watchdog), `shared` (a page of process-shared
//! atomics), `probe` (the per-case core-to-core probe), `compare` (honest
//! ratios: probes, interleaved re-runs), `progress` (stderr while it runs),
//! `answers` (the three tables printed first), `report` (the full table and
//! JSON), `plot` (`--plot`).

mod affinity;
mod answers;
mod cases;
mod compare;
pub(crate) mod error;
mod json_row;
mod measure;
mod plot;
mod probe;
mod progress;
mod report;
mod runner;
pub(crate) mod shared;
mod spin;

use std::io::{self, Write as _};
use std::path::PathBuf;

use clap::Args;

use self::affinity::Cores;
use self::compare::{Comparer, Ratio};
pub use self::error::BenchError;
use self::progress::Progress;
use self::report::{Report, Row};
use cases::{CASES, Case, Setup};

/// Seconds per case of the default run: under a minute on 2 cores (the
/// fixed costs, warm-ups and probes of all 46 rows, took 16 s at
/// `--secs 0.01` on the development machine).
const DEFAULT_SECS: f64 = 0.5;
/// Seconds per case of `--full`.
const FULL_SECS: f64 = 2.0;

/// Options of `shmlane bench`.
#[derive(Debug, Args)]
#[command(after_long_help = METHOD)]
pub struct BenchArgs {
    /// Cases to run, comma-separated [default: all; `--list` shows them].
    /// They always run in registry order, baselines first, so that ratios
    /// can be computed.
    #[arg(long, value_name = "A,B", value_delimiter = ',', value_parser = parse_case)]
    case: Vec<String>,
    /// Seconds of measurement per case [default: 0.5; 2 with --full].
    #[arg(long, value_name = "S", value_parser = parse_secs)]
    secs: Option<f64>,
    /// The long run: 2 seconds per case.
    #[arg(long, conflicts_with = "secs")]
    full: bool,
    /// Message size in bytes [default: every size each case supports, one
    /// row per size].
    #[arg(long, value_name = "N")]
    size: Option<usize>,
    /// Print one JSON object per case and line instead of the tables.
    #[arg(long)]
    json: bool,
    /// The two cores to pin the two peers to.
    #[arg(long, value_name = "A,B", default_value = "0,1", value_parser = Cores::parse)]
    cores: Cores,
    /// Write latency.svg (round-trip percentile curves, p50 to p99.99) and
    /// throughput.svg (bars) into DIR, made if missing.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Print every case, one per line (name, peers, sizes, the case its
    /// ratio is taken against or -), in the order they run, and run none.
    #[arg(long, conflicts_with_all = ["case", "secs", "full", "size", "json", "cores", "plot"])]
    list: bool,
}

/// The method, under `shmlane bench --help`.
const METHOD: &str = "\
Method: each case pins its two sides to the two --cores (the peer a forked
process, or a thread for the in-process baselines). Round trips (rtt) are
timed one by one after a warm-up into a histogram; throughput (tput) is the
median of 5 repetitions of a one-way stream, every value checked.

Before and after every case a probe measures the median atomic round trip
between the two cores (the `probe` column, ns). A ratio divides two rows of
the same run, and only when all four of their probes are within 1.5x of each
other. When they are not, the pair is re-run interleaved (baseline, case,
baseline, case) up to 2 times (12 re-run pairs per command at most): the
first re-run whose probes agree gives the ratio and its figures, marked `r`;
if none does, the ratio reads `probes differ`.

The output opens with three answer tables (round trip per mechanism,
throughput per size, blocking wake-ups), each row with its ratio to the
fastest row of its table, followed by every case in full.";

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        Ok(_) => Err(format!("{s} is not a number of seconds in (0, 3600]")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// A registered case name; a case of a cargo feature this build lacks says
/// which feature to build with.
fn parse_case(s: &str) -> Result<String, String> {
    if CASES.iter().any(|c| c.name == s) {
        return Ok(s.to_string());
    }
    if let Some((_, feature)) = cases::FEATURE_CASES.iter().find(|(c, _)| *c == s) {
        return Err(format!(
            "case {s} needs the `{feature}` feature, which this build lacks: \
             cargo run --release -p shmlane-cli --features {feature} -- bench --case {s}"
        ));
    }
    Err(format!(
        "no case named {s:?}; `shmlane bench --list` prints every case"
    ))
}

impl BenchArgs {
    /// Seconds per case: --secs, or the default of the run.
    fn secs(&self) -> f64 {
        match (self.secs, self.full) {
            (Some(s), _) => s,
            (None, true) => FULL_SECS,
            (None, false) => DEFAULT_SECS,
        }
    }
}

/// The cases named on the command line (all if none; clap has checked the
/// names), in registry order, each checked against `size`. Nothing runs
/// unless all are valid.
fn select(names: &[String], size: Option<usize>) -> Result<Vec<&'static Case>, BenchError> {
    let chosen: Vec<&Case> = CASES
        .iter()
        .filter(|c| names.is_empty() || names.iter().any(|n| n == c.name))
        .collect();
    let Some(size) = size else {
        return Ok(chosen);
    };
    if let Some(c) = chosen.iter().find(|c| !c.sizes.contains(&size)) {
        let sizes: Vec<String> = c.sizes.iter().map(ToString::to_string).collect();
        return Err(BenchError::Usage(format!(
            "case {} cannot send {size}-byte messages (--size {size}); it supports --size {}",
            c.name,
            sizes.join(", ")
        )));
    }
    Ok(chosen)
}

/// Runs the selected cases and prints their rows. A case that fails is
/// reported on stderr at once and the others still run (a broken ring
/// should not hide the figures of the rest); the command then fails.
///
/// Every check of the command line happens before the first case runs.
pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    if args.list {
        return written(print_list()).map(drop);
    }
    let chosen = select(&args.case, args.size)?;
    args.cores.check_allowed()?;
    if let Some(dir) = &args.plot {
        plot::check_dir(dir)?;
    }
    let plan: Vec<(&Case, usize)> = chosen
        .into_iter()
        .flat_map(|case| {
            let sizes = args.size.as_ref().map_or(case.sizes, std::slice::from_ref);
            sizes.iter().map(move |&size| (case, size))
        })
        .collect();

    let mut progress = Progress::new(plan.len(), args.secs(), args.quiet);
    let mut comparer = Comparer::new(args);
    let mut report = Report::new(args.json);
    let mut done: Vec<Row> = Vec::new();
    let mut failed = Vec::new();
    for (case, size) in plan {
        progress.start(&format!("{} ({size} B)", case.name));
        match run_case(case, size, args) {
            Ok(row) => {
                let (row, ratio) = registry_ratio(row, &done, &mut comparer, &progress);
                if !written(report.add(&row, ratio))? {
                    return Ok(()); // nobody reads on: stop, as a filter does
                }
                done.push(row);
            }
            Err(e) => {
                progress.error(&format!("shmlane: error: {}", e.in_case(case.name)));
                report.failed(case.name, size);
                failed.push(case.name);
            }
        }
        progress.finish_one();
    }
    let answers = if args.json {
        String::new()
    } else {
        answers::render(&done, &mut comparer, &progress)
    };
    progress.finish();
    written(report.finish(&answers))?;
    if let Some(dir) = &args.plot {
        for file in plot::write(dir, &done)? {
            eprintln!("shmlane bench: wrote {file}");
        }
    }
    failed.dedup();
    match failed.as_slice() {
        [] => Ok(()),
        names => Err(BenchError::Failed(names.join(", "))),
    }
}

/// The ratio of a finished row to its registry baseline (if that ran),
/// and the row to keep: its re-run when the ratio came from one.
fn registry_ratio(
    row: Row,
    done: &[Row],
    comparer: &mut Comparer<'_>,
    progress: &Progress,
) -> (Row, Option<Ratio>) {
    let Some(base) = row.ratio_to else {
        return (row, None);
    };
    let compared = if base == row.case {
        comparer.compare(&row, &row, progress)
    } else {
        match compare::baseline(done, base, row.size) {
            Some(base_row) => comparer.compare(base_row, &row, progress),
            None => None,
        }
    };
    match compared {
        Some((ratio, Some(rerun))) => (rerun, Some(ratio)),
        Some((ratio, None)) => (row, Some(ratio)),
        None => (row, None),
    }
}

/// `--list`: the registry, one case a line, whitespace-separated columns.
fn print_list() -> io::Result<()> {
    let mut out = io::stdout().lock();
    for case in CASES {
        let sizes: Vec<String> = case.sizes.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "{:<26} {:<6} {:<13} {}",
            case.name,
            case.peers.as_str(),
            sizes.join(","),
            case.ratio_to.unwrap_or("-")
        )?;
    }
    Ok(())
}

/// Whether a write to stdout went through: `false` when its reader has
/// gone (`shmlane bench --list | head`), which ends the command quietly
/// rather than as a failure or a panic; any other error is one.
fn written(result: io::Result<()>) -> Result<bool, BenchError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(BenchError::os("writing stdout")(
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )),
    }
}

/// One case between its two probes.
fn run_case(case: &Case, size: usize, args: &BenchArgs) -> Result<Row, BenchError> {
    let setup = Setup {
        secs: args.secs(),
        cores: args.cores,
        peers: case.peers,
        size,
    };
    let before = probe::median_rtt_ns(setup.cores)?;
    let figures = (case.run)(&setup)?;
    let after = probe::median_rtt_ns(setup.cores)?;
    Ok(Row {
        case: case.name,
        peers: case.peers,
        size,
        figures,
        probe_ns: [before, after],
        ratio_to: case.ratio_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn select_keeps_registry_order() {
        let got = select(&names(&["spsc-tput", "atomic-pingpong"]), Some(8)).unwrap();
        assert!(parse_case("nosuch").unwrap_err().contains("--list"));
        let got: Vec<_> = got.iter().map(|c| c.name).collect();
        assert_eq!(got, ["atomic-pingpong", "spsc-tput"]);
        assert_eq!(select(&[], None).unwrap().len(), CASES.len());
    }

    #[test]
    fn the_method_in_help_states_the_constants_in_use() {
        use super::compare::{PROBE_AGREEMENT, RERUNS_PER_PAIR, RERUNS_PER_RUN};
        assert!(METHOD.contains(&format!("within {PROBE_AGREEMENT}x")));
        assert!(METHOD.contains(&format!("up to {RERUNS_PER_PAIR} times")));
        assert!(METHOD.contains(&format!("({RERUNS_PER_RUN} re-run pairs")));
        assert!(METHOD.contains(&format!("median of {}", measure::REPS)));
    }

    #[test]
    fn select_rejects_bad_size() {
        let e = select(&names(&["spsc-rtt"]), Some(64))
            .unwrap_err()
            .to_string();
        assert!(e.contains("spsc-rtt") && e.contains("64"), "{e}");
    }

    #[test]
    fn cores_parse() {
        assert_eq!(Cores::parse("2, 3"), Ok(Cores { a: 2, b: 3 }));
        assert!(Cores::parse("1,1").is_err());
        assert!(Cores::parse("1").is_err());
        assert!(Cores::parse("a,1").is_err());
    }
}
