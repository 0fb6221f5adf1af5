"""The run views without a terminal: the step board, the tree as rich draws it (recorded), the
plain lines, and how a value that JSON cannot hold is shown."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from rich.console import Console

from corridor.pipelines.cli.run_command import jsonable
from corridor.pipelines.cli.view import (
    LiveView,
    PlainLines,
    StepBoard,
    StepStatus,
    format_duration,
    plain_line,
    render_tree,
)

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class FakeEvent:
    """What the driver hands ``on_event``: the view reads these attributes only."""

    key: str
    step: str
    state: str
    parent_key: str | None = None
    item_index: int | None = None
    duration_s: float | None = None
    cached: bool = False
    error: str | None = None
    traceback: str | None = None
    job_id: str | None = None


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drawn(board: StepBoard) -> str:
    console = Console(record=True, file=io.StringIO(), force_terminal=True, width=120)
    console.print(render_tree(board))
    return console.export_text()


def test_a_step_line_shows_its_state_duration_and_job() -> None:
    board = StepBoard()
    board.update(StepStatus("load", "load", "cached"))
    board.update(StepStatus("clean", "clean", "succeeded", duration_s=0.42, job_id="j1"))
    board.update(StepStatus("train", "train", "failed", error="ValueError: boom"))
    text = drawn(board)
    assert "load  cached" in text
    assert "clean  succeeded  0.42s  job j1" in text
    assert "train  failed" in text
    assert "ValueError: boom" in text  # under the failed step
    assert text.index("load") < text.index("clean") < text.index("train")


def test_map_items_are_summarised_as_counts_on_their_node() -> None:
    board = StepBoard()
    board.update(StepStatus("score", "score", "running"))
    states = ["succeeded"] * 800 + ["cached"] * 12 + ["failed"] * 3 + ["running"] * 185
    for i, state in enumerate(states):
        board.update(StepStatus(f"score[{i}]", "score", state, parent_key="score", item_index=i))
    text = drawn(board)
    assert "score  ▸ 812/1000 done (12 cached), 3 failed, 185 running" in text
    assert "score[" not in text  # no line per item
    assert len(board.failures()) == 3


def test_items_seen_before_their_map_node_draw_the_node_running() -> None:
    board = StepBoard()
    board.update(StepStatus("score[0]", "score", "succeeded", parent_key="score", item_index=0))
    assert [s.key for s in board.statuses()] == ["score"]
    assert board.statuses()[0].state == "running"
    board.update(StepStatus("score", "score", "succeeded", duration_s=1.5))
    assert "score  ▸ 1/1 done  1.50s" in drawn(board)


def test_a_running_step_shows_how_long_it_has_run_by_the_boards_clock() -> None:
    clock = FakeClock()
    board = StepBoard(clock)
    board.update(StepStatus("train", "train", "running"))
    clock.now += 75
    assert board.running_for_s("train") == 75
    assert "train  running  1m15s" in drawn(board)
    assert "1m15s" in drawn(board).splitlines()[0]  # the run's elapsed time at the root


def test_the_same_state_again_changes_nothing() -> None:
    board = StepBoard()
    assert board.update(StepStatus("a", "a", "running"))
    assert not board.update(StepStatus("a", "a", "running"))
    assert board.update(StepStatus("a", "a", "succeeded", duration_s=1.0))


def test_an_event_marked_cached_is_the_cached_state() -> None:
    status = StepStatus.of_event(FakeEvent("load", "load", "succeeded", cached=True))
    assert status.state == "cached"


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (StepStatus("clean", "clean", "succeeded", duration_s=0.42), "step clean succeeded 0.42s"),
        (StepStatus("load", "load", "cached"), "step load cached"),
        (StepStatus("t", "t", "running", job_id="abc"), "step t running (job abc)"),
        (StepStatus("p", "p", "skipped"), "step p skipped"),
        (StepStatus("p", "p", "upstream_failed"), "step p upstream_failed"),
    ],
)
def test_plain_lines_name_the_step_and_its_state(status: StepStatus, line: str) -> None:
    assert plain_line(status) == line


def test_a_failed_step_line_carries_its_error_then_its_traceback() -> None:
    trace = 'Traceback (most recent call last):\n  File "flow.py", line 3\nValueError: boom\n'
    status = StepStatus("x", "x", "failed", error="ValueError: boom", traceback=trace)
    lines = plain_line(status).splitlines()
    assert lines[0] == "step x failed: ValueError: boom"
    assert lines[1:] == trace.rstrip("\n").splitlines()


def test_plain_lines_print_each_change_once_and_items_only_when_they_end() -> None:
    out = io.StringIO()
    with PlainLines(out) as view:
        events = [
            FakeEvent("load", "load", "running"),
            FakeEvent("load", "load", "running"),
            FakeEvent("load", "load", "succeeded", duration_s=0.5),
            FakeEvent("s", "s", "running"),
            FakeEvent("s[0]", "s", "running", parent_key="s", item_index=0),
            FakeEvent("s[0]", "s", "succeeded", parent_key="s", item_index=0, duration_s=0.01),
            FakeEvent("s[1]", "s", "succeeded", parent_key="s", item_index=1, cached=True),
            FakeEvent("s", "s", "succeeded", duration_s=1.0),
        ]
        for event in events:
            view.handle(event)
    assert out.getvalue().splitlines() == [
        "step load running",
        "step load succeeded 0.50s",
        "step s running",
        "step s[0] succeeded 0.01s",
        "step s[1] cached",
        "step s succeeded 1.00s (2 items: 2/2 done (1 cached))",
    ]


def test_the_live_view_draws_events_into_a_recorded_console() -> None:
    console = Console(record=True, file=io.StringIO(), force_terminal=True, width=100)
    with LiveView(console) as view:
        view.handle(FakeEvent("load", "load", "succeeded", cached=True))
        view.handle(FakeEvent("train", "train", "succeeded", duration_s=2.5, job_id="j9"))
    text = console.export_text()
    assert "load  cached" in text
    assert "train  succeeded  2.50s  job j9" in text


def test_a_stored_step_run_is_shown_like_an_event() -> None:
    from corridor.pipelines.schemas import StepRunOut

    row = StepRunOut(
        id="r1",
        key="clean[2]",
        step="clean",
        parent_key="clean",
        item_index=2,
        state="failed",
        in_process=False,
        cache_key=None,
        cached_from=None,
        job_id="j2",
        attempts=1,
        inputs={},
        output_digest=None,
        output_kind=None,
        output_size=None,
        error="KeyError: 'a'",
        traceback="Traceback...",
        started_at=NOW,
        ended_at=NOW,
        duration_ms=1500.0,
    )
    status = StepStatus.of_step_run(row)
    assert (status.key, status.parent_key, status.duration_s, status.job_id) == (
        "clean[2]",
        "clean",
        1.5,
        "j2",
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.421, "0.42s"), (12.34, "12.3s"), (185, "3m05s"), (3725, "1h02m"), (None, "")],
)
def test_durations_read_at_a_glance(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_json_values_are_kept_and_the_rest_summarised() -> None:
    table = pa.table({"a": list(range(1000)), "b": [0.5] * 1000, "c": ["x"] * 1000})
    shown, summaries = jsonable({"n": 3, "rows": table, "w": np.zeros((2, 3)), "raw": b"abc"})
    assert shown == {
        "n": 3,
        "rows": "pyarrow.Table 1,000 rows x 3 columns",
        "w": "numpy.ndarray 2 x 3 float64",
        "raw": "3 bytes",
    }
    assert len(summaries) == 3
    assert jsonable([1, "a", None, {"k": [True]}]) == ([1, "a", None, {"k": [True]}], [])
    frame = pl.DataFrame({"a": [1, 2]})
    assert jsonable(frame) == (
        "polars.DataFrame 2 rows x 1 columns",
        ["polars.DataFrame 2 rows x 1 columns"],
    )


def test_past_the_screen_live_and_failed_steps_stay_and_the_rest_are_counted() -> None:
    clock = FakeClock()
    board = StepBoard(clock)
    for i in range(40):
        clock.now += 1
        board.update(StepStatus(f"done{i}", "done", "succeeded", duration_s=0.1))
    board.update(StepStatus("boom", "boom", "failed", error="ValueError: x"))
    for i in range(3):
        board.update(StepStatus(f"live{i}", "live", "running"))
    clock.now += 1
    board.update(StepStatus("done0", "done", "cached"))  # changed last: shown
    console = Console(record=True, file=io.StringIO(), force_terminal=True, width=120)
    console.print(render_tree(board, max_steps=10))
    text = console.export_text()
    assert "… 35 more steps: 35 succeeded" in text
    for key in ("boom", "live0", "live1", "live2", "done0", "done39", "done36"):
        assert f" {key}  " in text
    assert " done35  " not in text
    assert len(text.splitlines()) == 1 + 9 + 1 + 1  # root, steps, boom's error, the count


def test_plain_lines_print_each_traceback_once_and_at_most_ten() -> None:
    out = io.StringIO()
    trace = "Traceback (most recent call last):\nValueError: bad row\n"
    with PlainLines(out) as view:
        view.handle(
            FakeEvent("s[0]", "s", "failed", "s", 0, error="ValueError: bad row", traceback=trace)
        )
        view.handle(FakeEvent("s", "s", "failed", error="1 of 1 items failed", traceback=trace))
        for i in range(1, 15):
            view.handle(FakeEvent(f"s[{i}]", "s", "failed", "s", i, error="E", traceback=f"T{i}\n"))
    text = out.getvalue()
    assert text.count("Traceback (most recent call last)") == 1  # not again on its map step
    assert "step s failed (1 item: 0/1 done, 1 failed): 1 of 1 items failed" in text
    assert [f"T{i}" in text for i in range(1, 15)] == [True] * 9 + [False] * 5
    assert view.tracebacks.left_out == 5


def test_a_stored_graph_draws_its_steps_pending_in_its_order() -> None:
    board = StepBoard()
    board.update(StepStatus("clean", "clean", "running"))
    board.plan({"nodes": [{"key": "load", "step": "load"}, {"key": "clean", "step": "clean"}]})
    board.plan({"nodes": [{"key": "load", "step": "load"}, {"key": "publish", "step": "publish"}]})
    board.update(StepStatus("load", "load", "succeeded", duration_s=0.1))
    assert [(s.key, s.state) for s in board.statuses()] == [
        ("clean", "running"),
        ("load", "succeeded"),
        ("publish", "pending"),
    ]
    assert "· publish  pending" in drawn(board)
