"""Discrete byte messages over any Linux IPC mechanism, picked by URL (the
Rust ``shmlane::transport``): ``shm://NAME``, ``pipe:``,
``fifo:///PATH``, ``mq:///NAME``, ``sysvmq://KEY``, ``unix:///PATH``,
``unix+seqpacket:///PATH``, ``tcp://HOST:PORT``, with options as
``?max=N&timeout_ms=N``.

>>> rx = receiver("mq:///jobs")   # process A
>>> tx = sender("mq:///jobs")     # process B
>>> tx.send(b"job 1")
>>> rx.recv()
b'job 1'
"""

from ._native import Receiver, Sender, receiver, sender

__all__ = ["Receiver", "Sender", "receiver", "sender"]
