"""shmlane.transport in one process: a round trip by URL and the typed
exceptions of bad URLs and messages."""

import pytest

import shmlane
from shmlane import transport


def test_shm_round_trip_and_limits(seg_name):
    rx = transport.receiver(f"shm://{seg_name}?max=16")
    tx = transport.sender(f"shm://{seg_name}?max=16&timeout_ms=5000")
    assert tx.max_message_size == rx.max_message_size == 16
    assert tx.endpoint == f"shm://{seg_name}"
    tx.send(b"ping")
    tx.send(bytearray(b"pong"))
    assert rx.recv(timeout=5) == b"ping"
    assert rx.try_recv() == b"pong"
    with pytest.raises(shmlane.Empty):
        rx.try_recv()
    with pytest.raises(shmlane.Timeout):
        rx.recv(timeout=0.05)
    with pytest.raises(shmlane.TooLarge) as caught:
        tx.send(b"x" * 17)
    assert isinstance(caught.value, ValueError)
    tx.close()
    with pytest.raises(shmlane.Closed):
        tx.send(b"late")
    with pytest.raises(shmlane.Disconnected):
        rx.recv(timeout=5)
    rx.close()
    with pytest.raises(shmlane.Closed):
        rx.recv()


def test_bad_urls_are_invalid_config(seg_name):
    for url in ("bogus://x", "shm://a/b", f"shm://{seg_name}?colour=blue"):
        with pytest.raises(shmlane.InvalidConfig) as caught:
            transport.sender(url)
        assert isinstance(caught.value, ValueError)


def test_nobody_listening(tmp_ipc_path):
    with pytest.raises((shmlane.NotFound, shmlane.Disconnected)):
        transport.sender(f"unix://{tmp_ipc_path}")


def test_another_max_is_incompatible(seg_name):
    rx = transport.receiver(f"shm://{seg_name}?max=16")
    with pytest.raises(shmlane.Incompatible) as caught:
        transport.sender(f"shm://{seg_name}?max=32&timeout_ms=5000")
    assert caught.value.field
    rx.close()
