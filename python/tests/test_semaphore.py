"""shmlane.Semaphore: P and V, timeouts, the context manager, errors."""

import threading

import pytest

import shmlane


def test_wait_and_post(seg_name):
    sem = shmlane.Semaphore.create(seg_name, 1)
    other = shmlane.Semaphore.open(seg_name)
    assert other.try_wait()
    assert not sem.try_wait()
    with pytest.raises(shmlane.Timeout):
        sem.wait(timeout=0.05)
    sem.post()
    assert other.value == 1
    with other:
        assert sem.value == 0
    assert sem.value == 1
    other.close()
    sem.close()
    with pytest.raises(shmlane.Closed):
        sem.post()


def test_a_waiter_is_woken_by_another_thread():
    sem = shmlane.Semaphore.anonymous(0)
    poster = threading.Timer(0.1, sem.post)
    poster.start()
    sem.wait(timeout=30)  # the poster needs the GIL meanwhile
    poster.join()


def test_errors(seg_name):
    with pytest.raises(shmlane.NotFound):
        shmlane.Semaphore.open(seg_name, open_timeout=0)
    with pytest.raises(shmlane.InvalidConfig):
        shmlane.Semaphore.anonymous(2**31)
    with pytest.raises(OverflowError):
        shmlane.Semaphore.anonymous(-1)


def test_post_past_the_maximum_is_overflow():
    sem = shmlane.Semaphore.anonymous(2**31 - 1)
    with pytest.raises(shmlane.Overflow) as caught:
        sem.post()
    assert isinstance(caught.value, OverflowError)

