"""Python and Rust processes on the same named segments, with sequence
numbers: the ``shmlane`` CLI (``shm://`` byte rings) and the
``records_peer`` example (typed SPSC records) are the Rust sides."""

import subprocess

import numpy as np
import pytest

import shmlane
from shmlane import bytes as sb
from shmlane import spsc, transport

COUNT = 20_000
TICK = np.dtype([("seq", "<u8"), ("price", "<f8"), ("qty", "<u4"), ("venue", "<u4")], align=True)
SCHEMA = 0x7469636B  # records_peer's


def lines(count):
    return "".join(f"{i}\n" for i in range(count)).encode()


def test_python_bytes_producer_to_rust(seg_name, shmlane_cli, tmp_path):
    # The peers' stdio goes through files: a pipe would fill up and stall
    # the peer while the test is busy with the ring.
    out = tmp_path / "out"
    with sb.Producer.create(seg_name, capacity=1 << 16) as tx, out.open("wb") as stdout:
        rust = subprocess.Popen(
            [shmlane_cli, "recv", f"shm://{seg_name}", "--count", str(COUNT), "--timeout", "30"],
            stdout=stdout,
        )
        try:
            for i in range(COUNT):
                tx.send(str(i).encode(), timeout=30)
            assert rust.wait(timeout=60) == 0
        finally:
            rust.kill()
            rust.wait()
    assert out.read_bytes() == lines(COUNT)


def test_rust_to_python_bytes_consumer(seg_name, shmlane_cli, tmp_path):
    numbers = tmp_path / "in"
    numbers.write_bytes(lines(COUNT))
    with sb.Consumer.create(seg_name, capacity=1 << 16) as rx, numbers.open("rb") as stdin:
        rust = subprocess.Popen(
            [shmlane_cli, "send", f"shm://{seg_name}", "--timeout", "30"], stdin=stdin
        )
        try:
            got = [int(m) for m in rx]  # until the sender's disconnect
            assert rust.wait(timeout=60) == 0
        finally:
            rust.kill()
            rust.wait()
    assert got == list(range(COUNT))


def test_python_transport_sender_to_rust(seg_name, shmlane_cli, tmp_path):
    out = tmp_path / "out"
    with out.open("wb") as stdout:
        rust = subprocess.Popen(
            [shmlane_cli, "recv", f"shm://{seg_name}", "--count", str(COUNT), "--timeout", "30"],
            stdout=stdout,
        )
    try:
        with transport.sender(f"shm://{seg_name}?timeout_ms=30000") as tx:
            for i in range(COUNT):
                tx.send(str(i).encode(), timeout=30)
        assert rust.wait(timeout=60) == 0
    finally:
        rust.kill()
        rust.wait()
    assert out.read_bytes() == lines(COUNT)


def test_rust_to_python_over_a_unix_socket(tmp_ipc_path, shmlane_cli, tmp_path):
    url = f"unix://{tmp_ipc_path}"
    numbers = tmp_path / "in"
    numbers.write_bytes(lines(COUNT))
    with numbers.open("rb") as stdin:
        rust = subprocess.Popen([shmlane_cli, "send", f"{url}?timeout_ms=30000"], stdin=stdin)
    try:
        with transport.receiver(url) as rx:
            got = [int(m) for m in rx]
        assert rust.wait(timeout=60) == 0
    finally:
        rust.kill()
        rust.wait()
    assert got == list(range(COUNT))


def expected_ticks(count):
    out = np.zeros(count, dtype=TICK)
    out["seq"] = np.arange(count)
    out["price"] = out["seq"] / 4
    out["qty"] = out["seq"] % 1000
    out["venue"] = 7
    return out


def test_python_records_to_rust(seg_name, records_peer):
    rust = subprocess.Popen(
        [records_peer, "recv", seg_name, str(COUNT)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert rust.stdout.readline() == "ready\n"
        with spsc.Producer.open(seg_name, dtype=TICK, schema_id=SCHEMA) as tx:
            batch = expected_ticks(COUNT)
            for start in range(0, COUNT, 500):  # singles and batches
                tx.send(batch[start])
                tx.send_many(batch[start + 1 : start + 500], timeout=30)
        assert rust.wait(timeout=60) == 0
    finally:
        rust.kill()
        rust.wait()


def test_rust_records_to_python(seg_name, records_peer):
    with spsc.Consumer.create(seg_name, dtype=TICK, capacity=1024, schema_id=SCHEMA) as rx:
        rust = subprocess.Popen([records_peer, "send", seg_name, str(COUNT)])
        try:
            got = np.zeros(COUNT, dtype=TICK)
            n = 0
            while n < COUNT:
                n += rx.recv_many(got[n:], timeout=30)
            with pytest.raises(shmlane.Disconnected):
                rx.recv(timeout=30)
            assert rust.wait(timeout=60) == 0
        finally:
            rust.kill()
            rust.wait()
    assert (got == expected_ticks(COUNT)).all()


def test_a_rust_ring_of_another_record_size_is_incompatible(seg_name, records_peer):
    rust = subprocess.Popen(
        [records_peer, "recv", seg_name, "1"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert rust.stdout.readline() == "ready\n"
        with pytest.raises(shmlane.Incompatible) as caught:
            spsc.Producer.open(seg_name, 32, align=8, schema_id=SCHEMA)
        assert "size" in caught.value.field
        assert caught.value.expected != caught.value.found
        with pytest.raises(shmlane.Incompatible) as caught:
            sb.Producer.open(seg_name)  # not a byte ring at all
    finally:
        rust.kill()
        rust.wait()
