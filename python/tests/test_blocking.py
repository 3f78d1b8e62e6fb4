"""Every kind of blocking call waits without the GIL (another thread runs
meanwhile) and ends with KeyboardInterrupt on Ctrl-C even with no timeout;
the handle is usable afterwards."""

import os
import signal
import threading

import numpy as np
import pytest

import shmlane
from shmlane import bytes as sb
from shmlane import spsc, transport


@pytest.fixture
def waits(seg_names):
    """For each kind: (its blocking call taking a timeout, a call that
    unblocks it)."""
    made = []
    btx, brx = sb.pair(capacity=4096)
    made += [btx, brx]
    name = seg_names()
    stx = spsc.Producer.create(name, 8, capacity=4)
    srx = spsc.Consumer.open(name, 8)
    made += [stx, srx]
    full = spsc.Producer.create(seg_names(), 8, capacity=4)
    while True:
        try:
            full.try_send(bytes(8))
        except shmlane.Full:
            break
    made.append(full)
    sem = shmlane.Semaphore.anonymous(0)
    name = seg_names()
    trx = transport.receiver(f"shm://{name}")
    ttx = transport.sender(f"shm://{name}?timeout_ms=5000")
    made += [trx, ttx]
    kinds = {
        "bytes.recv": (lambda t: brx.recv(timeout=t), lambda: btx.send(b"x")),
        "bytes.read": (lambda t: brx.read(timeout=t).release(), lambda: btx.send(b"x")),
        "spsc.recv_many": (
            lambda t: srx.recv_many(np.zeros(4, "u8"), timeout=t),
            lambda: stx.send(bytes(8)),
        ),
        "spsc.send (full)": (lambda t: full.send(bytes(8), timeout=t), None),
        "Semaphore.wait": (lambda t: sem.wait(timeout=t), sem.post),
        "transport.recv": (lambda t: trx.recv(timeout=t), lambda: ttx.send(b"x")),
    }
    yield kinds
    for end in made:
        end.close()


KINDS = [
    "bytes.recv",
    "bytes.read",
    "spsc.recv_many",
    "spsc.send (full)",
    "Semaphore.wait",
    "transport.recv",
]


@pytest.mark.parametrize("kind", KINDS)
def test_ctrl_c_interrupts_a_blocked_call(waits, kind):
    wait, _ = waits[kind]
    main = threading.main_thread().ident
    interrupter = threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT))
    try:
        # Without the slices this waits forever (the watchdog ends the run).
        with pytest.raises(KeyboardInterrupt):
            interrupter.start()  # in the block: the signal may come early
            wait(None)
    finally:
        interrupter.cancel()
        interrupter.join()
    with pytest.raises(shmlane.Timeout):
        wait(0)  # still usable


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "spsc.send (full)"])
def test_a_blocked_call_lets_other_threads_run(waits, kind):
    wait, unblock = waits[kind]
    # The other thread needs the GIL while this one waits.
    helper = threading.Timer(0.1, unblock)
    helper.start()
    wait(30)
    helper.join()


@pytest.mark.parametrize("scheme", ["fifo", "unix"])
def test_ctrl_c_interrupts_an_end_waiting_for_its_other_side(tmp_ipc_path, scheme):
    # A FIFO writer waits for a reader and a socket receiver for a
    # connection, as long as it takes: only Ctrl-C ends these.
    url = f"{scheme}://{tmp_ipc_path}"
    opening = transport.sender if scheme == "fifo" else transport.receiver
    main = threading.main_thread().ident
    interrupter = threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupter.start()
            opening(url)
    finally:
        interrupter.cancel()
        interrupter.join()
    if scheme == "unix":
        # The half-open listener was dropped: its path is gone, and the
        # address can be listened on again.
        assert not os.path.exists(tmp_ipc_path)
        with pytest.raises(shmlane.Timeout):
            transport.receiver(f"{url}?timeout_ms=10")
