"""shmlane for Python: zero-copy rings in POSIX shared memory, woken by
futexes, and one API over every Linux IPC mechanism, shared with Rust
(and C) processes on the same segments.

* :mod:`shmlane.bytes`: a ring of variable-length frames (``Producer``,
  ``Consumer``, ``pair``), with zero-copy reads.
* :mod:`shmlane.spsc`: a ring of fixed-size records (numpy dtypes), shared
  with Rust `spsc::Producer<T>` / `Consumer<T>`.
* :mod:`shmlane.transport`: byte messages by URL (``shm://NAME``,
  ``mq:///NAME``, ``unix:///PATH``, ``tcp://HOST:PORT``, ...).
* :class:`Semaphore`: a process-shared counting semaphore.
* :mod:`shmlane.errors`: one exception class per kind of failure, all
  re-exported here (``shmlane.Timeout``, ``shmlane.Incompatible``, ...).

Blocking calls release the GIL and wake at least every
``SLICE_SECONDS`` to run signal handlers, so Ctrl-C interrupts them.
"""

from . import bytes, errors, spsc, transport
from ._native import SLICE_SECONDS, Semaphore, Stats
from .errors import (
    AlreadyExists,
    Busy,
    Closed,
    Corrupted,
    Disconnected,
    Empty,
    Error,
    FrameHeld,
    Full,
    Incompatible,
    InvalidConfig,
    NotFound,
    Overflow,
    PermissionDenied,
    RoleTaken,
    Timeout,
    TooLarge,
)

__all__ = [
    "AlreadyExists",
    "Busy",
    "Closed",
    "Corrupted",
    "Disconnected",
    "Empty",
    "Error",
    "FrameHeld",
    "Full",
    "Incompatible",
    "InvalidConfig",
    "NotFound",
    "Overflow",
    "PermissionDenied",
    "RoleTaken",
    "SLICE_SECONDS",
    "Semaphore",
    "Stats",
    "Timeout",
    "TooLarge",
    "bytes",
    "errors",
    "spsc",
    "transport",
]
