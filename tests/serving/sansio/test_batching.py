"""The adaptive batching policy: its invariants under random schedules, its decisions one by
one, and its latency and throughput against no batching and a fixed delay, in simulation."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.serving.sansio.batching import BatchPolicy, Decision, LatencyModel
from corridor.serving.spec import Batching
from tests.serving.sansio.batch_simulation import FixedDelayPolicy, Outcome, Policy, simulate

# A model whose batches cost 2 ms plus 0.2 ms a row: one request at a time tops out at 455/s.
A_S, B_S = 0.0002, 0.002
BATCHING = Batching(max_batch_size=32, max_queue_delay_ms=5.0)
WARMUP = 300  # answers left out of the percentiles compared


def _trained(batching: Batching = BATCHING) -> BatchPolicy:
    policy = BatchPolicy(batching)
    for rows in (1, 4, 16, 32):
        policy.observe(rows, A_S * rows + B_S)
    return policy


def test_latency_model_recovers_a_linear_cost_exactly() -> None:
    model = LatencyModel()
    for rows in (1, 8, 2, 32, 5):
        model.observe(rows, 0.0005 * rows + 0.003)
    assert math.isclose(model.a, 0.0005, rel_tol=1e-6)
    assert math.isclose(model.b, 0.003, rel_tol=1e-6)
    assert math.isclose(model.predict_s(10), 0.008, rel_tol=1e-6)


def test_an_untrained_policy_sends_at_once_when_a_replica_is_idle() -> None:
    assert BatchPolicy(BATCHING).decide(0.0, [1], 0.0, 1) == Decision(take=1, wait_s=0.0)


def test_nothing_is_taken_while_no_replica_is_idle() -> None:
    decision = _trained().decide(1.0, [1, 1, 1], 0.999, 0)
    assert decision.take == 0
    assert decision.wait_s == math.inf


def test_a_full_batch_is_sent_at_once_and_never_over_the_maximum_rows() -> None:
    policy = _trained()
    # 10 + 20 fit in 32; the third request would not: a full batch of the two oldest.
    assert policy.decide(1.0, [10, 20, 5], 1.0, 1).take == 2


def test_a_request_larger_than_the_maximum_goes_alone() -> None:
    assert _trained().decide(1.0, [50, 1], 1.0, 1).take == 1


def test_disabled_batching_sends_one_request_at_a_time() -> None:
    policy = _trained(Batching(enabled=False))
    assert policy.decide(1.0, [1, 1, 1], 1.0, 1).take == 1


def test_two_idle_replicas_mean_no_waiting() -> None:
    policy = _trained()
    assert policy.decide(1.0, [1], 1.0, 2).take == 1


def test_a_request_past_its_latency_budget_is_shed_not_answered_late() -> None:
    policy = _trained(Batching(max_queue_delay_ms=5.0, latency_budget_ms=10.0))
    assert policy.decide(1.0, [1, 1], 0.985, 0) == Decision(shed=1, wait_s=0.0)
    # Still inside the budget but no replica free: look again when the budget runs out.
    decision = policy.decide(1.0, [1], 0.995, 0)
    assert decision.take == 0
    assert math.isclose(decision.wait_s, 0.005)


class CheckedPolicy:
    """Drives a policy and checks its invariants at every decision."""

    def __init__(self, batching: Batching) -> None:
        self.policy = BatchPolicy(batching)
        self.max_rows = batching.max_batch_size
        self.max_delay_s = batching.max_queue_delay_ms / 1000
        budget_ms = batching.latency_budget_ms
        self.budget_s = budget_ms / 1000 if budget_ms is not None else None
        self.idle_since: float | None = None
        self.decisions = 0

    def observe(self, batch_rows: int, duration_s: float) -> None:
        self.policy.observe(batch_rows, duration_s)

    def decide(
        self, now_s: float, queued_rows: Sequence[int], oldest_enqueued_s: float, idle: int
    ) -> Decision:
        d = self.policy.decide(now_s, queued_rows, oldest_enqueued_s, idle)
        self.decisions += 1
        assert d.take >= 0
        assert d.shed >= 0
        assert d.wait_s >= 0
        assert d.take <= len(queued_rows)
        if not queued_rows:
            assert d == Decision()
            return d
        if idle <= 0:
            assert d.take == 0
            self.idle_since = None
            return d
        if d.take:
            taken = queued_rows[: d.take]
            assert d.take == 1 or sum(taken) <= self.max_rows  # never over, unless alone
            if d.take < len(queued_rows):  # FIFO and nothing that fits left behind
                assert sum(taken) + queued_rows[d.take] > self.max_rows or d.take == 1
        if self.idle_since is None:
            self.idle_since = now_s
        hold_from = max(oldest_enqueued_s, self.idle_since)
        budget_s = self.budget_s
        if d.shed:  # only what has waited its whole budget is shed
            assert budget_s is not None
            assert now_s - oldest_enqueued_s >= budget_s - 1e-9
        elif budget_s is not None:  # nothing is sent after its budget ran out
            assert now_s - oldest_enqueued_s < budget_s
        if d.take or d.shed:
            assert now_s <= hold_from + self.max_delay_s + 1e-9
            self.idle_since = None
        else:  # a wait never reaches past the delay cap, nor so late the budget would break
            assert now_s + d.wait_s <= hold_from + self.max_delay_s + 1e-9
            if budget_s is not None:
                finish_s = now_s + d.wait_s + self.policy.latency.predict_s(sum(queued_rows) + 1)
                assert finish_s <= oldest_enqueued_s + budget_s + 1e-9
        return d


@settings(max_examples=40, deadline=None)
@given(
    max_rows=st.integers(1, 64),
    delay_ms=st.sampled_from([0.0, 0.5, 2.0, 10.0]),
    budget_ms=st.sampled_from([None, 3.0, 50.0]),
    rate=st.sampled_from([20.0, 500.0, 5000.0]),
    clients=st.sampled_from([0, 1, 7, 40]),
    replicas=st.integers(1, 3),
    rows=st.lists(st.integers(1, 80), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
)
def test_batches_keep_every_invariant_under_random_schedules(
    max_rows: int,
    delay_ms: float,
    budget_ms: float | None,
    rate: float,
    clients: int,
    replicas: int,
    rows: list[int],
    seed: int,
) -> None:
    batching = Batching(
        max_batch_size=max_rows, max_queue_delay_ms=delay_ms, latency_budget_ms=budget_ms
    )
    policy = CheckedPolicy(batching)
    out = simulate(
        policy,
        rate_per_s=rate,
        requests=150,
        a_s=A_S,
        b_s=B_S,
        replicas=replicas,
        rows=rows,
        clients=clients,
        think_s=0.0003,
        seed=seed,
    )
    assert len(out.latencies_s) + out.shed == 150  # every request answered or shed
    assert all(n <= max_rows for n in out.batch_rows) or max(rows) > max_rows
    if budget_ms is None:
        assert out.shed == 0


def _run(policy_name: str, rate_per_s: float = 0.0, clients: int = 0) -> Outcome:
    policies: dict[str, Policy] = {
        "none": BatchPolicy(Batching(enabled=False)),
        "fixed": FixedDelayPolicy(BATCHING),
        "greedy": BatchPolicy(Batching(max_batch_size=32, max_queue_delay_ms=0.0)),
        "adaptive": BatchPolicy(BATCHING),
    }
    requests = 1500 if policy_name == "none" else 3000
    return simulate(
        policies[policy_name],
        rate_per_s=rate_per_s,
        requests=requests,
        a_s=A_S,
        b_s=B_S,
        clients=clients,
        think_s=0.0005,
    )


def test_adaptive_batching_answers_overload_that_one_at_a_time_cannot() -> None:
    unbatched = _run("none", 1000.0)
    adaptive = _run("adaptive", 1000.0)
    assert unbatched.throughput_per_s < 460  # saturated at 1 / 2.2 ms
    assert adaptive.throughput_per_s > 2 * unbatched.throughput_per_s
    assert adaptive.percentile_s(0.99) < 0.01


def test_adaptive_batching_has_lower_p50_and_p99_than_a_fixed_delay_at_every_load() -> None:
    for rate, clients in ((50.0, 0), (400.0, 0), (3000.0, 0), (0.0, 8), (0.0, 32)):
        load = {"rate_per_s": rate, "clients": clients}
        fixed, adaptive = _run("fixed", rate, clients), _run("adaptive", rate, clients)
        # After a warm-up (the policy learns in its first few dozen batches).
        assert adaptive.percentile_s(0.5, WARMUP) <= fixed.percentile_s(0.5, WARMUP), load
        assert adaptive.percentile_s(0.99, WARMUP) <= fixed.percentile_s(0.99, WARMUP) * 1.001, load


def test_adaptive_batching_waits_for_clients_that_send_again_when_answered() -> None:
    greedy, adaptive = _run("greedy", clients=8), _run("adaptive", clients=8)
    # Greedy sending splits 8 clients into two halves that take turns; waiting for the
    # returning half joins them: whole batches of 8 and a lower p99.
    settled = adaptive.batch_rows[100:]  # after it has learned that answers bring clients back
    assert sum(greedy.batch_rows) / len(greedy.batch_rows) < 5
    assert sum(settled) / len(settled) > 7.5
    assert adaptive.percentile_s(0.99, WARMUP) < 0.8 * greedy.percentile_s(0.99, WARMUP)
