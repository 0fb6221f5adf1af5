"""What a pipeline run looks like in the terminal: a live tree of its steps, or plain lines.

Both views take the same input, one `StepStatus` per step state change: from the driver's events
during `corridor run`, or from the step runs of a polled run view during `corridor pipelines
retry` (`StepStatus.of_step_run`). A `StepBoard` keeps the latest status of every step and map
item; the live view draws it as a rich `Tree` at most ten times a second (rich's own refresh
thread: the driver's threads only update the board, under a lock, and never wait on the
terminal), and the plain printer writes one line per change, for logs and pipes.

A mapped step's items are summarised on their map node's line (``score ▸ 812/1000 done, 3
failed``): a thousand items would not fit on a screen, and their states are what matter.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.tree import Tree

    from corridor.pipelines.schemas import RunOut, StepRunOut

ENDED = frozenset({"succeeded", "cached", "failed", "upstream_failed", "skipped", "cancelled"})
# State -> (glyph, rich style) of a step's line.
LOOKS: dict[str, tuple[str, str]] = {
    "pending": ("·", "dim"),
    "running": ("▶", "bold yellow"),
    "succeeded": ("✔", "green"),
    "cached": ("✔", "cyan"),
    "failed": ("✘", "bold red"),
    "upstream_failed": ("⊘", "red"),
    "skipped": ("-", "dim"),
    "cancelled": ("■", "yellow"),
}
MAX_REFRESH_PER_SECOND = 10
MIN_STEP_LINES = 5
MAX_TRACEBACKS = 10


@dataclass(frozen=True)
class StepStatus:
    """One step (or map item) in one state: what both views draw."""

    key: str
    step: str
    state: str
    parent_key: str | None = None
    item_index: int | None = None
    duration_s: float | None = None
    error: str | None = None
    traceback: str | None = None
    job_id: str | None = None
    started_at: dt.datetime | None = None  # known for stored step runs, not for events

    @classmethod
    def of_event(cls, event: Any) -> StepStatus:
        """The status a driver's step event reports (any object with these attributes)."""
        state = getattr(event, "state", "running")
        if getattr(event, "cached", False) and state == "succeeded":
            state = "cached"
        return cls(
            key=event.key,
            step=getattr(event, "step", None) or event.key,
            state=state,
            parent_key=getattr(event, "parent_key", None),
            item_index=getattr(event, "item_index", None),
            duration_s=getattr(event, "duration_s", None),
            error=getattr(event, "error", None),
            traceback=getattr(event, "traceback", None),
            job_id=getattr(event, "job_id", None),
        )

    @classmethod
    def of_step_run(cls, row: StepRunOut) -> StepStatus:
        """The status a stored step run shows."""
        duration = None if row.duration_ms is None else row.duration_ms / 1000
        return cls(
            key=row.key,
            step=row.step,
            state=row.state,
            parent_key=row.parent_key,
            item_index=row.item_index,
            duration_s=duration,
            error=row.error,
            traceback=row.traceback,
            job_id=row.job_id,
            started_at=row.started_at,
        )


@dataclass
class _Line:
    status: StepStatus
    seen_at: float
    items: dict[str, StepStatus] = field(default_factory=dict)


