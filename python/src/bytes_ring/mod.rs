//! `shmlane.bytes`: the byte ring's two ends.

mod consumer;
mod producer;
mod view;

use pyo3::prelude::*;
use shmlane::bytes;

pub(crate) use consumer::Consumer;
pub(crate) use producer::Producer;
pub(crate) use view::FrameView;

use crate::errors::ToPyErr;
use crate::options::RingArgs;

/// An anonymous byte ring (memfd), as `(Producer, Consumer)`: share it with
/// a child made by `os.fork` or `multiprocessing` with the fork start
/// method; each process then closes the end it does not use.
#[pyfunction]
#[pyo3(signature = (*, capacity=None, max_frame=None, overflow=None, wait=None, release_each_frame=None))]
pub(crate) fn pair(
    py: Python<'_>,
    capacity: Option<usize>,
    max_frame: Option<usize>,
    overflow: Option<&str>,
    wait: Option<&str>,
    release_each_frame: Option<bool>,
) -> PyResult<(Producer, Consumer)> {
    let args = RingArgs {
        capacity,
        max_frame,
        overflow,
        wait,
        release_each_frame,
        ..RingArgs::default()
    };
    let opts = args.options()?;
    let (tx, rx) = bytes::pair(&opts).map_err(|e| e.to_py(py))?;
    Ok((Producer::new(tx), Consumer::new(rx)))
}
