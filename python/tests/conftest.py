"""Fixtures of the Python tests: unique IPC names removed even when a test
fails, a watchdog, and the Rust peers' paths.

Every name is ``shmlane-test-py-<pid>-<n>`` (CI checks that none is left
in /dev/shm or /tmp). The Rust peers are the ``shmlane`` CLI and the
``records_peer`` example, built by ``cargo build --release -p shmlane-cli``
and ``cargo build --release --example records_peer --manifest-path
python/Cargo.toml`` (``.ci/run`` does both); set ``SHMLANE_CLI`` /
``SHMLANE_RECORDS_PEER`` to use others.
"""

import faulthandler
import itertools
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WATCHDOG_SECONDS = 120
_counter = itertools.count()


def unique_name(kind="seg"):
    """A fresh ``shmlane-test-*`` name, unique within this machine."""
    return f"shmlane-test-py-{kind}-{os.getpid()}-{next(_counter)}"


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@pytest.fixture
def seg_names():
    """Makes segment names; their /dev/shm files are removed after the test."""
    made = []

    def make():
        made.append(unique_name())
        return made[-1]

    yield make
    for name in made:
        _remove(f"/dev/shm/{name}")


@pytest.fixture
def seg_name(seg_names):
    """A segment name; its /dev/shm file is removed after the test."""
    return seg_names()


@pytest.fixture
def tmp_ipc_path():
    """A socket or FIFO path in the temp directory, removed after the test."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), unique_name("sock"))
    yield path
    _remove(path)


@pytest.fixture(autouse=True)
def watchdog():
    """Ends the whole run, with every thread's stack, if a test hangs."""
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _binary(env, default):
    path = pathlib.Path(os.environ.get(env, default))
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it first (see tests/conftest.py) or set {env}")
    return str(path)


@pytest.fixture(scope="session")
def shmlane_cli():
    """The ``shmlane`` command."""
    return _binary("SHMLANE_CLI", ROOT / "target" / "release" / "shmlane")


@pytest.fixture(scope="session")
def records_peer():
    """The ``records_peer`` example (python/examples/records_peer.rs)."""
    return _binary(
        "SHMLANE_RECORDS_PEER", ROOT / "python" / "target" / "release" / "examples" / "records_peer"
    )
