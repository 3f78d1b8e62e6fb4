"""A single-producer single-consumer ring of variable-length frames in
shared memory (the Rust ``shmlane::bytes``).

>>> tx = Producer.create("quotes", capacity=1 << 16)  # process A
>>> rx = Consumer.open("quotes")                        # process B
>>> tx.send(b"hello")
>>> rx.recv()
b'hello'
>>> tx.send(b"in place")
>>> with rx.read() as view:      # a memoryview of the ring itself
...     bytes(view[:2])
b'in'

``capacity`` is in bytes (a power of two); ``overflow`` is ``"block"``,
``"fail"`` or ``"drop"``; ``wait`` is ``"spin"``, ``"spin_then_park"`` or
``"park"``.
"""

from ._native import Consumer, FrameView, Producer, pair

__all__ = ["Consumer", "FrameView", "Producer", "pair"]
