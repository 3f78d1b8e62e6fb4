"""shmlane.bytes in one process: sends and receives, zero-copy reads and
their release, closing, and the typed exceptions of bad input."""

import gc
import threading
import time

import numpy as np
import pytest

import shmlane
from shmlane import bytes as sb


@pytest.fixture
def ring():
    tx, rx = sb.pair(capacity=4096)
    yield tx, rx
    tx.close()


def test_send_recv_keeps_order_and_content(ring):
    tx, rx = ring
    messages = [b"", b"a", b"hello", bytes(range(256)) * 3]
    for m in messages:
        tx.send(m)
    assert [rx.recv(timeout=5) for _ in messages] == messages


def test_send_takes_any_contiguous_buffer(ring):
    tx, rx = ring
    tx.send(bytearray(b"ba"))
    tx.send(memoryview(b"xmvx")[1:3])
    tx.send(np.arange(3, dtype="<u2"))
    assert rx.recv() == b"ba"
    assert rx.recv() == b"mv"
    assert rx.recv() == b"\x00\x00\x01\x00\x02\x00"
    with pytest.raises(ValueError, match="contiguous"):
        tx.send(np.arange(8, dtype="u1")[::2])


def test_read_lends_the_frame_until_the_view_is_released(ring):
    tx, rx = ring
    tx.send(b"first")
    tx.send(b"second")
    with rx.read(timeout=5) as view:
        exporter = view.obj
        assert view.readonly
        assert bytes(view) == b"first"
        assert np.frombuffer(view, dtype="u1")[0] == ord("f")
        with pytest.raises(shmlane.FrameHeld):
            rx.recv()
        with pytest.raises(shmlane.FrameHeld):
            rx.read()
        with pytest.raises(shmlane.FrameHeld):
            rx.close()
    # The view is released: using it raises, never reads freed memory.
    with pytest.raises(ValueError):
        view[0]
    with pytest.raises(BufferError):
        memoryview(exporter)
    # The first frame was released once: the next read is the second.
    second = rx.try_read()
    assert bytes(second) == b"second"
    second.release()
    with pytest.raises(shmlane.Empty):
        rx.try_read()


def test_an_array_over_a_view_keeps_it_lent(ring):
    tx, rx = ring
    tx.send(np.arange(4, dtype="<u4"))
    tx.send(b"next")
    view = rx.read()
    array = np.frombuffer(view, dtype="<u4")
    view.release()
    # numpy holds a view of its own: the frame stays lent while it lives.
    with pytest.raises(shmlane.FrameHeld):
        rx.recv()
    assert array.tolist() == [0, 1, 2, 3]
    del array
    gc.collect()
    assert rx.recv() == b"next"


def test_a_dropped_view_releases_its_frame(ring):
    tx, rx = ring
    tx.send(b"one")
    tx.send(b"two")
    assert bytes(rx.read()) == b"one"  # the view is garbage at once
    gc.collect()
    assert rx.recv() == b"two"


def test_a_view_collected_during_a_consumer_call_is_given_back(ring):
    tx, rx = ring
    tx.send(b"one")
    tx.send(b"two")
    cycle = [rx.read()]
    cycle.append(cycle)  # only the cycle collector frees the view
    del cycle
    # Collect at almost every allocation: inside the next call, while it
    # holds the consumer, the view is released.
    threshold = gc.get_threshold()
    gc.set_threshold(1)
    try:
        try:
            first = rx.recv(timeout=5)
        except shmlane.FrameHeld:
            first = rx.recv(timeout=5)  # given back now, not stuck
    finally:
        gc.set_threshold(*threshold)
    assert first == b"two"


def test_a_view_keeps_the_frame_from_the_producer():
    tx, rx = sb.pair(capacity=1024)
    payload = b"x" * 200
    tx.send(payload)
    view = rx.read()
    # The ring fills up behind the lent frame without overwriting it.
    sent = 0
    while True:
        try:
            tx.try_send(b"y" * 200)
            sent += 1
        except shmlane.Full:
            break
    assert bytes(view) == payload
    view.release()
    assert [rx.recv() for _ in range(sent)] == [b"y" * 200] * sent
    tx.close()


def test_stats_count_the_traffic(ring):
    tx, rx = ring
    tx.send(b"12345678")
    rx.recv()
    stats = rx.stats()
    assert stats.pushes == 2  # a header word and a payload word
    assert stats.written_bytes == 16
    assert stats == tx.stats()
    assert stats.as_dict()["pushes"] == 2


def test_iteration_ends_at_the_disconnect():
    tx, rx = sb.pair(capacity=4096)
    for i in range(5):
        tx.send(str(i).encode())
    tx.close()
    assert list(rx) == [b"0", b"1", b"2", b"3", b"4"]
    assert rx.disconnected
    with pytest.raises(shmlane.Disconnected):
        rx.recv()


def test_timeouts_raise_timeout(ring):
    tx, rx = ring
    with pytest.raises(shmlane.Timeout) as caught:
        rx.recv(timeout=0.05)
    assert isinstance(caught.value, TimeoutError)
    with pytest.raises(shmlane.Timeout):
        rx.read(timeout=0)
    with pytest.raises(ValueError, match="timeout"):
        rx.recv(timeout=-1)


def test_overflow_fail_and_too_large_frames():
    tx, rx = sb.pair(capacity=1024, overflow="fail")
    with pytest.raises(shmlane.TooLarge) as caught:
        tx.send(b"z" * (tx.max_frame + 1))
    assert isinstance(caught.value, ValueError)
    while True:
        try:
            tx.send(b"f" * 100, timeout=5)
        except shmlane.Full:
            break
    with pytest.raises(ValueError, match="overflow"):
        sb.pair(overflow="sometimes")
    tx.close()


def test_closed_handles_raise_closed(ring):
    tx, rx = ring
    tx.close()
    tx.close()  # twice is fine
    assert tx.closed
    with pytest.raises(shmlane.Closed):
        tx.send(b"x")
    with pytest.raises(shmlane.Closed):
        tx.stats()
    with rx:
        pass
    with pytest.raises(shmlane.Closed) as caught:
        rx.recv()
    assert isinstance(caught.value, ValueError)


def test_named_ring_errors(seg_name):
    with pytest.raises(shmlane.NotFound) as caught:
        sb.Consumer.open(seg_name, open_timeout=0)
    assert isinstance(caught.value, FileNotFoundError)
    tx = sb.Producer.create(seg_name, capacity=4096)
    with pytest.raises(shmlane.AlreadyExists):
        sb.Producer.create(seg_name)
    with pytest.raises(shmlane.Incompatible) as caught:
        sb.Consumer.open(seg_name, capacity=8192)
    assert caught.value.field == "capacity"
    rx = sb.Consumer.open(seg_name)
    with pytest.raises(shmlane.RoleTaken):
        sb.Consumer.open(seg_name)
    tx.send(b"named")
    assert rx.recv(timeout=5) == b"named"
    tx.close()
    rx.close()


def test_one_thread_at_a_time(ring):
    tx, rx = ring
    waiting = threading.Thread(target=lambda: rx.recv(timeout=30))
    waiting.start()
    # Until the thread is inside recv, try_recv finds the ring empty.
    while True:
        try:
            rx.try_recv()
        except shmlane.Empty:
            time.sleep(0.01)
        except shmlane.Busy:
            break
    tx.send(b"done")
    waiting.join()
