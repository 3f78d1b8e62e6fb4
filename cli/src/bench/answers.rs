//! The three tables printed first: what a user choosing an IPC mechanism
//! asks. (a) One message there and back: round-trip percentiles.
//! (b) Throughput of 8-byte items and of 64 B / 4 KiB messages.
//! (c) Blocking: how fast a sleeping receiver wakes, how many wake
//! syscalls a message costs, what an idle wait costs in CPU.
//!
//! Each row is a mechanism (one case of the registry, one line in the
//! lists below) with its ratio to the fastest row of its table in the same
//! run (taken honestly: see `compare`). A case that did not run leaves its
//! row out.

use std::fmt::Write as _;

use super::compare::{Comparer, Ratio};
use super::measure::Figures;
use super::progress::Progress;
use super::report::{Row, table_f64};

/// (a) Round trip: mechanism, case. The shm rings busy and blocking, then
/// the kernel mechanisms through their plain syscalls (the transports'
/// own overhead over them is in the full table).
#[rustfmt::skip]
pub const ROUND_TRIP: &[(&str, &str)] = &[
    ("atomic word, busy (floor)",    "atomic-pingpong"),
    ("shm SPSC ring, busy",          "spsc-rtt"),
    ("shm byte ring, busy",          "bytes-rtt"),
    ("shm MPMC ring, busy",          "mpmc-rtt"),
    ("shm SPSC ring, blocking",      "spsc-blocking-rtt"),
    ("shm:// transport",             "shm-rtt"),
    ("futex wait/wake",              "futex-rtt"),
    ("pipe",                         "pipe-rtt-raw"),
    ("FIFO",                         "fifo-rtt-raw"),
    ("POSIX mq",                     "mq-rtt-raw"),
    ("SysV mq",                      "sysvmq-rtt-raw"),
    ("unix stream",                  "uds-rtt-raw"),
    ("unix seqpacket",               "seqpacket-rtt-raw"),
    ("TCP loopback",                 "tcp-rtt-raw"),
    ("iceoryx2 pub/sub, busy",       "iceoryx2-rtt"),
];

/// (b) Throughput: mechanism, case. Ratios are taken within each size.
#[rustfmt::skip]
pub const THROUGHPUT: &[(&str, &str)] = &[
    ("rtrb, threads (in-process)",   "rtrb-tput"),
    ("shm SPSC ring, push/pop",      "spsc-tput"),
    ("shm SPSC ring, chunks",        "spsc-chunk-tput"),
    ("shm SPSC ring, blocking",      "spsc-blocking-tput"),
    ("ArrayQueue, threads",          "arrayqueue-tput"),
    ("shm MPMC ring",                "mpmc-tput"),
    ("shm SPSC ring, async (tokio)", "async-tput"),
    ("iceoryx2 pub/sub",             "iceoryx2-tput"),
    ("pipe",                         "pipe-tput"),
    ("shm byte ring, batched",       "bytes-tput"),
    ("shm byte ring, per message",   "bytes-tput-each"),
];

/// (c) Blocking: mechanism, case (a round trip where both sides sleep
/// until woken), and the case measuring its idle CPU, if any.
#[rustfmt::skip]
pub const BLOCKING: &[(&str, &str, Option<&str>)] = &[
    ("futex wait/wake",              "futex-rtt",          None),
    ("shm SPSC ring, blocking",      "spsc-blocking-rtt",  Some("spsc-idle-cpu")),
    ("shm SPSC ring, spin then park", "spsc-spinpark-rtt", None),
    ("shm SPSC ring + semaphore",    "spsc-sem-rtt",       None),
    ("shmlane semaphore",            "semaphore-rtt",      None),
    ("shm MPMC ring, parked pool",   "mpmc-fanout-rtt",    None),
    ("shm:// transport",             "shm-rtt",            None),
    ("pipe",                         "pipe-rtt-raw",       None),
    ("tokio unix socket",            "tokio-uds-rtt",      None),
    ("shm SPSC ring, async (tokio)", "async-rtt",          Some("async-idle-cpu")),
];

/// The rows of `done` a list names, each with its mechanism, in list order
/// (every size a case ran at).
pub fn rows_of<'r>(done: &'r [Row], list: &[(&'static str, &str)]) -> Vec<(&'static str, &'r Row)> {
    list.iter()
        .flat_map(|&(label, case)| {
            done.iter()
                .filter(move |r| r.case == case && r.figures.key().is_some())
                .map(move |r| (label, r))
        })
        .collect()
}

/// One answer row after comparison: its figures (re-run ones if the ratio
/// came from a re-run) and its ratio to the fastest.
struct Answer<'r> {
    label: &'static str,
    row: Row,
    ratio: Option<Ratio>,
    idle: Option<&'r Row>,
}

