"""A pipeline's parameters: read from its function's signature, checked, and parsed from the CLI.

Parameters travel as JSON (API, schedules, triggers, the stored run), so a pipeline may only take
types JSON can carry: ``int``, ``float``, ``str``, ``bool``, ``datetime.date``,
``datetime.datetime``, ``list[T]``, ``dict[str, T]``, ``Literal[...]``, unions of these
(``T | None``) and ``Any``. Everything else is refused when ``@pipeline`` is applied.

Each type is read once into a small tree (``ParamType``), from the type hints or from the type
text kept in a ``ParamSpec``, so the server can check values without importing user code. Every
error names the parameter: ``parameter 'n' must be an int, got 'abc'``.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corridor.errors import InvalidInput
from corridor.pipelines.schemas import ParamSpec

ParamSource = Callable[..., Any] | Sequence[ParamSpec]

_SCALARS: dict[object, str] = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    dt.date: "date",
    dt.datetime: "datetime",
    Any: "Any",
    type(None): "None",
    None: "None",
}
_DESCRIBED = {
    "int": "an int",
    "float": "a float",
    "str": "a string",
    "bool": "a bool (true or false)",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a datetime (ISO 8601)",
    "Any": "a JSON value",
    "None": "None",
    "list": "a list",
    "dict": "a dict with string keys",
}
_PLURALS = {
    "int": "ints",
    "float": "floats",
    "str": "strings",
    "bool": "bools",
    "date": "dates (YYYY-MM-DD)",
    "datetime": "datetimes (ISO 8601)",
    "Any": "JSON values",
}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class ParamType:
    """A parameter's type as a tree: a scalar kind, ``list``/``dict`` of ``args[0]``, a
    ``literal`` with its ``choices``, or a ``union`` of ``args``."""

    kind: str
    args: tuple[ParamType, ...] = ()
    choices: tuple[object, ...] = ()

    def text(self) -> str:
        if self.kind == "list":
            return f"list[{self.args[0].text()}]"
        if self.kind == "dict":
            return f"dict[str, {self.args[0].text()}]"
        if self.kind == "literal":
            return f"Literal[{', '.join(repr(c) for c in self.choices)}]"
        if self.kind == "union":
            return " | ".join(a.text() for a in self.args)
        return self.kind

    def describe(self) -> str:
        if self.kind == "list":
            return f"a list of {_plural(self.args[0])}"
        if self.kind == "dict":
            return f"a dict of string keys to {_plural(self.args[0])}"
        if self.kind == "literal":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "union":
            return " or ".join(a.describe() for a in self.args)
        return _DESCRIBED[self.kind]

    def allows_none(self) -> bool:
        if self.kind in ("None", "Any"):
            return True
        if self.kind == "literal":
            return None in self.choices
        return self.kind == "union" and any(a.allows_none() for a in self.args)


def _plural(t: ParamType) -> str:
    return _PLURALS.get(t.kind) or t.describe()


def type_of_hint(hint: object, where: str) -> ParamType:
    """The tree of a type hint; InvalidInput when JSON cannot carry the type."""
    scalar = _SCALARS.get(hint) if isinstance(hint, typing.Hashable) else None
    if scalar is not None:
        return ParamType(scalar)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list and len(args) == 1:
        return ParamType("list", (type_of_hint(args[0], where),))
    if (origin is list and not args) or hint is list:
        return ParamType("list", (ParamType("Any"),))
    if origin is dict and len(args) == 2 and args[0] is str:
        return ParamType("dict", (type_of_hint(args[1], where),))
    if (origin is dict and not args) or hint is dict:
        return ParamType("dict", (ParamType("Any"),))
    if origin is typing.Literal and all(isinstance(a, str | int | bool | None) for a in args):
        return ParamType("literal", choices=tuple(args))
    if origin in (typing.Union, types.UnionType):
        return ParamType("union", tuple(type_of_hint(a, where) for a in args))
    raise InvalidInput(
        f"{where} has the type {_hint_text(hint)}, which cannot be passed as JSON: use int, "
        "float, str, bool, date, datetime, list[...], dict[str, ...], Literal[...] or X | None "
        "(and load anything bigger inside a step, e.g. from a dataset name)"
    )


def _hint_text(hint: object) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def parse_type(text: str) -> ParamType:
    """The tree of a type text as ``ParamSpec.type`` holds it (``list[int] | None``)."""
    try:
        tree = ast.parse(text, mode="eval").body
        return _type_of_ast(tree)
    except (SyntaxError, ValueError, KeyError, TypeError):
        raise InvalidInput(f"unknown parameter type {text!r}") from None


def _type_of_ast(node: ast.expr) -> ParamType:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _type_of_ast(node.left), _type_of_ast(node.right)
        parts = (left.args if left.kind == "union" else (left,)) + (right,)
        return ParamType("union", parts)
    if isinstance(node, ast.Constant) and node.value is None:
        return ParamType("None")
    if isinstance(node, ast.Name) and node.id in ("list", "dict"):
        return ParamType(node.id, (ParamType("Any"),))
    if isinstance(node, ast.Name) and node.id in _DESCRIBED:
        return ParamType(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if node.value.id == "list" and len(inner) == 1:
            return ParamType("list", (_type_of_ast(inner[0]),))
        if node.value.id == "dict" and len(inner) == 2:
            return ParamType("dict", (_type_of_ast(inner[1]),))
        if node.value.id == "Literal":
            return ParamType("literal", choices=tuple(ast.literal_eval(e) for e in inner))
    raise ValueError(ast.dump(node))


def param_specs(fn: Callable[..., Any]) -> list[ParamSpec]:
    """The parameters of a pipeline function; InvalidInput for one JSON cannot carry."""
    return [spec for spec, _ in read_signature(fn)]


def read_signature(fn: Callable[..., Any]) -> list[tuple[ParamSpec, ParamType]]:
    name = getattr(fn, "__name__", "pipeline")
    try:
        hints = typing.get_type_hints(fn, globalns=getattr(fn, "__globals__", None))
    except (NameError, TypeError) as exc:
        raise InvalidInput(f"the type hints of pipeline {name!r} cannot be read: {exc}") from None
    read: list[tuple[ParamSpec, ParamType]] = []
    for param in inspect.signature(fn).parameters.values():
        where = f"parameter {param.name!r} of pipeline {name!r}"
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise InvalidInput(f"{where}: a pipeline takes named parameters only (no *args, **kw)")
        ptype = type_of_hint(hints.get(param.name, Any), where)
        required = param.default is inspect.Parameter.empty
        default: object = None
        if not required:
            if param.default is None and not ptype.allows_none():
                ptype = ParamType("union", (ptype, ParamType("None")))
            coerce(ptype, param.default, f"the default of {where}")
            default = to_json(param.default)
        spec = ParamSpec(name=param.name, type=ptype.text(), required=required, default=default)
        read.append((spec, ptype))
    return read


def _typed(source: ParamSource) -> list[tuple[ParamSpec, ParamType]]:
    if callable(source):
        cached = getattr(source, "_corridor_params", None)
        return cached if cached is not None else read_signature(source)
    return [(spec, parse_type(spec.type)) for spec in source]


def check(source: ParamSource, values: Mapping[str, object]) -> dict[str, object]:
    """Every parameter's value (defaults filled in), checked and coerced from JSON-ish values."""
    typed = _typed(source)
    _refuse_unknown(typed, values)
    checked: dict[str, object] = {}
    for spec, ptype in typed:
        if spec.name in values:
            checked[spec.name] = coerce(ptype, values[spec.name], f"parameter {spec.name!r}")
        elif spec.required:
            raise InvalidInput(f"parameter {spec.name!r} is required ({ptype.describe()})")
        else:
            checked[spec.name] = coerce(ptype, spec.default, f"parameter {spec.name!r}")
    return checked


