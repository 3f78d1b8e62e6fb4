//! `shmlane ls`, `inspect`, `stat`, `gc` and `rm` as a user runs them,
//! with `--json` parsed back. Every command is limited to this test's
//! unique names (`--prefix`), so it never touches another test's segment.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{IpcName, finish, shmlane, start, success};
use serde_json::Value;
use shmlane::{Options, spsc};

/// One test at a time: every test spawns `shmlane`, and a child between
/// its fork and its exec holds a copy of every open file description of
/// this process, so of the locks of another test's endpoints, which would
/// make that test's stale segment look live for a moment.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(args: &[&str]) -> Output {
    let mut cmd = shmlane();
    cmd.args(args).stdin(Stdio::null());
    finish(start(cmd), &format!("shmlane {}", args.join(" ")))
}

fn json_lines(args: &[&str]) -> Vec<Value> {
    let out = success(&run(args), &args.join(" "));
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e} in {line}")))
        .collect()
}

fn json(args: &[&str]) -> Value {
    let mut lines = json_lines(args);
    assert_eq!(lines.len(), 1, "one JSON object from {args:?}: {lines:?}");
    lines.remove(0)
}

fn path(name: &impl Named) -> String {
    format!("/dev/shm/{}", name.name())
}

fn exists(name: &impl Named) -> bool {
    std::path::Path::new(&path(name)).exists()
}

/// A stale segment: created with `persist`, two items pushed, dropped.
fn persisted(name: &impl Named) {
    let opts = Options::new().capacity(8).persist(true);
    let mut tx = spsc::Producer::<u64>::create(name.name(), &opts).expect("create");
    tx.push(1).expect("push");
    tx.push(2).expect("push");
}

/// A name under `base`'s unique prefix, unlinked on drop.
struct Under {
    name: String,
}

impl Drop for Under {
    fn drop(&mut self) {
        let _ = nix::sys::mman::shm_unlink(format!("/{}", self.name).as_str());
    }
}

fn under(base: &IpcName, what: &str) -> Under {
    Under {
        name: format!("{}-{}", base.name, what),
    }
}

/// What names a segment: an [`IpcName`] or an [`Under`].
trait Named {
    fn name(&self) -> &str;
}

