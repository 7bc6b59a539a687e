"""read_ahead: the sample data's next batch made in a worker while the caller sends the last."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from studyhall.sample_data.read_ahead import read_ahead

WORKER = "studyhall-read-ahead"


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(WORKER)]


def test_every_item_comes_in_order_made_in_a_worker_one_ahead():
    made: list[int] = []
    makers: set[int] = set()

    def items() -> Iterator[int]:
        for i in range(20):
            makers.add(threading.get_ident())
            made.append(i)
            yield i

    handled = []
    with read_ahead(items()) as ahead:
        for item in ahead:
            time.sleep(0.002)  # the caller's own work, e.g. waiting for the server
            # The item handed out and at most the next one are made; never two ahead.
            assert len(made) <= item + 2
            handled.append(item)
    assert handled == list(range(20))
    assert makers and threading.get_ident() not in makers
    assert not workers()


def test_an_error_making_an_item_is_raised_in_the_caller_at_that_item():
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("made badly")

    handled = []
    with pytest.raises(ValueError, match="made badly"), read_ahead(items()) as ahead:
        for item in ahead:
            handled.append(item)
    assert handled == [1, 2]
    assert not workers()


def test_leaving_early_finishes_the_item_being_made_and_ends_the_worker():
    finished = []

    def items() -> Iterator[int]:
        for i in range(100):
            time.sleep(0.01)
            finished.append(i)
            yield i

    with pytest.raises(RuntimeError, match="caller failed"), read_ahead(items()) as ahead:
        for item in ahead:
            if item == 3:
                raise RuntimeError("caller failed")
    assert not workers()
    assert finished in ([0, 1, 2, 3], [0, 1, 2, 3, 4])  # the one in the making, no more
