"""The least-outstanding choice (`corridor.serving.sansio.balancing`), without replicas."""

from __future__ import annotations

from corridor.serving.sansio.balancing import LeastOutstanding


def test_choose_picks_the_replica_with_fewest_outstanding() -> None:
    assert LeastOutstanding().choose([4, 1, 3]) == 1


def test_choose_shares_ties_round_robin() -> None:
    balancer = LeastOutstanding()
    assert [balancer.choose([0, 0, 0]) for _ in range(6)] == [0, 1, 2, 0, 1, 2]


def test_choose_round_robins_among_the_least_loaded_only() -> None:
    balancer = LeastOutstanding()
    assert [balancer.choose([2, 0, 2, 0]) for _ in range(4)] == [1, 3, 1, 3]


def test_choose_without_replicas_gives_none_and_one_replica_always_wins() -> None:
    balancer = LeastOutstanding()
    assert balancer.choose([]) is None
    assert balancer.choose([9]) == 0
