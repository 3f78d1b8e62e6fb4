"""Python to Python across processes made by multiprocessing: named byte
and record rings (spawn: the child opens by name), an anonymous pair
inherited across fork, and a named semaphore."""

import multiprocessing as mp
import struct

import numpy as np

import shmlane
from shmlane import bytes as sb
from shmlane import spsc

COUNT = 20_000


def _echo_child(requests, replies, count):
    """Opens both named rings and answers each request with its number + 1."""
    rx = sb.Consumer.open(requests, open_timeout=30)
    tx = sb.Producer.open(replies, open_timeout=30)
    for _ in range(count):
        (n,) = struct.unpack("<Q", rx.recv(timeout=30))
        tx.send(struct.pack("<Q", n + 1), timeout=30)
    tx.close()


def test_ping_pong_between_spawned_processes(seg_names):
    requests, replies = seg_names(), seg_names()
    tx = sb.Producer.create(requests, capacity=4096)
    rx = sb.Consumer.create(replies, capacity=4096)
    child = mp.get_context("spawn").Process(target=_echo_child, args=(requests, replies, 1000))
    child.start()
    for n in range(1000):
        tx.send(struct.pack("<Q", n), timeout=30)
        assert struct.unpack("<Q", rx.recv(timeout=30)) == (n + 1,)
    child.join(30)
    assert child.exitcode == 0
    assert list(rx) == []  # the child closed its producer


def _send_sequence(ring_name, count):
    with sb.Producer.open(ring_name, open_timeout=30) as tx:
        for i in range(count):
            tx.send(struct.pack("<Q", i), timeout=30)


def test_a_spawned_producer_streams_in_order(seg_name):
    rx = sb.Consumer.create(seg_name, capacity=1 << 14)
    child = mp.get_context("spawn").Process(target=_send_sequence, args=(seg_name, COUNT))
    child.start()
    got = []
    for _ in range(COUNT):
        with rx.read(timeout=30) as view:  # zero-copy, then released
            got.append(struct.unpack("<Q", view)[0])
    assert got == list(range(COUNT))
    child.join(30)
    assert child.exitcode == 0


def _forked_sender(tx, rx, count):
    rx.close()  # this process's copy of the other end is unused
    for i in range(count):
        tx.send(struct.pack("<Q", i), timeout=30)
    tx.close()


def test_an_anonymous_pair_across_fork():
    tx, rx = sb.pair(capacity=1 << 14)
    child = mp.get_context("fork").Process(target=_forked_sender, args=(tx, rx, COUNT))
    child.start()
    tx.close()
    got = [struct.unpack("<Q", m)[0] for m in rx]
    child.join(30)
    assert child.exitcode == 0
    assert got == list(range(COUNT))


TICK = np.dtype([("seq", "<u8"), ("value", "<f8")])


def _record_sender(ring_name, count):
    with spsc.Producer.open(ring_name, dtype=TICK, open_timeout=30) as tx:
        batch = np.zeros(100, dtype=TICK)
        for start in range(0, count, 100):
            batch["seq"] = np.arange(start, start + 100)
            batch["value"] = batch["seq"] * 0.5
            tx.send_many(batch, timeout=30)


def test_records_between_processes(seg_name):
    rx = spsc.Consumer.create(seg_name, dtype=TICK, capacity=256)
    child = mp.get_context("spawn").Process(target=_record_sender, args=(seg_name, COUNT))
    child.start()
    got = np.zeros(COUNT, dtype=TICK)
    n = 0
    while n < COUNT:
        n += rx.recv_many(got[n:], timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert (got["seq"] == np.arange(COUNT)).all()
    assert (got["value"] == np.arange(COUNT) * 0.5).all()


def _forked_record_sender(tx, rx, count):
    rx.close()
    records = np.zeros(count, dtype=TICK)
    records["seq"] = np.arange(count)
    tx.send_many(records, timeout=30)
    tx.close()


def test_an_anonymous_records_pair_across_fork():
    tx, rx = spsc.pair(dtype=TICK, capacity=128)
    child = mp.get_context("fork").Process(target=_forked_record_sender, args=(tx, rx, COUNT))
    child.start()
    tx.close()
    got = np.zeros(COUNT + 1, dtype=TICK)
    n = 0
    while n < COUNT:
        n += rx.recv_many(got[n:], timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert n == COUNT
    assert (got["seq"][:COUNT] == np.arange(COUNT)).all()


def _post_n(sem_name, count):
    sem = shmlane.Semaphore.open(sem_name, open_timeout=30)
    for _ in range(count):
        sem.post()


def test_a_named_semaphore_between_processes(seg_name):
    sem = shmlane.Semaphore.create(seg_name, 0)
    child = mp.get_context("spawn").Process(target=_post_n, args=(seg_name, 100))
    child.start()
    for _ in range(100):
        sem.wait(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert not sem.try_wait()
