//! `shmlane bench`: its options, and running the cases they select.
//!
//! Layout: `cases` (the registry, one line per case, and the cases
//! themselves), `measure` (the rtt and tput harnesses), `affinity` (pinning),
//! `runner` (the fork/thread helper that starts a case's peer), `spin`
//! (busy waiting with a watchdog), `shared` (a page of process-shared
//! atomics), `probe` (the per-case core-to-core probe), `report` (table and
//! JSON).

mod affinity;
mod cases;
pub(crate) mod error;
mod json_row;
mod measure;
mod probe;
mod report;
mod runner;
pub(crate) mod shared;
mod spin;

use clap::Args;
use clap::builder::PossibleValuesParser;

use self::affinity::Cores;
pub use self::error::BenchError;
use self::report::{Report, Row};
use cases::{CASES, Case, Setup};

/// Options of `shmlane bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Cases to run, comma-separated [default: all]. They always run in the
    /// order of the possible values, baselines first, so that ratios can be
    /// computed.
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(CASES.iter().map(|c| c.name)),
    )]
    case: Vec<String>,
    /// Seconds of measurement per case.
    #[arg(long, value_name = "S", default_value_t = 2.0, value_parser = parse_secs)]
    secs: f64,
    /// Message size in bytes [default: every size each case supports, one
    /// row per size].
    #[arg(long, value_name = "N")]
    size: Option<usize>,
    /// Print one JSON object per case and line instead of a table.
    #[arg(long)]
    json: bool,
    /// The two cores to pin the two peers to.
    #[arg(long, value_name = "A,B", default_value = "0,1", value_parser = Cores::parse)]
    cores: Cores,
    /// Print every case, one per line (name, peers, sizes, the case its
    /// ratio is taken against or -), in the order they run, and run none.
    #[arg(long, conflicts_with_all = ["case", "secs", "size", "json", "cores"])]
    list: bool,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        Ok(_) => Err(format!("{s} is not a number of seconds in (0, 3600]")),
        Err(e) => Err(format!("{s:?}: {e}")),
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
pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    if args.list {
        print_list();
        return Ok(());
    }
    let chosen = select(&args.case, args.size)?;
    args.cores.check_allowed()?;
    let mut report = Report::new(args.json);
    let mut failed = Vec::new();
    for case in chosen {
        let sizes = args.size.as_ref().map_or(case.sizes, std::slice::from_ref);
        for &size in sizes {
            match run_case(case, size, args) {
                Ok(row) => report.add(&row),
                Err(e) => {
                    eprintln!("shmlane: error: {}", e.in_case(case.name));
                    report.failed(case.name, size);
                    failed.push(case.name);
                }
            }
        }
    }
    failed.dedup();
    report.finish();
    match failed.as_slice() {
        [] => Ok(()),
        names => Err(BenchError::Failed(names.join(", "))),
    }
}

/// `--list`: the registry, one case a line, whitespace-separated columns.
fn print_list() {
    for case in CASES {
        let sizes: Vec<String> = case.sizes.iter().map(ToString::to_string).collect();
        println!(
            "{:<20} {:<6} {:<13} {}",
            case.name,
            case.peers.as_str(),
            sizes.join(","),
            case.ratio_to.unwrap_or("-")
        );
    }
}

/// One case between its two probes.
fn run_case(case: &Case, size: usize, args: &BenchArgs) -> Result<Row, BenchError> {
    let setup = Setup {
        secs: args.secs,
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
        let got: Vec<_> = got.iter().map(|c| c.name).collect();
        assert_eq!(got, ["atomic-pingpong", "spsc-tput"]);
        assert_eq!(select(&[], None).unwrap().len(), CASES.len());
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
