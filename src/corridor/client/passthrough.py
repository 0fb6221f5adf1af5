"""A method of `corridor.Client` that is a method of one of its parts, with the same signature.

``Client.create_run`` is ``client.tracking.create_run``: the client lists each documented call
once, as ``create_run = PassThrough("tracking", TrackingClient.create_run)``, and type checkers
see the part's own parameters, so the two spellings cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

P = ParamSpec("P")
R = TypeVar("R")
Part = TypeVar("Part")


class PassThrough(Generic[Part, P, R]):
    """On an instance, the bound method ``method`` of the instance's attribute ``part``."""

    def __init__(self, part: str, method: Callable[Concatenate[Part, P], R]) -> None:
        self.part = part
        self.method = method
        self.__doc__ = method.__doc__
        self.__name__ = method.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> PassThrough[Part, P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Callable[P, R]: ...

    def __get__(
        self, obj: object | None, owner: type[Any] | None = None
    ) -> PassThrough[Part, P, R] | Callable[P, R]:
        if obj is None:
            return self
        return cast("Callable[P, R]", getattr(getattr(obj, self.part), self.__name__))
