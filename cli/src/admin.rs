//! `shmlane ls`, `inspect`, `stat`, `gc` and `rm`: the segments in
//! /dev/shm from the shell, over [`shmlane::registry`].
//!
//! ```text
//! shmlane ls                      # shmlane's segments: kind, fill, endpoints, live or stale
//! shmlane inspect md              # the decoded header, peers and counters
//! shmlane stat md --interval 1    # rates, once a second, until Ctrl-C
//! shmlane gc --dry-run            # what gc would remove, what it would skip and why
//! shmlane rm md [--force]         # one segment (refused while live unless forced)
//! ```
//!
//! Each takes `--json`: `ls` and `stat` print one JSON object per line
//! (a segment, a sample), `inspect`, `gc` and `rm` one object.

use std::fmt;
use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use serde::Serialize;
use shmlane::registry::{
    self, Entry, GcOptions, GcReport, Liveness, RegistryError, SkipReason, Status,
};

/// Options of `shmlane ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only names starting with this.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Also list the files of /dev/shm that are not shmlane segments.
    #[arg(long)]
    all: bool,
    /// One JSON object per segment per line.
    #[arg(long)]
    json: bool,
}

/// Options of `shmlane inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The segment name (as given to create/open).
    name: String,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

/// Options of `shmlane stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// The segment name.
    name: String,
    /// Seconds between samples.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    interval: Duration,
    /// Stop after N samples (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// One JSON object per sample per line.
    #[arg(long)]
    json: bool,
}

/// Options of `shmlane gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only names starting with this.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Leave stale segments younger than this many seconds alone (a
    /// creator publishes its header a moment before it locks its role).
    /// Default: `registry::DEFAULT_GC_MIN_AGE` (2 s).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    min_age: Option<Duration>,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

