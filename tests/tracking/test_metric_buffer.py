"""The background metric buffer: batches, lingering, flushing, and errors that surface."""

from __future__ import annotations

import threading
import time

import pytest

from corridor.tracking.entities import MetricPoint
from corridor.tracking.metric_buffer import MetricBuffer


class Recorder:
    def __init__(self, fail_on: int | None = None, delay_s: float = 0.0) -> None:
        self.batches: list[list[MetricPoint]] = []
        self.fail_on = fail_on
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def __call__(self, batch: list[MetricPoint]) -> None:
        time.sleep(self.delay_s)
        with self.lock:
            self.batches.append(batch)
            if self.fail_on is not None and len(self.batches) == self.fail_on:
                raise ConnectionError("server went away")


def points(n: int, start: int = 0) -> list[MetricPoint]:
    return [MetricPoint("m", float(i), i, i) for i in range(start, start + n)]


def test_points_go_out_in_batches_of_at_most_1000_in_order() -> None:
    sent = Recorder(delay_s=0.01)
    buffer = MetricBuffer(sent, linger_s=60)
    for i in range(0, 2500, 10):
        buffer.add(points(10, i))
    buffer.close()
    assert all(len(b) <= 1000 for b in sent.batches)
    assert [p for b in sent.batches for p in b] == points(2500)


def test_a_lone_point_goes_out_after_the_linger_time() -> None:
    sent = Recorder()
    buffer = MetricBuffer(sent, linger_s=0.05)
    buffer.add(points(1))
    deadline = time.monotonic() + 5
    while not sent.batches:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert sent.batches == [points(1)]
    buffer.close()


def test_flush_waits_until_everything_is_sent() -> None:
    sent = Recorder(delay_s=0.02)
    buffer = MetricBuffer(sent, linger_s=60)
    buffer.add(points(5))
    buffer.flush()
    assert sent.batches == [points(5)]
    buffer.flush()  # nothing queued: returns at once
    buffer.close()


def test_a_failed_send_is_raised_on_the_next_call() -> None:
    sent = Recorder(fail_on=1)
    buffer = MetricBuffer(sent, linger_s=60)
    buffer.add(points(3))
    with pytest.raises(ConnectionError, match="went away"):
        buffer.flush()
    buffer.add(points(2, 3))  # the error was reported once; logging goes on
    buffer.close()
    assert sent.batches[-1] == points(2, 3)


def test_a_closed_buffer_takes_no_more_points() -> None:
    buffer = MetricBuffer(Recorder())
    buffer.close()
    with pytest.raises(RuntimeError, match="closed"):
        buffer.add(points(1))
