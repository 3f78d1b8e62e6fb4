//! `shmlane bench`: the case registry and the runner.
//!
//! Layout: `measure` (the rtt and tput harnesses), `affinity` (pinning),
//! `runner` (the fork/thread helper that starts a case's peer), `spin`
//! (busy waiting with a watchdog), `shared` (a page of process-shared
//! atomics), `probe` (the per-case core-to-core probe), `cases` (the cases
//! themselves), `report` (table and JSON).

mod affinity;
mod cases;
mod error;
mod measure;
mod probe;
mod report;
mod runner;
mod shared;
mod spin;

use clap::Args;
use clap::builder::PossibleValuesParser;

use self::affinity::Cores;
pub use self::error::BenchError;
use self::measure::Figures;
use self::report::{Report, Row};
use self::runner::Peers;
use cases::Setup;

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
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        Ok(_) => Err(format!("{s} is not a number of seconds in (0, 3600]")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// One benchmark case.
#[derive(Debug)]
struct Case {
    name: &'static str,
    /// Process or thread peer; the case runs its peer as declared here.
    peers: Peers,
    /// Message sizes in bytes the case can send.
    sizes: &'static [usize],
    /// The case whose key figure (p50 for rtt, msgs/s for tput) this
    /// case's is divided by, for the ratio: an earlier case of the same
    /// mode, or the case itself for a baseline; `None` for no ratio.
    ratio_to: Option<&'static str>,
    run: fn(&Setup) -> Result<Figures, BenchError>,
}

/// Every case, in the order they run: each baseline before the cases
/// whose ratio is taken against it.
const CASES: &[Case] = &[
    Case {
        name: "atomic-pingpong",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("atomic-pingpong"),
        run: cases::atomic::case,
    },
    Case {
        name: "spsc-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("atomic-pingpong"),
        run: cases::spsc::case_rtt,
    },
    Case {
        name: "rtrb-tput",
        peers: Peers::Thread,
        sizes: &[8],
        ratio_to: Some("rtrb-tput"),
        run: cases::rtrb::case,
    },
    Case {
        name: "spsc-tput",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("rtrb-tput"),
        run: cases::spsc::case_tput,
    },
    Case {
        name: "spsc-chunk-tput",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("rtrb-tput"),
        run: cases::spsc::case_chunk_tput,
    },
    Case {
        name: "spsc-chunkwrite-tput",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("rtrb-tput"),
        run: cases::spsc::case_chunkwrite_tput,
    },
    Case {
        name: "spsc-chunkread-tput",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("rtrb-tput"),
        run: cases::spsc::case_chunkread_tput,
    },
    Case {
        name: "futex-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("futex-rtt"),
        run: cases::futex::case,
    },
    Case {
        name: "spsc-blocking-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("futex-rtt"),
        run: cases::spsc::case_blocking_rtt,
    },
    Case {
        name: "spsc-spinpark-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("spsc-rtt"),
        run: cases::spsc::case_spinpark_rtt,
    },
    Case {
        name: "spsc-blocking-tput",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("spsc-tput"),
        run: cases::spsc::case_blocking_tput,
    },
    Case {
        name: "spsc-sem-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("futex-rtt"),
        run: cases::spsc::case_sem_rtt,
    },
    Case {
        name: "semaphore-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("futex-rtt"),
        run: cases::semaphore::case,
    },
    Case {
        name: "memcpy",
        peers: Peers::Solo,
        sizes: &[4096, 64 << 20],
        ratio_to: Some("memcpy"),
        run: cases::memcpy::case,
    },
    Case {
        name: "pipe-tput",
        peers: Peers::Proc,
        sizes: &[64, 4096],
        ratio_to: Some("pipe-tput"),
        run: cases::pipe::case,
    },
    Case {
        name: "bytes-tput",
        peers: Peers::Proc,
        sizes: &[64, 4096],
        ratio_to: Some("pipe-tput"),
        run: cases::bytes::case_tput,
    },
    Case {
        name: "bytes-rtt",
        peers: Peers::Proc,
        sizes: &[64],
        ratio_to: Some("spsc-rtt"),
        run: cases::bytes::case_rtt,
    },
    Case {
        name: "arrayqueue-rtt",
        peers: Peers::Thread,
        sizes: &[8],
        ratio_to: Some("arrayqueue-rtt"),
        run: cases::arrayqueue::case_rtt,
    },
    Case {
        name: "mpmc-rtt",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("arrayqueue-rtt"),
        run: cases::mpmc::case_rtt,
    },
    Case {
        name: "arrayqueue-tput",
        peers: Peers::Thread,
        sizes: &[8],
        ratio_to: Some("arrayqueue-tput"),
        run: cases::arrayqueue::case_tput,
    },
    Case {
        name: "mpmc-tput",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("arrayqueue-tput"),
        run: cases::mpmc::case_tput,
    },
    Case {
        name: "mpmc-tput-2p2c",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: Some("mpmc-tput"),
        run: cases::mpmc::case_tput_2p2c,
    },
    Case {
        name: "spsc-idle-cpu",
        peers: Peers::Proc,
        sizes: &[8],
        ratio_to: None,
        run: cases::spsc::case_idle_cpu,
    },
    // Each transport beside its mechanism's raw syscalls.
    Case {
        name: "pipe-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("pipe-rtt-raw"),
        run: cases::ipc_raw::case_pipe,
    },
    Case {
        name: "pipe-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("pipe-rtt-raw"),
        run: cases::transport::case_pipe,
    },
    Case {
        name: "fifo-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("fifo-rtt-raw"),
        run: cases::ipc_raw::case_fifo,
    },
    Case {
        name: "fifo-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("fifo-rtt-raw"),
        run: cases::transport::case_fifo,
    },
    Case {
        name: "mq-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("mq-rtt-raw"),
        run: cases::ipc_raw::case_mq,
    },
    Case {
        name: "mq-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("mq-rtt-raw"),
        run: cases::transport::case_mq,
    },
    Case {
        name: "sysvmq-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("sysvmq-rtt-raw"),
        run: cases::ipc_raw::case_sysvmq,
    },
    Case {
        name: "sysvmq-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("sysvmq-rtt-raw"),
        run: cases::transport::case_sysvmq,
    },
    Case {
        name: "uds-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("uds-rtt-raw"),
        run: cases::ipc_raw::case_uds,
    },
    Case {
        name: "unix-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("uds-rtt-raw"),
        run: cases::transport::case_unix,
    },
    Case {
        name: "seqpacket-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("seqpacket-rtt-raw"),
        run: cases::ipc_raw::case_seqpacket,
    },
    Case {
        name: "seqpacket-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("seqpacket-rtt-raw"),
        run: cases::transport::case_seqpacket,
    },
    Case {
        name: "tcp-rtt-raw",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("tcp-rtt-raw"),
        run: cases::ipc_raw::case_tcp,
    },
    Case {
        name: "tcp-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("tcp-rtt-raw"),
        run: cases::transport::case_tcp,
    },
    Case {
        name: "shm-rtt",
        peers: Peers::Proc,
        sizes: cases::transport::SIZES,
        ratio_to: Some("spsc-blocking-rtt"),
        run: cases::transport::case_shm,
    },
];

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
    fn ratio_baselines_run_first() {
        for (i, case) in CASES.iter().enumerate() {
            if let Some(base) = case.ratio_to {
                assert!(
                    CASES[..=i].iter().any(|c| c.name == base),
                    "{}: baseline {base} is not registered before it",
                    case.name
                );
            }
        }
        let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len(), "case names are unique");
    }

    #[test]
    fn cores_parse() {
        assert_eq!(Cores::parse("2, 3"), Ok(Cores { a: 2, b: 3 }));
        assert!(Cores::parse("1,1").is_err());
        assert!(Cores::parse("1").is_err());
        assert!(Cores::parse("a,1").is_err());
    }
}
