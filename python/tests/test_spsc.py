"""shmlane.spsc in one process: records in and out as bytes and numpy
arrays, and the ValueErrors and typed exceptions of bad input."""

import numpy as np
import pytest

import shmlane
from shmlane import spsc

TICK = np.dtype([("seq", "<u8"), ("price", "<f8"), ("qty", "<u4"), ("venue", "<u4")], align=True)


@pytest.fixture
def ring(seg_name):
    tx = spsc.Producer.create(seg_name, dtype=TICK, capacity=64)
    rx = spsc.Consumer.open(seg_name, dtype=TICK)
    yield tx, rx
    tx.close()
    rx.close()


def ticks(start, count):
    out = np.zeros(count, dtype=TICK)
    out["seq"] = np.arange(start, start + count)
    out["price"] = out["seq"] / 4
    out["qty"] = out["seq"] % 1000
    out["venue"] = 7
    return out


def test_records_round_trip_as_bytes_and_arrays(ring):
    tx, rx = ring
    assert tx.record_size == rx.record_size == TICK.itemsize == 24
    assert tx.capacity == 64
    one = ticks(0, 1)
    tx.send(one.tobytes())
    assert rx.recv(timeout=5) == one.tobytes()
    tx.send(one)
    into = np.zeros(1, dtype=TICK)
    rx.recv_into(into, timeout=5)
    assert into == one


def test_many_records_through_numpy(ring):
    tx, rx = ring
    assert tx.send_many(ticks(0, 40)) == 40
    out = np.zeros(64, dtype=TICK)
    n = rx.recv_many(out, timeout=5)
    assert n == 40
    assert (out[:n] == ticks(0, 40)).all()
    with pytest.raises(shmlane.Empty):
        rx.try_recv()


def test_a_batch_larger_than_the_ring_goes_through(ring):
    import threading

    tx, rx = ring
    batch = ticks(0, 1000)
    sender = threading.Thread(target=tx.send_many, args=(batch,), kwargs={"timeout": 30})
    sender.start()
    got = np.zeros(1000, dtype=TICK)
    n = 0
    while n < 1000:
        n += rx.recv_many(got[n:], timeout=30)
    sender.join()
    assert (got == batch).all()


def test_wrong_sizes_are_value_errors(ring):
    tx, rx = ring
    with pytest.raises(ValueError, match="24-byte"):
        tx.send(b"x" * 23)
    with pytest.raises(ValueError, match="whole number"):
        tx.send_many(b"x" * 50)
    tx.send(ticks(0, 1))
    with pytest.raises(ValueError):
        rx.recv_into(bytearray(16))
    with pytest.raises(ValueError, match="read-only"):
        rx.recv_into(bytes(24))
    with pytest.raises(ValueError, match="whole number"):
        rx.recv_many(bytearray(30))
    # Nothing was taken by the refused calls.
    assert rx.try_recv() == ticks(0, 1).tobytes()


def test_bad_shapes_are_invalid_config(seg_name):
    with pytest.raises(shmlane.InvalidConfig) as caught:
        spsc.Producer.create(seg_name, 12, align=8)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="record_size"):
        spsc.Producer.create(seg_name)


def test_another_record_size_is_incompatible(ring, seg_name):
    with pytest.raises(shmlane.Incompatible) as caught:
        spsc.Consumer.open(seg_name, 32, align=8)
    assert "size" in caught.value.field


def test_fill_then_full_then_disconnect(ring):
    tx, rx = ring
    while True:
        try:
            tx.try_send(ticks(0, 1))
        except shmlane.Full:
            break
    with pytest.raises(shmlane.Timeout):
        tx.send(ticks(0, 1), timeout=0.05)
    tx.close()
    assert len(list(rx)) == 64
    with pytest.raises(shmlane.Disconnected):
        rx.recv(timeout=5)
    with pytest.raises(shmlane.Closed):
        tx.try_send(ticks(0, 1))
