"""The code part of a step's cache key: its source and the source of what it reaches in the package.

Editing a helper that a step calls changes what the step computes as surely as editing the step,
so the digest covers, from the step's function, everything it reaches inside the user's package
(the folder ``root``): functions and classes named through its globals, its closures, attribute
chains on the package's modules (``features.scale``), methods and base classes of those classes,
and the plain constants of those modules (``FACTOR = 2``). Installed libraries and Corridor
itself are left out: their versions are the environment's part of the key, and hashing them
would make every key cost as much as reading site-packages.

What is hashed is the source text as written (a comment change is a code change), dedented and
with ``\\n`` line ends, under each object's ``module:qualname``, sorted by that name: no file
paths, addresses or ids, so the digest is the same in every process and on every machine that
holds the same code. A cycle (a function calling itself, two modules importing each other) is
walked once. The digest is cached per function object and root: the driver asks once per step.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import site
import sys
import sysconfig
import textwrap
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The plain constants whose value is part of the digest, and the longest repr kept of one.
_CONSTANT_TYPES = (bool, int, float, complex, str, bytes, type(None))
_MAX_CONSTANT_REPR = 64 * 1024


@dataclass(frozen=True)
class _Reach:
    """What one walk found: the digest, and the package's modules it went through."""

    digest: str
    modules: tuple[str, ...]


# Per function object and root; the driver's threads may ask at once, hence the lock.
_reaches: weakref.WeakKeyDictionary[object, dict[Path, _Reach]] = weakref.WeakKeyDictionary()
_reaches_lock = threading.Lock()


def code_digest(fn: Callable[..., object], root: Path) -> str:
    """The sha256 hex digest of ``fn``'s source and of what it reaches under ``root``.

    A ``Step`` counts as its plain function (``.fn``).
    """
    return _reach(unwrap_step(fn), root.resolve()).digest


def reached_modules(fn: Callable[..., object], root: Path) -> list[str]:
    """The names of the package's modules that ``fn`` reaches (its own first), for the
    environment: the libraries those modules import are what the step runs with."""
    return list(_reach(unwrap_step(fn), root.resolve()).modules)


def _reach(fn: Callable[..., object], root: Path) -> _Reach:
    with _reaches_lock:
        try:
            cached = _reaches.setdefault(fn, {})
        except TypeError:  # not weak-referenceable: walk every time
            cached = {}
        found = cached.get(root)
    if found is not None:
        return found
    walk = _Walk(root)
    sources = walk.sources(fn)
    document = json.dumps(sorted(sources.items()), separators=(",", ":")).encode()
    found = _Reach(hashlib.sha256(document).hexdigest(), tuple(walk.modules))
    with _reaches_lock:
        return cached.setdefault(root, found)


def unwrap_step(fn: object) -> Callable[..., object]:
    """The plain function of a ``Step`` (``.fn``); any other callable as it is."""
    from corridor.pipelines.dsl import Step

    while isinstance(fn, Step):
        fn = fn.fn
    if not callable(fn):
        raise TypeError(f"{fn!r} is not a function")
    return fn


