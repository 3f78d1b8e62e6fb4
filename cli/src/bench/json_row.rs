//! The `--json` line: one [`JsonRow`] per finished case and size, written
//! by serde_json as one line.
//!
//! Every line has the keys from `case` to `probe_ns`, `null` where a figure
//! does not apply to the case's mode; the keys after them appear only when
//! the case has the figure (absent, never faked). What the figures mean and
//! which rows compare: README, "Benchmarks".
//!
//! The integration tests compile this file too (`cli/tests/common`) and
//! parse the command's output back into the same struct, so it depends on
//! serde alone.

use serde::{Deserialize, Deserializer, Serialize};

/// One measured case at one message size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRow {
    pub case: String,
    /// `rtt` (round trips), `tput` (a one-way stream) or `idle` (a blocked
    /// consumer's CPU time).
    pub mode: String,
    /// How the peer ran: `proc`, `thread`, or `one` (no peer).
    pub peers: String,
    /// Message size in bytes.
    pub size: usize,
    /// Round trips (rtt) or messages (tput) measured; 1 for idle.
    pub n: u64,
    /// Round-trip percentiles, maximum and mean in ns (rtt only).
    #[serde(deserialize_with = "always_present")]
    pub rtt_p50_ns: Option<u64>,
    #[serde(deserialize_with = "always_present")]
    pub rtt_p99_ns: Option<u64>,
    #[serde(deserialize_with = "always_present")]
    pub rtt_p999_ns: Option<u64>,
    #[serde(deserialize_with = "always_present")]
    pub rtt_max_ns: Option<u64>,
    #[serde(deserialize_with = "always_present")]
    pub rtt_mean_ns: Option<f64>,
    /// Messages per second, median of the repetitions (tput only).
    #[serde(deserialize_with = "always_present")]
    pub msgs_per_s: Option<f64>,
    /// Decimal gigabytes of payload per second (tput only).
    #[serde(deserialize_with = "always_present")]
    pub gb_per_s: Option<f64>,
    /// Median atomic round trip between the two cores just before and just
    /// after the case, ns.
    pub probe_ns: [u64; 2],
    /// Futex wake syscalls per message, from the rings' counters (cases
    /// whose rings count them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wakes_per_msg: Option<f64>,
    /// Slots skipped instead of delivered (the MPMC cases that count them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// Why the row has no ratio, when its case knows its figure does not
    /// compare (`mpmc-tput-2p2c` on two cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// CPU ms the blocked consumer used per second of waiting (idle only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_s: Option<f64>,
    /// The baseline of the ratio, when it ran in the same command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_to: Option<String>,
    /// The key figure (p50 for rtt, msgs/s for tput) over the baseline's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// Reads a key every line has, `null` where it does not apply. Unlike a
/// plain `Option` field, which serde fills with `None` when the key is
/// missing, a field read through this fails on a missing key.
fn always_present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::deserialize(deserializer)
}
