//! `shmlane._native`: the Python bindings of shmlane, which the pure
//! Python package `shmlane` (python/shmlane/) re-exports as
//! `shmlane.bytes`, `shmlane.transport` and `shmlane.Semaphore`.
//!
//! Every blocking call waits without the GIL in slices (`blocking`), so
//! Ctrl-C interrupts it; every core error becomes the Python exception of
//! its kind (`errors`, classes in `shmlane/errors.py`); a closed handle
//! raises `Closed`.

mod blocking;
mod bytes_ring;
mod errors;
mod handle;
mod options;
mod semaphore;
mod spsc;
mod stats;
mod transport;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bytes_ring::Producer>()?;
    m.add_class::<bytes_ring::Consumer>()?;
    m.add_class::<bytes_ring::FrameView>()?;
    m.add_function(wrap_pyfunction!(bytes_ring::pair, m)?)?;
    // Named as in Python (shmlane.spsc.Producer), added under names that
    // do not clash with the byte ring's.
    m.add("SpscProducer", m.py().get_type::<spsc::Producer>())?;
    m.add("SpscConsumer", m.py().get_type::<spsc::Consumer>())?;
    m.add("spsc_pair", wrap_pyfunction!(spsc::pair, m)?)?;
    m.add_class::<semaphore::Semaphore>()?;
    m.add_class::<stats::Stats>()?;
    m.add_class::<transport::Sender>()?;
    m.add_class::<transport::Receiver>()?;
    m.add_function(wrap_pyfunction!(transport::sender, m)?)?;
    m.add_function(wrap_pyfunction!(transport::receiver, m)?)?;
    m.add("SLICE_SECONDS", blocking::SLICE.as_secs_f64())?;
    Ok(())
}
