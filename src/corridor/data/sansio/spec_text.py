"""Read declarative specs (expectation suites, recipes, masking plans) from YAML or JSON text.

Specs come from users, so every failure becomes one ``InvalidInput`` whose message says which
item of the spec was wrong (by position, name and column) and why.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from corridor.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

# PyYAML ships no type stubs; reach it through importlib so the rest of the module stays typed.
_yaml: Any = importlib.import_module("yaml")


def parse_text(text: str, what: str) -> Any:
    """Parse YAML or JSON text (JSON is tried first) into plain Python values."""
    try:
        return pydantic_core.from_json(text, allow_inf_nan=True)
    except ValueError:
        pass
    try:
        return _yaml.safe_load(text)
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply") from None
    except _yaml.YAMLError as exc:
        raise InvalidInput(f"{what} is neither valid JSON nor valid YAML: {exc}") from None


def load_spec(model: type[M], source: str | Mapping[str, Any] | Sequence[Any], what: str) -> M:
    """Validate ``source`` (text, a mapping, or a bare list of items) as ``model``."""
    data = parse_text(source, what) if isinstance(source, str) else source
    if isinstance(data, list):
        data = {_list_field(model): data}
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what} must be a mapping or a list, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc, data, what)) from None


def _list_field(model: type[BaseModel]) -> str:
    for name, field in model.model_fields.items():
        if getattr(field.annotation, "__origin__", None) is list:
            return name
    raise InvalidInput(f"{model.__name__} cannot be read from a bare list")


def describe_errors(exc: ValidationError, data: Any, what: str) -> str:
    """One line per problem: where it is (item number, name, column) and what is wrong."""
    lines = [_describe_one(error, data) for error in exc.errors(include_url=False)]
    return f"{what} is invalid: " + "; ".join(lines)


def _describe_one(error: Mapping[str, Any], data: Any) -> str:
    node = data
    where: list[str] = []
    for part in error["loc"]:
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            where.append(_item_label(part, node))
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
            if not isinstance(node, list):
                where.append(f"field {part!r}")
        elif isinstance(part, str) and part not in _tag_names(node):
            where.append(f"field {part!r}")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "is not a known field"
    elif error["type"] == "union_tag_invalid":
        ctx = error.get("ctx", {})
        message = f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    return f"{', '.join(where) or 'top level'}: {message}"


def _tag_names(node: Any) -> set[str]:
    # Pydantic puts a discriminated union's tag (the kind) in the error location; hide it.
    return {str(node.get("kind"))} if isinstance(node, Mapping) else set()


def _item_label(index: int, item: Any) -> str:
    label = f"item {index + 1}"
    if isinstance(item, Mapping):
        if isinstance(item.get("name"), str):
            label += f" {item['name']!r}"
        if "kind" in item:
            label += f" (kind {item['kind']!r})"
        columns = item.get("column", item.get("columns"))
        if isinstance(columns, str | list):
            label += f" on column {columns!r}" if isinstance(columns, str) else f" on {columns!r}"
    return label
