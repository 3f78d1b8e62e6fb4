"""A single-producer single-consumer ring of fixed-size records in shared
memory: the Rust ``shmlane::spsc`` ring, with the record's size and
alignment given at run time (``record_size=``/``align=``, or a numpy
``dtype=``). A Rust ``spsc::Consumer<T>`` (or ``Producer<T>``) shares the
segment when ``T`` has that size and alignment and both ends set the same
``schema_id``.

>>> import numpy as np
>>> tick = np.dtype([("price", "<f8"), ("qty", "<u4"), ("venue", "<u4")], align=True)
>>> tx = Producer.create("ticks", dtype=tick, capacity=4096, schema_id=7)
>>> rx = Consumer.open("ticks", dtype=tick, schema_id=7)
>>> tx.send_many(np.array([(101.5, 10, 3), (101.6, 5, 1)], dtype=tick))
2
>>> out = np.zeros(16, dtype=tick)
>>> n = rx.recv_many(out)         # copies what is waiting, up to 16
>>> out[:n]["price"].tolist()
[101.5, 101.6]

``pair(...)`` makes both ends over an anonymous segment, to share with a
forked child. ``capacity`` counts records (a power of two). A record or buffer of the
wrong size raises ValueError.
"""

from ._native import SpscConsumer as Consumer
from ._native import SpscProducer as Producer
from ._native import spsc_pair as pair

__all__ = ["Consumer", "Producer", "pair"]