class StepBoard:
    """The latest status of every step, in the order first seen, with map items under their map
    node. Thread-safe: the driver's threads update it while the view's thread draws it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._lines: dict[str, _Line] = {}
        self.started_at = clock()
        self.run: RunOut | None = None

    def update(self, status: StepStatus) -> bool:
        """Record ``status``; False when it changes nothing (the same state again)."""
        with self._lock:
            if status.parent_key is None:
                line = self._lines.get(status.key)
                if line is None:
                    self._lines[status.key] = _Line(status, self._clock())
                    return True
                status = _keep_known(line.status, status)
                if line.status == status:
                    return False
                if line.status.state != status.state:
                    line.seen_at = self._clock()
                line.status = status
                return True
            parent = self._lines.get(status.parent_key)
            if parent is None:  # items seen before their map node: draw the node as running
                node = StepStatus(status.parent_key, status.step, "running")
                parent = self._lines[status.parent_key] = _Line(node, self._clock())
            before = parent.items.get(status.key)
            status = status if before is None else _keep_known(before, status)
            if before == status:
                return False
            parent.items[status.key] = status
            return True

    def plan(self, graph: Mapping[str, Any] | None) -> None:
        """Draw a stored run's graph nodes (``RunView.graph``) as pending until their step runs
        say otherwise, in the graph's order."""
        nodes = graph.get("nodes") if graph else None
        for node in nodes if isinstance(nodes, list) else []:
            if isinstance(node, dict) and isinstance(node.get("key"), str):
                key = node["key"]
                with self._lock:
                    if key not in self._lines:
                        status = StepStatus(key, str(node.get("step") or key), "pending")
                        self._lines[key] = _Line(status, self._clock())

    def statuses(self) -> list[StepStatus]:
        """Every step's status (not items), in the order first seen."""
        with self._lock:
            return [line.status for line in self._lines.values()]

    def visible(self, limit: int | None) -> tuple[list[StepStatus], Counter[str]]:
        """At most ``limit`` steps to draw, in the order first seen, and the states of the steps
        left out. Running, pending and failed steps come first, then those that changed last:
        a thousand finished steps must not push the live ones off the screen."""
        with self._lock:
            lines = list(self._lines.values())
        if limit is None or len(lines) <= limit:
            return [line.status for line in lines], Counter()
        urgent = {"running", "pending", "failed"}
        ranked = sorted(
            range(len(lines)),
            key=lambda i: (lines[i].status.state not in urgent, -lines[i].seen_at, i),
        )
        keep = set(ranked[: max(limit, 0)])
        hidden = Counter(line.status.state for i, line in enumerate(lines) if i not in keep)
        return [line.status for i, line in enumerate(lines) if i in keep], hidden

    def item_counts(self, key: str) -> Counter[str]:
        """How many items of map node ``key`` are in each state."""
        with self._lock:
            line = self._lines.get(key)
            return Counter(i.state for i in line.items.values()) if line else Counter()

    def failures(self) -> list[StepStatus]:
        """Every failed step and failed map item, steps first, in the order seen."""
        with self._lock:
            lines = list(self._lines.values())
        steps = [line.status for line in lines if line.status.state == "failed"]
        items = [i for line in lines for i in line.items.values() if i.state == "failed"]
        return steps + items

    def running_for_s(self, key: str) -> float | None:
        """How long step ``key`` has been running: since its stored start, else since this board
        first saw it running."""
        with self._lock:
            line = self._lines.get(key)
            if line is None or line.status.state != "running":
                return None
            if line.status.started_at is not None:
                return _since(line.status.started_at)
            return self._clock() - line.seen_at

    def elapsed_s(self) -> float:
        """How long the run has taken: from its stored times when known, else since this board
        was made."""
        run = self.run
        if run is not None and run.started_at is not None:
            return _since(run.started_at, run.ended_at)
        return self._clock() - self.started_at


def _keep_known(before: StepStatus, after: StepStatus) -> StepStatus:
    """``after``, keeping the job id an earlier event named (an ending event may not repeat it)."""
    if after.job_id is None and before.job_id is not None:
        return replace(after, job_id=before.job_id)
    return after


def _since(start: dt.datetime, end: dt.datetime | None = None) -> float:
    def aware(t: dt.datetime) -> dt.datetime:
        return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)

    return max(0.0, (aware(end or dt.datetime.now(dt.UTC)) - aware(start)).total_seconds())


def format_duration(seconds: float | None) -> str:
    """0.42s, 12.3s, 3m05s, 1h02m."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def items_summary(counts: Counter[str]) -> str:
    """``812/1000 done (200 cached), 3 failed, 5 running`` for a map node's items."""
    total = sum(counts.values())
    done = counts["succeeded"] + counts["cached"]
    text = f"{done}/{total} done"
    if counts["cached"]:
        text += f" ({counts['cached']} cached)"
    for state in ("failed", "running", "pending", "upstream_failed", "skipped", "cancelled"):
        if counts[state]:
            text += f", {counts[state]} {state.replace('_', ' ')}"
    return text


