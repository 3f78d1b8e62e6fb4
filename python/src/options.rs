//! The keyword arguments of `create` / `open` as a core [`Options`].

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shmlane::{Options, Overflow, WaitStrategy};

/// The ring options a Python caller may give; `None` leaves the core's
/// default (or, at open, adopts the segment's).
#[derive(Debug, Default)]
pub(crate) struct RingArgs<'a> {
    pub capacity: Option<usize>,
    pub max_frame: Option<usize>,
    pub overflow: Option<&'a str>,
    pub wait: Option<&'a str>,
    pub persist: Option<bool>,
    pub mode: Option<u32>,
    pub open_timeout: Option<f64>,
    pub release_each_frame: Option<bool>,
    pub schema_id: Option<u64>,
}

impl RingArgs<'_> {
    /// The core options; a value out of its set is a ValueError naming the
    /// choices.
    pub(crate) fn options(&self) -> PyResult<Options> {
        let mut opts = Options::new();
        if let Some(capacity) = self.capacity {
            opts = opts.capacity(capacity);
        }
        if let Some(max) = self.max_frame {
            opts = opts.max_frame(max);
        }
        if let Some(policy) = self.overflow {
            opts = opts.overflow(overflow(policy)?);
        }
        if let Some(strategy) = self.wait {
            opts = opts.wait_strategy(wait_strategy(strategy)?);
        }
        if let Some(persist) = self.persist {
            opts = opts.persist(persist);
        }
        if let Some(mode) = self.mode {
            opts = opts.mode(mode);
        }
        if let Some(seconds) = self.open_timeout {
            let timeout = Duration::try_from_secs_f64(seconds).map_err(|_| {
                PyValueError::new_err(format!(
                    "open_timeout must be a number of seconds >= 0, not {seconds}"
                ))
            })?;
            opts = opts.open_timeout(timeout);
        }
        if let Some(id) = self.schema_id {
            opts = opts.schema_id(id);
        }
        if let Some(each) = self.release_each_frame {
            opts = opts.release_each_frame(each);
        }
        Ok(opts)
    }
}

fn overflow(name: &str) -> PyResult<Overflow> {
    match name {
        "block" => Ok(Overflow::Block),
        "fail" => Ok(Overflow::Fail),
        "drop" => Ok(Overflow::DropNewest),
        other => Err(PyValueError::new_err(format!(
            "overflow must be \"block\", \"fail\" or \"drop\", not {other:?}"
        ))),
    }
}

fn wait_strategy(name: &str) -> PyResult<WaitStrategy> {
    match name {
        "spin" => Ok(WaitStrategy::Spin),
        "spin_then_park" => Ok(WaitStrategy::SpinThenPark),
        "park" => Ok(WaitStrategy::Park),
        other => Err(PyValueError::new_err(format!(
            "wait must be \"spin\", \"spin_then_park\" or \"park\", not {other:?}"
        ))),
    }
}