/// The fastest of `rows` (least key if `least`, else greatest). Rows
/// measured on far cores are slower for that alone, so each is judged by
/// its figure per ns of its own probe (latency / probe, throughput x
/// probe): a row of far cores is not passed over for a slower mechanism
/// that happened to run on near ones. Its ratio to each row is then taken
/// honestly (probes that agree, or a re-run).
fn fastest_of<'r>(rows: impl Iterator<Item = &'r Row>, least: bool) -> Option<&'r Row> {
    let probe = |r: &Row| (r.probe_ns[0] + r.probe_ns[1]).max(1) as f64 / 2.0;
    let key = |r: &Row| {
        let figure = r.figures.key().unwrap_or(f64::NAN);
        if least {
            figure / probe(r)
        } else {
            figure * probe(r)
        }
    };
    rows.reduce(|a, b| {
        let b_better = if least {
            key(b) < key(a)
        } else {
            key(b) > key(a)
        };
        if b_better { b } else { a }
    })
}

/// Compares each row with the fastest of `rows` (least key if `least`,
/// else greatest).
fn against_fastest<'r>(
    rows: &[(&'static str, &'r Row)],
    least: bool,
    comparer: &mut Comparer<'_>,
    progress: &Progress,
) -> Vec<Answer<'r>> {
    let fastest = fastest_of(rows.iter().map(|&(_, r)| r), least);
    rows.iter()
        .map(|&(label, row)| {
            let compared = fastest.and_then(|f| comparer.compare(f, row, progress));
            let (ratio, rerun) = compared.map_or((None, None), |(r, rr)| (Some(r), rr));
            Answer {
                label,
                row: rerun.unwrap_or_else(|| row.clone()),
                ratio,
                idle: None,
            }
        })
        .collect()
}

const RATIO_HEADER: &str = "vs fastest";