def render_tree(board: StepBoard, title: str = "pipeline", *, max_steps: int | None = None) -> Tree:
    """The board as a rich tree: the run at the root, one line per step, errors under failed
    steps; past ``max_steps`` steps, one more line counts those left out."""
    from rich.text import Text
    from rich.tree import Tree

    run = board.run
    head = Text(title if run is None else f"{run.pipeline} run {run.number}", style="bold")
    if run is None:
        head.append("  starting", style="dim")  # building, uploading the code, registering
    else:
        head.append(f"  {run.state}", style=LOOKS.get(run.state, ("", ""))[1])
    head.append(f"  {format_duration(board.elapsed_s())}", style="dim")
    tree = Tree(head)
    shown, hidden = board.visible(None if max_steps is None else max_steps - 1)
    for status in shown:
        glyph, style = LOOKS.get(status.state, ("?", ""))
        line = Text(f"{glyph} ", style=style)
        line.append(status.key, style="bold")
        counts = board.item_counts(status.key)
        if counts:
            line.append(f"  ▸ {items_summary(counts)}")
        if status.state == "cached":
            line.append("  cached", style="cyan")
        elif not counts or status.state in ("upstream_failed", "skipped", "cancelled"):
            line.append(f"  {status.state.replace('_', ' ')}", style=style)
        took = status.duration_s if status.state != "running" else board.running_for_s(status.key)
        if took is not None and status.state != "cached":
            line.append(f"  {format_duration(took)}", style="dim")
        if status.job_id:
            line.append(f"  job {status.job_id}", style="dim")
        branch = tree.add(line)
        if status.error:
            branch.add(Text(status.error, style="red"))
    if hidden:
        more = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(hidden.items()))
        tree.add(Text(f"… {sum(hidden.values())} more steps: {more}", style="dim"))
    return tree


class LiveView:
    """A live tree of the run's steps on a terminal (a context manager); ``handle`` takes the
    driver's events from any thread."""

    def __init__(self, console: Console, *, title: str = "pipeline") -> None:
        from rich.live import Live

        self.board = StepBoard()
        self._title = title
        self._console = console
        self._live: Live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=MAX_REFRESH_PER_SECOND,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    @property
    def console(self) -> Console:
        return self._console

    def _render(self) -> RenderableType:
        # Room for the root line, the errors of a few failed steps and rich's own margin.
        room = max(MIN_STEP_LINES, self._console.size.height - 6)
        return render_tree(self.board, self._title, max_steps=room)

    def handle(self, event: Any) -> None:
        """Take a driver event: a step's new state, or the run itself (an event with ``run``)."""
        run = getattr(event, "run", None)
        if run is not None:
            self.board.run = run
        else:
            self.board.update(StepStatus.of_event(event))

    def show(self, status: StepStatus) -> None:
        self.board.update(status)

    def __enter__(self) -> LiveView:
        self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()  # draws the final tree once more and leaves it on the screen


class PlainLines:
    """One line per step state change, for output that is not a terminal: running (for steps,
    not map items) and how each step and item ended."""

    def __init__(self, out: IO[str]) -> None:
        self.board = StepBoard()
        self.tracebacks = TracebackBudget()
        self._out = out
        self._lock = threading.Lock()

    def handle(self, event: Any) -> None:
        run = getattr(event, "run", None)
        if run is not None:
            self.board.run = run
        else:
            self.show(StepStatus.of_event(event))

    def show(self, status: StepStatus) -> None:
        if not self.board.update(status):
            return
        if status.state in ("pending", "running") and status.parent_key is not None:
            return
        with self._lock:
            shown = status.state == "failed" and self.tracebacks.take(status.traceback)
            text = plain_line(status, self.board.item_counts(status.key), traceback=shown)
            self._out.write(text + "\n")
            self._out.flush()

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class TracebackBudget:
    """Which failed steps' tracebacks to print: each distinct one once (a map step repeats its
    first failed item's), and no more than ``limit`` (a thousand failed items would bury the
    output; `corridor pipelines show` lists them all)."""

    def __init__(self, limit: int = MAX_TRACEBACKS) -> None:
        self.limit = limit
        self.left_out = 0
        self._seen: set[str] = set()

    def take(self, traceback: str | None) -> bool:
        if not traceback or traceback in self._seen:
            return False
        if len(self._seen) >= self.limit:
            self.left_out += 1
            return False
        self._seen.add(traceback)
        return True


def plain_line(
    status: StepStatus, items: Counter[str] | None = None, *, traceback: bool = True
) -> str:
    """``step clean succeeded 0.42s``, ``step load cached``, ``step x failed: E: msg`` and the
    traceback on the following lines (unless ``traceback`` is false)."""
    state = status.state
    text = f"step {status.key} {state}"
    if state == "running" and status.job_id:
        text += f" (job {status.job_id})"
    if state == "succeeded" and status.duration_s is not None:
        text += f" {format_duration(status.duration_s)}"
    if items and state in ENDED:
        count = sum(items.values())
        text += f" ({count} item{'' if count == 1 else 's'}: {items_summary(items)})"
    if state == "failed":
        text += f": {status.error or 'failed'}"
        if status.traceback and traceback:
            text += "\n" + status.traceback.rstrip("\n")
    return text
