"""Checking a run's parameters against its pipeline's parameter spec, on the server (no I/O).

The server never imports the user's code, so it checks what the spec says in JSON terms: every
name is a parameter, every required one is given, and each value has the JSON type its
annotation calls for (``int``, ``float``, ``str``, ``bool``, ``list[...]``, ``dict[...]``, dates
as ISO strings, ``Literal[...]`` as one of its values, ``X | None`` also null). Annotations it
does not know pass as they are: the driver checks them again with the real types.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from corridor.errors import InvalidInput

_NONE_FORMS = ("None", "NoneType")


def check_params(spec: Sequence[Mapping[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters, defaults filled in; `InvalidInput` naming the parameter at fault."""
    by_name = {str(p["name"]): p for p in spec}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        known = ", ".join(by_name) or "none"
        raise InvalidInput(
            f"parameter {unknown[0]!r} is not a parameter of this pipeline "
            f"(its parameters: {known})"
        )
    checked: dict[str, Any] = {}
    for name, param in by_name.items():
        if name in values:
            value = values[name]
            _check_value(name, str(param.get("type") or ""), value)
            checked[name] = value
        elif param.get("required"):
            raise InvalidInput(f"parameter {name!r} is required")
        else:
            checked[name] = param.get("default")
    return checked


def _split_union(annotation: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(annotation):
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(annotation[start:i].strip())
            start = i + 1
    parts.append(annotation[start:].strip())
    return [p for p in parts if p]


def _check_value(name: str, annotation: str, value: Any) -> None:
    annotation = annotation.strip()
    if annotation.startswith(("Optional[", "typing.Optional[")) and annotation.endswith("]"):
        annotation = annotation[annotation.index("[") + 1 : -1] + " | None"
    options = _split_union(annotation)
    if not options:
        return
    if value is None and any(o in _NONE_FORMS for o in options):
        return
    wanted = [o for o in options if o not in _NONE_FORMS]
    if any(_matches(o, value) for o in wanted):
        return
    described = " or ".join(_describe(o) for o in options)
    raise InvalidInput(f"parameter {name!r} must be {described}, got {_shown(value)}")


def _base(annotation: str) -> str:
    head = annotation.split("[", 1)[0].strip()
    return head.rsplit(".", 1)[-1]


def _matches(annotation: str, value: Any) -> bool:
    """Whether ``value`` has the JSON type ``annotation`` calls for (unknown: yes)."""
    base = _base(annotation)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base == "bool":
        return isinstance(value, bool)
    if base in ("list", "List", "tuple", "Tuple", "Sequence", "set", "frozenset"):
        return isinstance(value, list)
    if base in ("dict", "Dict", "Mapping"):
        return isinstance(value, dict)
    if base == "date":
        return isinstance(value, str) and _parses(dt.date.fromisoformat, value)
    if base == "datetime":
        return isinstance(value, str) and _parses(dt.datetime.fromisoformat, value)
    if base == "Literal":
        return value in _literals(annotation)
    return True


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _literals(annotation: str) -> list[Any]:
    inner = annotation[annotation.index("[") + 1 : annotation.rindex("]")]
    try:
        found = ast.literal_eval(f"[{inner}]")
    except (ValueError, SyntaxError):
        return []
    return list(found)


def _describe(annotation: str) -> str:
    base = _base(annotation)
    if base == "Literal":
        return "one of " + ", ".join(repr(v) for v in _literals(annotation))
    if base in _NONE_FORMS:
        return "null"
    article = "an" if base[:1] in "aeiou" else "a"
    if base in ("date", "datetime"):
        return f"a {base} (ISO text)"
    return f"{article} {base}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