/// The three tables, as text (empty if none of their cases ran).
pub fn render(done: &[Row], comparer: &mut Comparer<'_>, progress: &Progress) -> String {
    let mut out = String::new();

    let rtt = against_fastest(&rows_of(done, ROUND_TRIP), true, comparer, progress);
    if !rtt.is_empty() {
        let _ = writeln!(
            out,
            "(a) Round trip, one message there and back (ns; {RATIO_HEADER}: p50 / fastest p50)"
        );
        let _ = writeln!(
            out,
            "{:<30} {:<18} {:>5} {:>8} {:>8} {:>8} {:>13} {:>9}",
            "mechanism", "case", "size", "p50", "p99", "p99.9", RATIO_HEADER, "probe"
        );
        for a in &rtt {
            let (p50, p99, p999) = match a.row.figures {
                Figures::Rtt(r) => (r.p50_ns, r.p99_ns, r.p999_ns),
                Figures::Tput(_) | Figures::Idle(_) => continue,
            };
            let _ = writeln!(
                out,
                "{:<30} {:<18} {:>5} {p50:>8} {p99:>8} {p999:>8} {:>13} {:>9}",
                a.label,
                a.row.case,
                a.row.size,
                ratio_cell(a.ratio),
                probe_cell(&a.row)
            );
        }
        out.push('\n');
    }

    let tput_rows = rows_of(done, THROUGHPUT);
    let mut sizes: Vec<usize> = tput_rows.iter().map(|(_, r)| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if !sizes.is_empty() {
        let _ = writeln!(
            out,
            "(b) Throughput, a one-way stream ({RATIO_HEADER}: msgs/s / fastest msgs/s at that size)"
        );
        let _ = writeln!(
            out,
            "{:<30} {:<18} {:>5} {:>12} {:>8} {:>13} {:>9}",
            "mechanism", "case", "size", "msgs/s", "GB/s", RATIO_HEADER, "probe"
        );
    }
    for size in &sizes {
        let at_size: Vec<_> = tput_rows
            .iter()
            .copied()
            .filter(|(_, r)| r.size == *size)
            .collect();
        for a in against_fastest(&at_size, false, comparer, progress) {
            let Figures::Tput(t) = a.row.figures else {
                continue;
            };
            let _ = writeln!(
                out,
                "{:<30} {:<18} {:>5} {:>12.0} {:>8.3} {:>13} {:>9}",
                a.label,
                a.row.case,
                a.row.size,
                t.msgs_per_s,
                t.gb_per_s,
                ratio_cell(a.ratio),
                probe_cell(&a.row)
            );
        }
    }
    if !sizes.is_empty() {
        out.push('\n');
    }

    let blocking_list: Vec<(&'static str, &str)> =
        BLOCKING.iter().map(|&(l, c, _)| (l, c)).collect();
    let mut blocking = against_fastest(&rows_of(done, &blocking_list), true, comparer, progress);
    for a in &mut blocking {
        let idle_case = BLOCKING
            .iter()
            .find(|(_, c, _)| *c == a.row.case)
            .and_then(|(_, _, idle)| *idle);
        a.idle = idle_case.and_then(|c| done.iter().find(|r| r.case == c));
    }
    if !blocking.is_empty() {
        let _ = writeln!(
            out,
            "(c) Blocking, both sides sleep until woken (round trip ns; {RATIO_HEADER}: p50 / fastest p50)"
        );
        let _ = writeln!(
            out,
            "{:<30} {:<18} {:>8} {:>8} {:>9} {:>9} {:>13} {:>9}",
            "mechanism", "case", "p50", "p99", "wake/msg", "idle cpu", RATIO_HEADER, "probe"
        );
        for a in &blocking {
            let Figures::Rtt(r) = a.row.figures else {
                continue;
            };
            let idle = a.idle.and_then(|i| match i.figures {
                Figures::Idle(s) => Some(s.cpu_ms_per_s),
                Figures::Rtt(_) | Figures::Tput(_) => None,
            });
            let _ = writeln!(
                out,
                "{:<30} {:<18} {:>8} {:>8} {:>9} {:>9} {:>13} {:>9}",
                a.label,
                a.row.case,
                r.p50_ns,
                r.p99_ns,
                r.wakes_per_msg.map_or_else(|| "-".into(), table_f64),
                idle.map_or_else(|| "-".into(), table_f64),
                ratio_cell(a.ratio),
                probe_cell(&a.row)
            );
        }
        let _ = writeln!(
            out,
            "wake/msg: futex wake syscalls per message (rings that count them); \
             idle cpu: ms of CPU per second a receiver spends blocked on an empty ring."
        );
        out.push('\n');
    }
    out
}

fn ratio_cell(ratio: Option<Ratio>) -> String {
    ratio.map_or_else(|| "-".to_string(), Ratio::cell)
}

fn probe_cell(row: &Row) -> String {
    format!("{}/{}", row.probe_ns[0], row.probe_ns[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::cases::CASES;
    use crate::bench::measure::TputStats;
    use crate::bench::runner::Peers;

    fn tput(case: &'static str, msgs_per_s: f64, probe_ns: [u64; 2]) -> Row {
        Row {
            case,
            peers: Peers::Proc,
            size: 8,
            figures: Figures::Tput(TputStats {
                n: 1,
                msgs_per_s,
                gb_per_s: 1.0,
                wakes_per_msg: None,
                skipped: None,
                note: None,
            }),
            probe_ns,
            ratio_to: None,
        }
    }

    /// A fast mechanism measured on far cores stays the fastest over a
    /// slower one that ran on near cores (the run that printed an atomic
    /// ping-pong at 0.75 of an MPMC ring).
    #[test]
    fn the_fastest_is_judged_against_its_own_probe() {
        let far_fast = tput("fast", 100e6, [400, 400]);
        let near_slow = tput("slow", 150e6, [100, 100]);
        let rows = [&near_slow, &far_fast];
        assert_eq!(
            fastest_of(rows.into_iter(), false).map(|r| r.case),
            Some("fast")
        );
        let same_probe = tput("faster", 200e6, [100, 100]);
        let rows = [&near_slow, &same_probe];
        assert_eq!(
            fastest_of(rows.into_iter(), false).map(|r| r.case),
            Some("faster")
        );
    }

    /// Every case an answer table names is registered (or is one of the
    /// feature-gated cases).
    #[test]
    fn answer_rows_name_registered_cases() {
        let named = ROUND_TRIP.iter().chain(THROUGHPUT).map(|(_, c)| *c).chain(
            BLOCKING
                .iter()
                .flat_map(|(_, c, i)| [Some(*c), *i])
                .flatten(),
        );
        for case in named {
            assert!(
                CASES.iter().any(|c| c.name == case)
                    || crate::bench::cases::FEATURE_CASES
                        .iter()
                        .any(|(c, _)| *c == case),
                "{case} is in an answer table but not registered"
            );
        }
    }
}