class _Walk:
    """One walk from a function over the objects it reaches inside ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: set[int] = set()
        self.found: dict[str, str] = {}
        self.modules: list[str] = []

    def sources(self, fn: object) -> dict[str, str]:
        stack: list[object] = [fn]
        if isinstance(fn, types.FunctionType) and not self._inside(fn.__module__):
            # A step from outside the package (an installed one) still counts by its own
            # source, or every such step would share one digest.
            self._record(fn.__module__, fn.__qualname__, fn)
        while stack:
            item = stack.pop()
            if id(item) in self.seen:
                continue
            self.seen.add(id(item))
            stack.extend(self._visit(item))
        return self.found

    def _visit(self, item: object) -> Iterator[object]:
        from corridor.pipelines.dsl import Step

        if isinstance(item, Step):
            yield item.fn
        elif isinstance(item, functools.partial):
            yield item.func
            yield from item.args
            yield from item.keywords.values()
        elif isinstance(item, staticmethod | classmethod):
            yield item.__func__
        elif isinstance(item, property):
            yield from (f for f in (item.fget, item.fset, item.fdel) if f is not None)
        elif isinstance(item, types.MethodType):
            yield item.__func__
        elif isinstance(item, types.FunctionType) and self._inside(item.__module__):
            yield from self._function(item)
        elif isinstance(item, type) and self._inside(item.__module__):
            yield from self._class(item)
        elif not isinstance(item, types.ModuleType) and self._inside(type(item).__module__):
            yield type(item)  # an instance of one of the package's classes

    def _function(self, fn: types.FunctionType) -> Iterator[object]:
        self._record(fn.__module__, fn.__qualname__, fn)
        names = set(_names(fn.__code__))
        module_globals = fn.__globals__
        for name in sorted(names):
            if name in module_globals:
                yield from self._reference(fn.__module__, name, module_globals[name], names)
        for cell in fn.__closure__ or ():
            try:
                yield cell.cell_contents
            except ValueError:  # an empty cell: a name assigned later in the outer function
                continue
        yield from fn.__defaults__ or ()
        yield from (fn.__kwdefaults__ or {}).values()

    def _class(self, cls: type) -> Iterator[object]:
        self._record(cls.__module__, cls.__qualname__, cls)
        yield from cls.__bases__
        yield from cls.__dict__.values()

    def _reference(
        self, module: str, name: str, value: object, names: set[str]
    ) -> Iterator[object]:
        """A global a function uses: a module is followed through the attributes it names."""
        if isinstance(value, types.ModuleType):
            if self._inside(value.__name__):
                for attribute in sorted(names):
                    if attribute in vars(value):
                        yield from self._reference(
                            value.__name__, attribute, vars(value)[attribute], names
                        )
            return
        if _is_constant(value):
            text = _constant_text(value)
            if len(text) <= _MAX_CONSTANT_REPR:
                self.found[f"{module}:{name}="] = text
            return
        yield value

    def _record(self, module: str, qualname: str, obj: object) -> None:
        if module not in self.modules:
            self.modules.append(module)
        try:
            source = inspect.getsource(obj)  # type: ignore[arg-type]
        except (OSError, TypeError):
            # No file to read (defined by exec, or a class whose file moved): its code instead.
            source = _code_text(obj)
        text = textwrap.dedent(source.replace("\r\n", "\n").replace("\r", "\n"))
        self.found[f"{module}:{qualname}"] = text

    def _inside(self, module_name: str) -> bool:
        return _module_inside(module_name, self.root)


def _names(code: types.CodeType) -> Iterator[str]:
    """The global and attribute names a code object and the code nested in it use."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _code_text(obj: object) -> str:
    code = getattr(obj, "__code__", None)
    if isinstance(code, types.CodeType):
        return _code_repr(code)
    methods = sorted(
        (k, _code_repr(v.__code__)) for k, v in vars(obj).items() if hasattr(v, "__code__")
    )
    return repr(methods)


def _code_repr(code: types.CodeType) -> str:
    consts = [_code_repr(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return repr((code.co_code.hex(), consts, code.co_names, code.co_varnames))


def _is_constant(value: object) -> bool:
    if isinstance(value, _CONSTANT_TYPES):
        return True
    if isinstance(value, tuple | list | frozenset | set):
        return all(_is_constant(v) for v in value)
    if isinstance(value, dict):
        return all(_is_constant(k) and _is_constant(v) for k, v in value.items())
    return False


def _constant_text(value: object) -> str:
    """``repr``, but a set's items sorted: their order changes with each process's hash seed."""
    if isinstance(value, frozenset | set):
        items = sorted(_constant_text(v) for v in value)
        return f"{type(value).__name__}({{{', '.join(items)}}})"
    if isinstance(value, tuple | list):
        inner = ", ".join(_constant_text(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{_constant_text(k)}: {_constant_text(v)}" for k, v in value.items())
        return f"{{{pairs}}}"
    return repr(value)


def _module_inside(module_name: str, root: Path) -> bool:
    """Whether the module's file lies under ``root`` and is not an installed package."""
    if module_name.split(".")[0] == "corridor" or module_name in sys.builtin_module_names:
        return False
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if file is None:
        return False
    path = Path(file).resolve()
    return path.is_relative_to(root) and not any(
        path.is_relative_to(folder) for folder in _installed_folders()
    )


@functools.cache
def _installed_folders() -> tuple[Path, ...]:
    """The standard library's and site-packages' folders (a virtualenv may sit under root)."""
    paths = sysconfig.get_paths()
    folders = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    folders += [*site.getsitepackages(), site.getusersitepackages()]
    return tuple(Path(f).resolve() for f in folders)