impl Named for IpcName {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Under {
    fn name(&self) -> &str {
        &self.name
    }
}

#[test]
fn ls_and_inspect_show_a_live_segment_with_this_pid() {
    let _serial = serial();
    let name = IpcName::shm("admin-live");
    let opts = Options::new().capacity(16);
    let mut tx = spsc::Producer::<u64>::create(&name.name, &opts).expect("create");
    let _rx = spsc::Consumer::<u64>::open(&name.name, &opts).expect("open");
    for i in 0..3 {
        tx.push(i).expect("push");
    }
    let me = u64::from(std::process::id());

    let listed = json_lines(&["ls", "--json", "--prefix", &name.name]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let seg = &listed[0];
    assert_eq!(seg["name"], name.name.as_str());
    assert_eq!(seg["kind"], "spsc");
    assert_eq!(seg["slot_size"], 8);
    assert_eq!(seg["capacity"], 16);
    assert_eq!(seg["fill"], 3);
    assert_eq!(seg["liveness"], "live");
    assert_eq!(seg["creator_pid"], me);
    assert!(seg["age_s"].as_f64().is_some(), "{seg}");
    let ends = seg["endpoints"].as_array().expect("endpoints");
    for role in ["producer", "consumer"] {
        let end = ends
            .iter()
            .find(|e| e["role"] == role)
            .unwrap_or_else(|| panic!("no {role}: {seg}"));
        assert_eq!(end["pid"], me);
        assert_eq!(end["alive"], true);
    }

    let inspected = json(&["inspect", &name.name, "--json"]);
    assert_eq!(inspected["status"], "segment");
    assert_eq!(inspected["counters"]["pushes"], 3);
    assert_eq!(inspected["counters"]["pops"], 0);
    assert_eq!(inspected["mode"], "0600");

    let table = success(&run(&["ls", "--prefix", &name.name]), "ls");
    let row = table
        .lines()
        .find(|l| l.starts_with(&name.name))
        .unwrap_or_else(|| panic!("no row in:\n{table}"));
    assert!(row.contains("live") && row.contains("spsc"), "{row}");
    let text = success(&run(&["inspect", &name.name]), "inspect");
    assert!(
        text.contains("producer") && text.contains("pushes"),
        "{text}"
    );
}

#[test]
fn gc_removes_the_stale_and_says_why_it_skipped_the_rest() {
    let _serial = serial();
    let base = IpcName::shm("admin-gc");
    let stale = under(&base, "stale");
    let live = under(&base, "live");
    let junk = under(&base, "junk");
    persisted(&stale);
    let _tx = spsc::Producer::<u64>::create(&live.name, &Options::new()).expect("create");
    std::fs::File::create(path(&junk))
        .and_then(|mut f| f.write_all(b"garbage, not a segment"))
        .expect("a garbage file");

    let prefix = ["--prefix", &base.name, "--min-age", "0", "--json"];
    let dry = json(&[&["gc", "--dry-run"][..], &prefix].concat());
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed"][0]["name"], stale.name.as_str(), "{dry}");
    assert!(exists(&stale), "a dry run removes nothing");

    let report = json(&[&["gc"][..], &prefix].concat());
    let removed: Vec<&str> = report["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|r| r["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(removed, [stale.name.as_str()], "{report}");
    let reason = |name: &Under| {
        report["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .find(|s| s["name"] == name.name.as_str())
            .unwrap_or_else(|| panic!("{} not skipped: {report}", name.name))["reason"]
            .clone()
    };
    assert_eq!(reason(&live), "live");
    assert_eq!(reason(&junk), "not-shmlane");
    assert!(!exists(&stale) && exists(&live) && exists(&junk));

    let text = success(
        &run(&["gc", "--prefix", &base.name, "--min-age", "0"]),
        "gc",
    );
    assert!(text.contains("skipped") && text.contains("live"), "{text}");
}

#[test]
fn stat_prints_count_samples_of_the_rates() {
    let _serial = serial();
    let name = IpcName::shm("admin-stat");
    let opts = Options::new().capacity(64);
    let mut tx = spsc::Producer::<u64>::create(&name.name, &opts).expect("create");
    for i in 0..10 {
        tx.push(i).expect("push");
    }
    let samples = json_lines(&[
        "stat",
        &name.name,
        "--interval",
        "0.01",
        "--count",
        "3",
        "--json",
    ]);
    assert_eq!(samples.len(), 3, "{samples:?}");
    for s in &samples {
        assert_eq!(s["pushes"], 10);
        assert_eq!(s["fill"], 10);
        assert_eq!(s["msgs_per_s"], 0.0);
        assert_eq!(s["liveness"], "live");
        for field in ["waits_per_s", "wakes_per_s", "drops_per_s", "t_s"] {
            assert!(s[field].as_f64().is_some(), "{field} in {s}");
        }
    }
    let text = success(
        &run(&["stat", &name.name, "--interval", "0", "--count", "1"]),
        "stat",
    );
    assert_eq!(text.lines().count(), 2, "a header and a sample:\n{text}");
}

#[test]
fn rm_refuses_a_live_segment_unless_forced() {
    let _serial = serial();
    let name = IpcName::shm("admin-rm");
    let _tx = spsc::Producer::<u64>::create(&name.name, &Options::new()).expect("create");
    let refused = run(&["rm", &name.name]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("live") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(exists(&name));

    let removed = json(&["rm", &name.name, "--force", "--json"]);
    assert_eq!(removed["removed"], true);
    assert_eq!(removed["liveness"], "live");
    assert!(!exists(&name));
}

#[test]
fn a_truncated_segment_is_reported_and_kept() {
    let _serial = serial();
    let name = IpcName::shm("admin-short");
    std::fs::write(path(&name), b"SHMLANE\x01\x05\x00").expect("a 10-byte file");
    let entry = json(&["inspect", &name.name, "--json"]);
    assert_eq!(entry["status"], "truncated", "{entry}");
    let listed = json_lines(&["ls", "--json", "--prefix", &name.name]);
    assert_eq!(listed[0]["status"], "truncated");
    let report = json(&["gc", "--json", "--prefix", &name.name, "--min-age", "0"]);
    assert_eq!(report["skipped"][0]["reason"], "damaged", "{report}");
    assert!(exists(&name));
    let stat = run(&["stat", &name.name, "--count", "1"]);
    assert!(!stat.status.success(), "stat needs a decodable segment");
}
