"""Queue ordering: the submit-time key orders as effective priority does; fair share by weight."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio.queue import (
    FairShare,
    ProjectQueues,
    charge,
    effective_priority,
    order_key,
)
from corridor.compute.sansio.resources import Resources

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=100)


@PROPERTY
@given(
    jobs=st.lists(
        st.tuples(st.integers(-100, 100), st.integers(0, 10**6)), min_size=2, max_size=30
    ),
    aging_per_s=st.sampled_from([0.0, 1 / 600, 1 / 60, 1.0]),
    later_s=st.integers(0, 10**7),
)
def test_the_submit_time_key_orders_as_effective_priority_does_at_any_time(
    jobs: list[tuple[int, int]], aging_per_s: float, later_s: int
) -> None:
    now = 10**6 + later_s
    by_key = sorted(range(len(jobs)), key=lambda i: order_key(*jobs[i], aging_per_s))
    in_key_order = [effective_priority(*jobs[i], now, aging_per_s) for i in by_key]
    # Lower key first is highest effective priority first, whatever ``now`` is.
    assert all(x >= y - 1e-6 for x, y in pairwise(in_key_order))


def test_project_queues_replace_and_discard_lazily() -> None:
    queues = ProjectQueues()
    queues.push("p", "a", 5.0, 0.0)
    queues.push("p", "b", 1.0, 0.0)
    queues.push("p", "a", 0.5, 0.0)  # replaced: its old entry goes stale
    queues.discard("b")
    first = queues.pop("p")
    assert first is not None
    assert first.job_id == "a"
    assert first.key == 0.5
    assert queues.pop("p") is None
    queues.restore("p", first)
    assert queues.peek("p") == first
    assert len(queues) == 1


def test_compaction_drops_stale_entries_and_keeps_live_ones() -> None:
    queues = ProjectQueues()
    for i in range(3000):
        queues.push("p", f"j{i}", float(i), 0.0)
    for i in range(2990):
        queues.discard(f"j{i}")
    queues.compact_if_stale()
    assert len(queues._heaps["p"]) == 10
    popped = []
    while (entry := queues.pop("p")) is not None:
        popped.append(entry.job_id)
    assert popped == [f"j{i}" for i in range(2990, 3000)]


def test_fair_share_takes_the_lowest_usage_per_weight_and_charges_out_of_turn() -> None:
    queues = ProjectQueues({"a": 1.0, "b": 3.0})
    fair = FairShare(queues, ["a", "b"], {"a": 1.0, "b": 2.0})
    assert fair.current() == "b"  # 2/3 < 1/1
    fair.charge("b", 2.0)  # 4/3
    assert fair.current() == "a"
    fair.charge("b", 100.0)  # not b's turn: charged all the same
    fair.charge("a", 1.0)  # 2/1
    assert fair.current() == "a"
    assert fair.usage == {"a": 2.0, "b": 104.0}


def test_a_gpu_is_charged_as_eight_cpus() -> None:
    assert charge(Resources(2, 0, 1), workers=3) == 3 * (2 + 8)