def parse_cli(source: ParamSource, pairs: Iterable[str]) -> dict[str, object]:
    """The values of ``NAME=VALUE`` strings, each coerced from text by its parameter's type.

    Only the given parameters are returned; ``check`` fills in defaults and missing ones."""
    typed = _typed(source)
    types_by_name = {spec.name: ptype for spec, ptype in typed}
    parsed: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"a parameter is given as NAME=VALUE, got {pair!r}")
        _refuse_unknown(typed, {name: None})
        parsed[name] = from_text(types_by_name[name], text, f"parameter {name!r}")
    return parsed


def _refuse_unknown(typed: list[tuple[ParamSpec, ParamType]], values: Mapping[str, object]) -> None:
    names = [spec.name for spec, _ in typed]
    for name in values:
        if name not in names:
            takes = ", ".join(names) if names else "no parameters"
            raise InvalidInput(f"unknown parameter {name!r} (the pipeline takes {takes})")


def coerce(t: ParamType, value: object, where: str) -> object:
    """``value`` checked against ``t``; dates from ISO text, an int where a float is wanted."""
    kind = t.kind
    if kind == "Any":
        _check_json(value, where)
        return value
    if kind == "None" and value is None:
        return None
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if (kind == "str" and isinstance(value, str)) or (kind == "bool" and isinstance(value, bool)):
        return value
    if kind in ("date", "datetime"):
        return _coerce_time(kind, value, where, t)
    if kind == "literal" and any(value == c and type(value) is type(c) for c in t.choices):
        return value
    if kind == "list" and isinstance(value, list | tuple):
        return [coerce(t.args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind == "dict" and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: coerce(t.args[0], v, f"{where}[{k!r}]") for k, v in value.items()}
    if kind == "union":
        only = _only_member(t, value is None)
        if only is not None:
            return coerce(only, value, where)
        # A string stays a string when the union allows one (not a date read from it).
        for member in sorted(t.args, key=lambda a: a.kind != "str"):
            try:
                return coerce(member, value, where)
            except InvalidInput:
                continue
    raise InvalidInput(f"{where} must be {t.describe()}, got {_shown(value)}")


def _coerce_time(kind: str, value: object, where: str, t: ParamType) -> object:
    if kind == "datetime" and isinstance(value, dt.datetime):
        return value
    if kind == "date" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            if kind == "date":
                return dt.date.fromisoformat(value.strip())
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(f"{where} must be {t.describe()}, got {_shown(value)}")


def from_text(t: ParamType, text: str, where: str) -> object:
    """A command-line string read as a value of ``t``."""
    kind = t.kind
    lowered = text.strip().lower()
    if kind == "str":
        return text
    if kind == "None" and lowered in ("none", "null", ""):
        return None
    if kind == "bool" and lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    if kind in ("int", "float"):
        try:
            number = int(lowered) if kind == "int" else float(lowered)
        except ValueError:
            raise InvalidInput(f"{where} must be {t.describe()}, got {text!r}") from None
        return coerce(t, number, where)
    if kind in ("date", "datetime"):
        return _coerce_time(kind, text, where, t)
    if kind == "literal":
        for choice in t.choices:
            if text == str(choice) or (choice is None and lowered in ("none", "null")):
                return choice
            if isinstance(choice, bool) and lowered in (_TRUE if choice else _FALSE):
                return choice
    if kind in ("list", "dict", "Any"):
        try:
            value = json.loads(text)
        except ValueError:
            if kind == "Any":
                return text
            raise InvalidInput(f"{where} must be {t.describe()} as JSON, got {text!r}") from None
        return coerce(t, value, where)
    if kind == "union":
        only = _only_member(t, lowered in ("none", "null"))
        if only is not None:
            return from_text(only, text, where)
        members = sorted(t.args, key=lambda a: (a.kind != "None", a.kind == "str"))
        for member in members:
            try:
                return from_text(member, text, where)
            except InvalidInput:
                continue
    raise InvalidInput(f"{where} must be {t.describe()}, got {text!r}")


def _only_member(t: ParamType, is_none: bool) -> ParamType | None:
    """The one member a value can be meant for (``list[str] | None`` given a list), so that its
    error names what is wrong inside rather than the whole union."""
    members = [a for a in t.args if a.kind != "None"]
    return members[0] if len(members) == 1 and not is_none else None


def to_json(value: object) -> object:
    """The JSON form of a checked value: dates and datetimes as ISO text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def params_json(values: Mapping[str, object]) -> dict[str, object]:
    """Checked parameter values in their JSON form (for a run's stored params)."""
    return {k: to_json(v) for k, v in values.items()}


def _check_json(value: object, where: str) -> None:
    try:
        json.dumps(to_json(value), allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where} must be a JSON value, got {_shown(value)}") from None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
