"""What the driver knows of each step's output: how it ended, its digest, and its value on demand.

A step's value is needed only by an in-process step downstream, a `when` condition, a map's
list, or the pipeline's result; its digest is needed by every step downstream (cache keys). So
values stay where they are until asked for: an in-process step's value in memory, a job's or a
cached step's on the server (fetched once, decoded with the payload codec, kept).

Input digests name each argument by its path (``args[0]``, ``kwargs['factor']``, ``args[1][2]``
inside a list) so that a cache key changes when any one input changes and only then.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from corridor.errors import CorridorError, InvalidInput
from corridor.pipelines import artifacts
from corridor.pipelines.sansio.graph import Arg, Node, follow_path

# Step states whose output exists (and so can be read downstream).
WITH_OUTPUT = frozenset({"succeeded", "cached"})
FAILED = frozenset({"failed", "upstream_failed", "cancelled"})

Fetch = Callable[[], bytes]


@dataclass(frozen=True)
class Outcome:
    """How a node (or a map item) ended."""

    state: str
    digest: str | None = None
    kind: str | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def has_output(self) -> bool:
        return self.state in WITH_OUTPUT


class Outputs:
    """Each ended node's outcome, and its value once asked for (thread-safe)."""

    def __init__(self, literals: Mapping[str, object]) -> None:
        self._literals = literals
        self._outcomes: dict[str, Outcome] = {}
        self._values: dict[str, object] = {}
        self._fetch: dict[str, Fetch] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    def settle(
        self, key: str, outcome: Outcome, *, value: object = None, fetch: Fetch | None = None
    ) -> None:
        """Record how ``key`` ended: with its value at hand, or a way to fetch its bytes."""
        with self._lock:
            self._outcomes[key] = outcome
            if not outcome.has_output:
                return
            if fetch is None:
                self._values[key] = value
            else:
                self._fetch[key] = fetch

    def outcome(self, key: str) -> Outcome | None:
        return self._outcomes.get(key)

    def ended(self, key: str) -> bool:
        return key in self._outcomes

    def value(self, key: str) -> object:
        """The output of ``key`` (fetched and decoded on first use)."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            fetch = self._fetch.get(key)
            gate = self._fetching.setdefault(key, threading.Lock())
        if fetch is None:
            outcome = self._outcomes.get(key)
            state = outcome.state if outcome else "not run"
            raise CorridorError(f"step {key!r} has no output ({state})")
        with gate:  # one fetch per key, however many steps ask at once
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = artifacts.decode_output(fetch())
            with self._lock:
                self._values[key] = value
                self._fetch.pop(key, None)
            return value

    def literal(self, digest: str) -> object:
        try:
            return self._literals[digest]
        except KeyError:
            raise InvalidInput(
                f"the graph names a literal the driver lacks ({digest[:12]})"
            ) from None

    def resolve(self, arg: Arg) -> object:
        """The value of an argument tree."""
        if arg.kind == "node":
            assert arg.node is not None
            value = self.value(arg.node)
            return follow_path(arg.node, value, arg.path) if arg.path else value
        if arg.kind == "lit":
            assert arg.digest is not None
            return self.literal(arg.digest)
        if arg.kind == "list":
            return [self.resolve(item) for item in arg.items]
        return {k: self.resolve(v) for k, v in zip(arg.keys, arg.items, strict=True)}

    def call_of(self, node: Node) -> tuple[list[object], dict[str, object]]:
        """The positional and keyword arguments of ``node``'s call."""
        return [self.resolve(a) for a in node.args], {
            k: self.resolve(a) for k, a in node.kwargs.items()
        }

    def input_digests(self, node: Node, *, skip_first: bool = False) -> dict[str, str]:
        """Argument path -> digest of that input, for every argument of ``node`` (a map item
        adds its own ``args[0]``: ``skip_first`` leaves the map's list out)."""
        found: dict[str, str] = {}
        offset = 1 if skip_first else 0
        for i, arg in enumerate(node.args):
            self._digests(arg, f"args[{i + offset}]", found)
        for name, arg in node.kwargs.items():
            self._digests(arg, f"kwargs[{name!r}]", found)
        return found

    def _digests(self, arg: Arg, path: str, found: dict[str, str]) -> None:
        if arg.kind == "node":
            assert arg.node is not None
            outcome = self._outcomes.get(arg.node)
            if outcome is None or outcome.digest is None:
                raise CorridorError(f"step {arg.node!r} has no output digest")
            digest = outcome.digest
            if arg.path:
                part = json.dumps(list(arg.path), separators=(",", ":"))
                digest = hashlib.sha256(f"{digest}{part}".encode()).hexdigest()
            found[path] = digest
        elif arg.kind == "lit":
            assert arg.digest is not None
            found[path] = arg.digest
        elif arg.kind == "list":
            for i, item in enumerate(arg.items):
                self._digests(item, f"{path}[{i}]", found)
        else:
            for k, item in zip(arg.keys, arg.items, strict=True):
                self._digests(item, f"{path}[{k!r}]", found)


def encoded(value: object, *, where: str) -> tuple[object, bytes]:
    """``value`` as stored (``to_storable``) and its output bytes; InvalidInput if unstorable."""
    storable = artifacts.to_storable(value, where=where)
    return storable, artifacts.encode_output(storable, where=where)