/// Options of `shmlane rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The segment name.
    name: String,
    /// Remove it even if an endpoint holds it (or its liveness is unknown,
    /// as for a semaphore). Never removes a file that is not shmlane's.
    #[arg(long)]
    force: bool,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1e9).contains(&v) => Ok(Duration::from_secs_f64(v)),
        Ok(_) => Err(format!("{s} is not a number of seconds in [0, 1e9]")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// Why an admin command failed.
#[derive(Debug)]
pub enum AdminError {
    Registry(RegistryError),
    Io(&'static str, io::Error),
    /// `stat` of a file that holds no decodable segment.
    NotASegment(String, String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(e) => write!(f, "{e}"),
            Self::Io(what, e) => write!(f, "{what}: {e}"),
            Self::NotASegment(name, why) => write!(f, "{name:?}: {why}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<RegistryError> for AdminError {
    fn from(e: RegistryError) -> Self {
        Self::Registry(e)
    }
}

/// A peer row in JSON.
#[derive(Debug, Serialize)]
pub struct EndpointJson {
    pub row: usize,
    pub role: Option<&'static str>,
    pub pid: u32,
    pub state: &'static str,
    /// Whether its lock is held (null: the probe failed).
    pub alive: Option<bool>,
}

/// The counters in JSON.
#[derive(Debug, Serialize)]
pub struct CountersJson {
    pub pushes: u64,
    pub pops: u64,
    pub full_hits: u64,
    pub empty_hits: u64,
    pub full_waits: u64,
    pub empty_waits: u64,
    pub wake_syscalls: u64,
    pub wait_syscalls: u64,
    pub drops: u64,
    pub skipped: u64,
    pub recovered: u64,
}

/// One file of /dev/shm in JSON: `ls --json` prints one per line,
/// `inspect --json` one. The segment fields are null unless `status` is
/// `segment`.
#[derive(Debug, Serialize)]
pub struct EntryJson {
    pub name: String,
    /// `segment`, `initializing`, `not-shmlane`, `truncated`,
    /// `incompatible`, `corrupted`, `unreadable`.
    pub status: &'static str,
    pub status_detail: String,
    /// `live`, `stale`, `initializing`, `unknown`.
    pub liveness: &'static str,
    pub liveness_detail: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Octal, e.g. "0600".
    pub mode: Option<String>,
    pub file_len: Option<u64>,
    /// Seconds since the creator published the header (else since the
    /// file was last modified).
    pub age_s: Option<f64>,
    pub kind: Option<&'static str>,
    pub layout_version: Option<u32>,
    pub type_name: Option<String>,
    pub slot_size: Option<u32>,
    pub slot_align: Option<u32>,
    pub capacity: Option<u64>,
    pub fill: Option<u64>,
    /// Why `fill` is null for a ring: the indices are impossible.
    pub fill_error: Option<String>,
    pub schema_id: Option<u64>,
    pub waiter: Option<String>,
    pub max_frame: Option<u64>,
    pub overflow: Option<String>,
    pub participants: Option<u32>,
    /// Made to persist: no endpoint removes the name when it detaches.
    pub persist: Option<bool>,
    pub segment_len: Option<u64>,
    pub creator_pid: Option<u32>,
    pub semaphore_value: Option<u32>,
    pub endpoints: Vec<EndpointJson>,
    pub counters: Option<CountersJson>,
}

fn age_of(entry: &Entry, now: SystemTime) -> Option<Duration> {
    entry
        .segment()
        .and_then(|s| s.created)
        .or_else(|| entry.file.as_ref().and_then(|f| f.modified))
        .and_then(|t| now.duration_since(t).ok())
}

fn to_json(entry: &Entry, now: SystemTime) -> EntryJson {
    let liveness_detail = entry.liveness.to_string();
    let seg = entry.segment();
    let (fill, fill_error) = match seg.and_then(|s| s.fill.as_ref()) {
        Some(Ok(fill)) => (Some(*fill), None),
        Some(Err(c)) => (None, Some(c.to_string())),
        None => (None, None),
    };
    EntryJson {
        name: entry.name.clone(),
        status: entry.status.tag(),
        status_detail: entry.status.to_string(),
        liveness: entry.liveness.tag(),
        liveness_detail,
        uid: entry.file.as_ref().map(|f| f.uid),
        gid: entry.file.as_ref().map(|f| f.gid),
        mode: entry.file.as_ref().map(|f| format!("{:04o}", f.mode)),
        file_len: entry.file.as_ref().map(|f| f.len),
        age_s: age_of(entry, now).map(|d| d.as_secs_f64()),
        kind: seg.map(|s| s.kind.as_str()),
        layout_version: seg.map(|s| s.layout_version),
        type_name: seg.map(|s| s.type_name.clone()),
        slot_size: seg.map(|s| s.slot_size),
        slot_align: seg.map(|s| s.slot_align),
        capacity: seg.map(|s| s.capacity),
        fill,
        fill_error,
        schema_id: seg.map(|s| s.schema_id),
        waiter: seg.map(|s| format!("{:?}", s.waiter)),
        max_frame: seg.map(|s| s.max_frame),
        overflow: seg.and_then(|s| s.overflow).map(|o| format!("{o:?}")),
        participants: seg.map(|s| s.participants),
        persist: seg.map(|s| s.persist),
        segment_len: seg.map(|s| s.segment_len),
        creator_pid: seg.map(|s| s.creator_pid),
        semaphore_value: seg.and_then(|s| s.semaphore_value),
        endpoints: seg.map_or_else(Vec::new, |s| {
            s.endpoints
                .iter()
                .map(|e| EndpointJson {
                    row: e.row,
                    role: e.role,
                    pid: e.pid,
                    state: e.state.tag(),
                    alive: e.alive,
                })
                .collect()
        }),
        counters: seg.map(|s| {
            let c = &s.counters;
            CountersJson {
                pushes: c.pushes,
                pops: c.pops,
                full_hits: c.full_hits,
                empty_hits: c.empty_hits,
                full_waits: c.full_waits,
                empty_waits: c.empty_waits,
                wake_syscalls: c.wake_syscalls,
                wait_syscalls: c.wait_syscalls,
                drops: c.drops,
                skipped: c.skipped,
                recovered: c.recovered,
            }
        }),
    }
}

fn print_json(out: &mut impl Write, value: &impl Serialize) -> Result<(), AdminError> {
    let line = serde_json::to_string(value)
        .map_err(|e| AdminError::Io("encoding JSON", io::Error::other(e)))?;
    writeln!(out, "{line}").map_err(|e| AdminError::Io("writing stdout", e))
}

fn age_text(age: Option<Duration>) -> String {
    let Some(age) = age else {
        return "-".to_owned();
    };
    match age.as_secs() {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn endpoints_text(entry: &Entry) -> String {
    let Some(seg) = entry.segment() else {
        return "-".to_owned();
    };
    let ends: Vec<String> = seg
        .endpoints
        .iter()
        .map(|e| {
            let alive = match e.alive {
                Some(true) => "alive",
                Some(false) => "dead",
                None => "?",
            };
            format!("{}:{}:{alive}", e.role.unwrap_or("row"), e.pid)
        })
        .collect();
    if ends.is_empty() {
        "-".to_owned()
    } else {
        ends.join(",")
    }
}

fn state_text(entry: &Entry) -> String {
    match (&entry.status, &entry.liveness) {
        (Status::Segment(_), liveness) => liveness.tag().to_owned(),
        (status, Liveness::Live) => format!("live, {}", status.tag()),
        (status, _) => status.tag().to_owned(),
    }
}

/// `shmlane ls`.
pub fn ls(args: &LsArgs) -> Result<(), AdminError> {
    let entries = registry::list_matching(args.prefix.as_deref().unwrap_or(""))
        .map_err(|e| AdminError::Io("reading /dev/shm", e))?;
    let shown = entries.iter().filter(|e| args.all || e.status.is_shmlane());
    let now = SystemTime::now();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        for entry in shown {
            print_json(&mut out, &to_json(entry, now))?;
        }
        return Ok(());
    }
    let mut rows = vec![
        [
            "NAME",
            "KIND",
            "SLOT",
            "CAP",
            "FILL",
            "CREATOR",
            "ENDPOINTS",
            "STATE",
            "AGE",
        ]
        .map(str::to_owned),
    ];
    for entry in shown {
        let seg = entry.segment();
        let num = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        rows.push([
            entry.name.clone(),
            seg.map_or("-", |s| s.kind.as_str()).to_owned(),
            num(seg.map(|s| s.slot_size.into())),
            num(seg.map(|s| s.capacity)),
            match seg.and_then(|s| s.fill.as_ref()) {
                Some(Ok(fill)) => fill.to_string(),
                Some(Err(_)) => "corrupt".to_owned(),
                None => "-".to_owned(),
            },
            num(seg.map(|s| s.creator_pid.into())),
            endpoints_text(entry),
            state_text(entry),
            age_text(age_of(entry, now)),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|col| rows.iter().map(|r| r[col].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())
            .map_err(|e| AdminError::Io("writing stdout", e))?;
    }
    Ok(())
}

/// `shmlane inspect`.
pub fn inspect(args: &InspectArgs) -> Result<(), AdminError> {
    let entry = registry::inspect(&args.name)?;
    let json = to_json(&entry, SystemTime::now());
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        return print_json(&mut out, &json);
    }
    let write = |out: &mut io::StdoutLock<'_>, text: String| {
        writeln!(out, "{text}").map_err(|e| AdminError::Io("writing stdout", e))
    };
    write(&mut out, format!("name:         {}", json.name))?;
    write(&mut out, format!("status:       {}", json.status_detail))?;
    write(&mut out, format!("liveness:     {}", json.liveness_detail))?;
    if let Some(file) = &entry.file {
        write(
            &mut out,
            format!(
                "file:         uid {} gid {} mode {:04o}, {} bytes",
                file.uid, file.gid, file.mode, file.len
            ),
        )?;
    }
    let Some(seg) = entry.segment() else {
        return Ok(());
    };
    let lines = [
        format!(
            "kind:         {} (layout version {})",
            seg.kind.as_str(),
            seg.layout_version
        ),
        format!(
            "slot type:    {} ({} bytes, align {})",
            seg.type_name, seg.slot_size, seg.slot_align
        ),
        format!("capacity:     {}", seg.capacity),
        format!(
            "fill:         {}",
            match &seg.fill {
                Some(Ok(fill)) => fill.to_string(),
                Some(Err(c)) => format!("corrupted: {c}"),
                None => "-".to_owned(),
            }
        ),
        format!("schema id:    {}", seg.schema_id),
        format!("waiter:       {:?}", seg.waiter),
        format!(
            "created:      by pid {}, {} ago",
            seg.creator_pid,
            age_text(age_of(&entry, SystemTime::now()))
        ),
        format!("segment len:  {}", seg.segment_len),
        format!(
            "removal:      {}",
            if seg.persist {
                "persistent (only gc or rm removes it)"
            } else {
                "by the last endpoint to detach"
            }
        ),
    ];
    for line in lines {
        write(&mut out, line)?;
    }
    if let Some(overflow) = seg.overflow {
        write(
            &mut out,
            format!(
                "frames:       max {} bytes, overflow {overflow:?}",
                seg.max_frame
            ),
        )?;
    }
    if seg.participants > 0 {
        write(&mut out, format!("participants: {} rows", seg.participants))?;
    }
    if let Some(value) = seg.semaphore_value {
        write(&mut out, format!("value:        {value}"))?;
    }
    write(&mut out, "endpoints:".to_owned())?;
    for e in &json.endpoints {
        let alive = match e.alive {
            Some(true) => "alive",
            Some(false) => "dead",
            None => "unknown",
        };
        write(
            &mut out,
            format!(
                "  row {:3} {:9} pid {:8} {:9} {alive}",
                e.row,
                e.role.unwrap_or("-"),
                e.pid,
                e.state
            ),
        )?;
    }
    let c = &seg.counters;
    write(&mut out, "counters:".to_owned())?;
    for (what, value) in [
        ("pushes", c.pushes),
        ("pops", c.pops),
        ("full hits", c.full_hits),
        ("empty hits", c.empty_hits),
        ("full waits", c.full_waits),
        ("empty waits", c.empty_waits),
        ("wake syscalls", c.wake_syscalls),
        ("wait syscalls", c.wait_syscalls),
        ("drops", c.drops),
        ("skipped", c.skipped),
        ("recovered", c.recovered),
    ] {
        write(&mut out, format!("  {what:14} {value}"))?;
    }
    Ok(())
}

/// One sample of `shmlane stat --json`: rates over the last interval.
#[derive(Debug, Serialize)]
pub struct StatJson {
    pub name: String,
    /// Seconds since the first sample.
    pub t_s: f64,
    /// Seconds this sample's rates are over.
    pub interval_s: f64,
    /// Released positions per second (items; byte ring: 8-byte words).
    pub msgs_per_s: f64,
    /// Published positions per second.
    pub pushes_per_s: f64,
    /// Blocking calls that waited, per second (full and empty).
    pub waits_per_s: f64,
    /// futex wake syscalls per second.
    pub wakes_per_s: f64,
    /// futex wait syscalls per second.
    pub wait_syscalls_per_s: f64,
    /// Byte ring frames dropped per second.
    pub drops_per_s: f64,
    pub fill: Option<u64>,
    pub pushes: u64,
    pub pops: u64,
    pub liveness: &'static str,
}

/// `shmlane stat`.
pub fn stat(args: &StatArgs) -> Result<(), AdminError> {
    let sample = || -> Result<(Instant, Entry), AdminError> {
        let entry = registry::inspect(&args.name)?;
        if entry.segment().is_none() {
            return Err(AdminError::NotASegment(
                args.name.clone(),
                entry.status.to_string(),
            ));
        }
        Ok((Instant::now(), entry))
    };
    let (start, mut last) = sample()?;
    let mut last_at = start;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if !args.json {
        writeln!(
            out,
            "{:>8}  {:>12}  {:>12}  {:>10}  {:>10}  {:>10}  {:>8}  STATE",
            "T(s)", "MSGS/S", "PUSHES/S", "WAITS/S", "WAKES/S", "DROPS/S", "FILL"
        )
        .map_err(|e| AdminError::Io("writing stdout", e))?;
    }
    let mut printed = 0u64;
    while args.count.is_none_or(|count| printed < count) {
        std::thread::sleep(args.interval);
        let (at, now) = sample()?;
        let (Some(old), Some(new)) = (last.segment(), now.segment()) else {
            unreachable!("sample() returns segments only");
        };
        let secs = (at - last_at).as_secs_f64().max(1e-9);
        let rate = |a: u64, b: u64| b.wrapping_sub(a) as f64 / secs;
        let (o, n) = (&old.counters, &new.counters);
        let row = StatJson {
            name: now.name.clone(),
            t_s: (at - start).as_secs_f64(),
            interval_s: secs,
            msgs_per_s: rate(o.pops, n.pops),
            pushes_per_s: rate(o.pushes, n.pushes),
            waits_per_s: rate(o.full_waits + o.empty_waits, n.full_waits + n.empty_waits),
            wakes_per_s: rate(o.wake_syscalls, n.wake_syscalls),
            wait_syscalls_per_s: rate(o.wait_syscalls, n.wait_syscalls),
            drops_per_s: rate(o.drops, n.drops),
            fill: new.fill.as_ref().and_then(|f| f.as_ref().ok().copied()),
            pushes: n.pushes,
            pops: n.pops,
            liveness: now.liveness.tag(),
        };
        if args.json {
            print_json(&mut out, &row)?;
        } else {
            writeln!(
                out,
                "{:>8.1}  {:>12.0}  {:>12.0}  {:>10.0}  {:>10.0}  {:>10.0}  {:>8}  {}",
                row.t_s,
                row.msgs_per_s,
                row.pushes_per_s,
                row.waits_per_s,
                row.wakes_per_s,
                row.drops_per_s,
                row.fill.map_or_else(|| "-".to_owned(), |f| f.to_string()),
                row.liveness
            )
            .map_err(|e| AdminError::Io("writing stdout", e))?;
        }
        out.flush()
            .map_err(|e| AdminError::Io("writing stdout", e))?;
        printed += 1;
        last = now;
        last_at = at;
    }
    Ok(())
}

/// A removed (or would-be removed) segment in `gc --json`.
#[derive(Debug, Serialize)]
pub struct RemovedJson {
    pub name: String,
    pub kind: Option<&'static str>,
    pub status: &'static str,
}

/// A skipped file in `gc --json`.
#[derive(Debug, Serialize)]
pub struct SkippedJson {
    pub name: String,
    /// `live`, `initializing`, `unknown`, `not-shmlane`, `damaged`,
    /// `other-owner`, `recent`, `changed`, `failed`.
    pub reason: &'static str,
    pub detail: String,
    pub uid: Option<u32>,
    /// For `other-owner`: the command that would remove it.
    pub command: Option<String>,
}

/// `shmlane gc --json`.
#[derive(Debug, Serialize)]
pub struct GcJson {
    pub dry_run: bool,
    /// Removed, or with `dry_run` what would be.
    pub removed: Vec<RemovedJson>,
    pub skipped: Vec<SkippedJson>,
}

fn gc_json(report: &GcReport, dry_run: bool) -> GcJson {
    GcJson {
        dry_run,
        removed: report
            .removed
            .iter()
            .map(|e| RemovedJson {
                name: e.name.clone(),
                kind: e.segment().map(|s| s.kind.as_str()),
                status: e.status.tag(),
            })
            .collect(),
        skipped: report
            .skipped
            .iter()
            .map(|(e, why)| SkippedJson {
                name: e.name.clone(),
                reason: why.tag(),
                detail: why.to_string(),
                uid: e.file.as_ref().map(|f| f.uid),
                command: match why {
                    SkipReason::OtherOwner { command, .. } => Some(command.clone()),
                    _ => None,
                },
            })
            .collect(),
    }
}

/// `shmlane gc`.
pub fn gc(args: &GcArgs) -> Result<(), AdminError> {
    let report = registry::gc(&GcOptions {
        dry_run: args.dry_run,
        min_age: args.min_age.unwrap_or(registry::DEFAULT_GC_MIN_AGE),
        prefix: args.prefix.clone(),
    })
    .map_err(|e| AdminError::Io("reading /dev/shm", e))?;
    let json = gc_json(&report, args.dry_run);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        return print_json(&mut out, &json);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut lines = Vec::new();
    for r in &json.removed {
        lines.push(format!(
            "{verb} {} ({})",
            r.name,
            r.kind.unwrap_or(r.status)
        ));
    }
    for s in &json.skipped {
        lines.push(format!("skipped {}: {}", s.name, s.detail));
    }
    if lines.is_empty() {
        lines.push("nothing to do".to_owned());
    }
    for line in lines {
        writeln!(out, "{line}").map_err(|e| AdminError::Io("writing stdout", e))?;
    }
    Ok(())
}

/// `shmlane rm --json`.
#[derive(Debug, Serialize)]
pub struct RmJson {
    pub name: String,
    pub removed: bool,
    /// What it was just before: `live` (forced), `stale`, ...
    pub liveness: &'static str,
}

/// `shmlane rm`.
pub fn rm(args: &RmArgs) -> Result<(), AdminError> {
    let entry = registry::remove(&args.name, args.force)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        return print_json(
            &mut out,
            &RmJson {
                name: entry.name,
                removed: true,
                liveness: entry.liveness.tag(),
            },
        );
    }
    writeln!(out, "removed {} (was {})", entry.name, entry.liveness)
        .map_err(|e| AdminError::Io("writing stdout", e))
}
