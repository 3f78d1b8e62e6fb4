"""Round trip of a small message between two Python processes: through a
pair of shmlane byte rings, a shmlane transport (shm://), a
multiprocessing.Pipe and a pair of multiprocessing.Queues, in the same
run, with the ratios of each to the shmlane ring.

    python python/bench/rtt.py                    # 20000 round trips of 64 bytes
    python python/bench/rtt.py --rounds 200 --size 8 --wait spin

The echo process is started with the spawn method; its start-up is not
timed. Each case runs --warmup round trips first. Numbers are only
meaningful on an otherwise idle machine.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import time

import shmlane
from shmlane import bytes as sb
from shmlane import transport

_counter = iter(range(1 << 30))


def _name(kind):
    return f"shmlane-bench-{kind}-{os.getpid()}-{next(_counter)}"


# The echo side of each case: answers every message with itself until
# `rounds` messages have been echoed.


def _echo_ring(requests, replies, rounds, wait):
    rx = sb.Consumer.open(requests, wait=wait, open_timeout=30)
    tx = sb.Producer.open(replies, wait=wait, open_timeout=30)
    for _ in range(rounds):
        tx.send(rx.recv())


def _echo_transport(requests, replies, rounds):
    rx = transport.receiver(f"shm://{requests}")
    tx = transport.sender(f"shm://{replies}?timeout_ms=30000")
    for _ in range(rounds):
        tx.send(rx.recv())
    tx.close()


def _echo_pipe(conn, rounds):
    for _ in range(rounds):
        conn.send_bytes(conn.recv_bytes())


def _echo_queue(requests, replies, rounds):
    for _ in range(rounds):
        replies.put(requests.get())


def _time_rounds(send, recv, payload, rounds):
    """Per-round-trip times in ns."""
    times = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        start = clock()
        send(payload)
        recv()
        times.append(clock() - start)
    return times


def case_ring(ctx, payload, rounds, wait):
    requests, replies = _name("req"), _name("rep")
    tx = sb.Producer.create(requests, capacity=1 << 16, wait=wait)
    rx = sb.Consumer.create(replies, capacity=1 << 16, wait=wait)
    child = ctx.Process(target=_echo_ring, args=(requests, replies, rounds, wait))
    child.start()
    try:
        return _time_rounds(tx.send, rx.recv, payload, rounds)
    finally:
        child.join()
        tx.close()
        rx.close()


def case_transport(ctx, payload, rounds, _wait):
    requests, replies = _name("req"), _name("rep")
    # Each side's receiver makes its segment; the senders wait for them.
    child = ctx.Process(target=_echo_transport, args=(requests, replies, rounds))
    rx = transport.receiver(f"shm://{replies}")
    child.start()
    tx = transport.sender(f"shm://{requests}?timeout_ms=30000")
    try:
        return _time_rounds(tx.send, rx.recv, payload, rounds)
    finally:
        child.join()
        tx.close()
        rx.close()


def case_pipe(ctx, payload, rounds, _wait):
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_echo_pipe, args=(theirs, rounds))
    child.start()
    try:
        return _time_rounds(ours.send_bytes, ours.recv_bytes, payload, rounds)
    finally:
        child.join()


def case_queue(ctx, payload, rounds, _wait):
    requests, replies = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=_echo_queue, args=(requests, replies, rounds))
    child.start()
    try:
        return _time_rounds(requests.put, replies.get, payload, rounds)
    finally:
        child.join()


CASES = {
    "shmlane.bytes ring": case_ring,
    "shmlane.transport shm://": case_transport,
    "multiprocessing.Pipe": case_pipe,
    "multiprocessing.Queue": case_queue,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000, help="timed round trips per case")
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed round trips first")
    parser.add_argument("--size", type=int, default=64, help="message bytes")
    parser.add_argument(
        "--wait",
        default="spin_then_park",
        choices=["spin", "spin_then_park", "park"],
        help="the shmlane ring's wait strategy",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.warmup < 0 or args.size < 0:
        parser.error("--rounds must be >= 1, --warmup and --size >= 0")
    ctx = mp.get_context("spawn")
    payload = os.urandom(args.size)
    print(
        f"round trip of {args.size} bytes, {args.rounds} timed after {args.warmup} warm-up "
        f"(shmlane {args.wait}, CPU count {os.cpu_count()})"
    )
    results = {}
    for label, case in CASES.items():
        times = case(ctx, payload, args.warmup + args.rounds, args.wait)[args.warmup :]
        times.sort()
        results[label] = times
    base = statistics.median(results["shmlane.bytes ring"])
    print(f"{'case':<26} {'median us':>10} {'p99 us':>10} {'mean us':>10} {'x ring':>8}")
    for label, times in results.items():
        median = statistics.median(times)
        p99 = times[min(len(times) - 1, len(times) * 99 // 100)]
        print(
            f"{label:<26} {median / 1e3:>10.2f} {p99 / 1e3:>10.2f} "
            f"{statistics.fmean(times) / 1e3:>10.2f} {median / base:>8.2f}"
        )


if __name__ == "__main__":
    main()
