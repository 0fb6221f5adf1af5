"""A small, safe expression language for filters, derived columns and custom expectations.

Specs are stored and shared, so they must not run Python. An expression is parsed with Python's
``ast`` module (parsing runs nothing) and translated node by node into a Polars expression; any
node outside the list below is refused. The syntax is a subset of Python's::

    amount > 0 and status in ("open", "paid")
    lower(strip(email)) if email is not None else "unknown"
    col("unit price") * quantity <= 10_000

Bare names are columns (``col("...")`` for names that are not identifiers); literals are numbers,
strings, ``True``, ``False`` and ``None``; operators are arithmetic, comparisons (chained too),
``in``/``not in`` a literal list, ``is None``/``is not None``, ``and``/``or``/``not`` (or ``&``,
``|``, ``~``) and ``a if cond else b``; functions are those in ``FUNCTIONS``.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import polars as pl
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from corridor.data.sansio.dtypes import parse_dtype
from corridor.errors import InvalidInput

MAX_EXPRESSION_LENGTH = 4000

_BINARY: dict[type[ast.operator], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a.pow(b),
    ast.BitAnd: lambda a, b: a & b,
    ast.BitOr: lambda a, b: a | b,
}
_COMPARE: dict[type[ast.cmpop], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}
_Fn = Callable[["_Translator", list[ast.expr]], pl.Expr]


def _one(method: Callable[[pl.Expr], pl.Expr]) -> tuple[int, int, _Fn]:
    return 1, 1, lambda t, args: method(t.expr(args[0]))


def _round(t: _Translator, args: list[ast.expr]) -> pl.Expr:
    decimals = t.literal(args[1], int, "round's decimals") if len(args) > 1 else 0
    return t.expr(args[0]).round(decimals)


def _substr(t: _Translator, args: list[ast.expr]) -> pl.Expr:
    offset = t.literal(args[1], int, "substr's offset")
    length = t.literal(args[2], int, "substr's length") if len(args) > 2 else None
    return t.expr(args[0]).str.slice(offset, length)


def _pattern(method: str) -> tuple[int, int, _Fn]:
    def build(t: _Translator, args: list[ast.expr]) -> pl.Expr:
        text = t.literal(args[1], str, f"{method}'s pattern")
        string = t.expr(args[0]).str
        if method == "contains":
            _check_regex(text)
            return string.contains(text)
        return string.starts_with(text) if method == "starts_with" else string.ends_with(text)

    return 2, 2, build


def _replace(t: _Translator, args: list[ast.expr]) -> pl.Expr:
    pattern = _check_regex(t.literal(args[1], str, "replace's pattern"))
    value = t.literal(args[2], str, "replace's replacement")
    return t.expr(args[0]).str.replace_all(pattern, value)


def _cast(t: _Translator, args: list[ast.expr]) -> pl.Expr:
    return t.expr(args[0]).cast(parse_dtype(t.literal(args[1], str, "cast's type")), strict=False)


def _temporal_literal(kind: type[dt.date]) -> tuple[int, int, _Fn]:
    def build(t: _Translator, args: list[ast.expr]) -> pl.Expr:
        text = t.literal(args[0], str, f"{kind.__name__}'s argument")
        try:
            return pl.lit(kind.fromisoformat(text))
        except ValueError:
            raise InvalidInput(f"{text!r} is not an ISO 8601 {kind.__name__}") from None

    return 1, 1, build


def _when(t: _Translator, args: list[ast.expr]) -> pl.Expr:
    return pl.when(t.expr(args[0])).then(t.expr(args[1])).otherwise(t.expr(args[2]))


def _column(t: _Translator, args: list[ast.expr]) -> pl.Expr:
    return t.column(t.literal(args[0], str, "col's argument"))


def _horizontal(fn: Callable[[list[pl.Expr]], pl.Expr]) -> tuple[int, int, _Fn]:
    return 1, 64, lambda t, args: fn([t.expr(a) for a in args])


FUNCTIONS: dict[str, tuple[int, int, _Fn]] = {
    "col": (1, 1, _column),
    "is_null": _one(pl.Expr.is_null),
    "is_not_null": _one(pl.Expr.is_not_null),
    "coalesce": _horizontal(pl.coalesce),
    "least": _horizontal(pl.min_horizontal),
    "greatest": _horizontal(pl.max_horizontal),
    "concat": _horizontal(lambda exprs: pl.concat_str(exprs)),
    "if_else": (3, 3, _when),
    "between": (3, 3, lambda t, a: t.expr(a[0]).is_between(t.expr(a[1]), t.expr(a[2]))),
    "abs": _one(pl.Expr.abs),
    "round": (1, 2, _round),
    "floor": _one(pl.Expr.floor),
    "ceil": _one(pl.Expr.ceil),
    "sqrt": _one(pl.Expr.sqrt),
    "log": _one(lambda e: e.log()),
    "exp": _one(pl.Expr.exp),
    "lower": _one(lambda e: e.str.to_lowercase()),
    "upper": _one(lambda e: e.str.to_uppercase()),
    "strip": _one(lambda e: e.str.strip_chars()),
    "len": _one(lambda e: e.str.len_chars()),
    "substr": (2, 3, _substr),
    "contains": _pattern("contains"),
    "starts_with": _pattern("starts_with"),
    "ends_with": _pattern("ends_with"),
    "replace": (3, 3, _replace),
    "cast": (2, 2, _cast),
    "date": _temporal_literal(dt.date),
    "datetime": _temporal_literal(dt.datetime),
    "year": _one(lambda e: e.dt.year()),
    "month": _one(lambda e: e.dt.month()),
    "day": _one(lambda e: e.dt.day()),
    "hour": _one(lambda e: e.dt.hour()),
    "weekday": _one(lambda e: e.dt.weekday()),
    "mean": _one(pl.Expr.mean),
    "median": _one(pl.Expr.median),
    "std": _one(lambda e: e.std()),
    "min": _one(pl.Expr.min),
    "max": _one(pl.Expr.max),
    "sum": _one(pl.Expr.sum),
    "count": _one(pl.Expr.count),
    "n_unique": _one(pl.Expr.n_unique),
}


def _check_regex(pattern: str) -> str:
    """Return ``pattern`` if Polars' regex engine accepts it; refuse it now, not mid-query."""
    try:
        pl.select(pl.lit("").str.contains(pattern)).item()
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()
        raise InvalidInput(f"bad regular expression {pattern!r}: {' '.join(first[:4])}") from None
    return pattern


def check_regex(pattern: str) -> str:
    """Return ``pattern`` if it is a valid regular expression (Rust ``regex`` syntax)."""
    return _check_regex(pattern)


def compile_expression(text: str, schema: Mapping[str, pl.DataType] | None = None) -> pl.Expr:
    """Translate ``text`` into a Polars expression, checking column names against ``schema``.

    Raises ``InvalidInput`` on a syntax error, a construct outside the language, an unknown
    function or an unknown column.
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InvalidInput(f"expression is {len(text)} characters; at most {MAX_EXPRESSION_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _Translator(schema).expr(tree.body)
    except SyntaxError as exc:
        where = f" at character {exc.offset}" if exc.offset else ""
        raise InvalidInput(f"expression {text!r} has a syntax error{where}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise InvalidInput(f"expression {text!r} is too deeply nested or malformed") from None


def expression_columns(expr: pl.Expr) -> list[str]:
    """The columns an expression reads."""
    return list(dict.fromkeys(expr.meta.root_names()))


class _Translator:
    def __init__(self, schema: Mapping[str, pl.DataType] | None) -> None:
        self.schema = schema

    def column(self, name: str) -> pl.Expr:
        if self.schema is not None and name not in self.schema:
            known = ", ".join(self.schema) or "(none)"
            raise InvalidInput(f"unknown column {name!r}; the columns are: {known}")
        return pl.col(name)

    def literal(self, node: ast.expr, kind: type[Any], what: str) -> Any:
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = node.operand
            number = inner.value if isinstance(inner, ast.Constant) else None
            value = -number if isinstance(number, int | float) else None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidInput(f"{what} must be a literal {kind.__name__}")
        return value

    def literals(self, node: ast.expr) -> list[Any]:
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise InvalidInput("the right side of 'in' must be a literal list, e.g. (1, 2, 3)")
        return [self.literal(e, object, "each item of an 'in' list") for e in node.elts]

    def expr(self, node: ast.expr) -> pl.Expr:
        if isinstance(node, ast.Constant):
            if node.value is not None and not isinstance(node.value, bool | int | float | str):
                raise InvalidInput(f"literal {node.value!r} is not allowed")
            try:
                return pl.lit(node.value)
            except (OverflowError, ValueError):
                raise InvalidInput(f"literal {node.value!r} is out of range") from None
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.USub):
                return -operand
            return operand if isinstance(node.op, ast.UAdd) else ~operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.BoolOp):
            parts = [self.expr(v) for v in node.values]
            return (
                pl.all_horizontal(parts)
                if isinstance(node.op, ast.And)
                else pl.any_horizontal(parts)
            )
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return (
                pl.when(self.expr(node.test))
                .then(self.expr(node.body))
                .otherwise(self.expr(node.orelse))
            )
        if isinstance(node, ast.Call):
            return self._call(node)
        raise InvalidInput(f"{_describe(node)} is not allowed in an expression")

    def _compare(self, node: ast.Compare) -> pl.Expr:
        parts: list[pl.Expr] = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(self._compare_one(left, op, right))
            left = right
        return parts[0] if len(parts) == 1 else pl.all_horizontal(parts)

    def _compare_one(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> pl.Expr:
        if isinstance(op, ast.In | ast.NotIn):
            values = pl.Series(self.literals(right), strict=False)
            test = self.expr(left).is_in(values.implode())
            return test if isinstance(op, ast.In) else ~test
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise InvalidInput("'is' and 'is not' may only compare with None")
            operand = self.expr(left)
            return operand.is_null() if isinstance(op, ast.Is) else operand.is_not_null()
        return _COMPARE[type(op)](self.expr(left), self.expr(right))

    def _call(self, node: ast.Call) -> pl.Expr:
        if not isinstance(node.func, ast.Name):
            raise InvalidInput(f"{_describe(node.func)} cannot be called; use a function by name")
        name = node.func.id
        if name not in FUNCTIONS:
            raise InvalidInput(f"unknown function {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise InvalidInput(f"function {name!r} takes positional arguments only")
        low, high, build = FUNCTIONS[name]
        if not low <= len(node.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise InvalidInput(f"function {name!r} takes {want} arguments, not {len(node.args)}")
        return build(self, list(node.args))


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.NamedExpr: "assignment",
        ast.Starred: "unpacking",
    }
    return names.get(type(node), f"the construct {type(node).__name__!r}")


def as_expression(value: str | pl.Expr, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """Compile a safe-expression string, or check a ``pl.Expr``'s columns against ``schema``."""
    if isinstance(value, str):
        return compile_expression(value, schema)
    missing = [c for c in expression_columns(value) if c not in schema]
    if missing:
        raise InvalidInput(f"unknown column {missing[0]!r}; the columns are: {', '.join(schema)}")
    return value


def _only_expr(value: Any) -> pl.Expr:
    if not isinstance(value, pl.Expr):
        raise ValueError("expected a safe-expression string or a polars expression")
    return value


def _refuse_to_store(value: pl.Expr) -> str:
    raise ValueError("a pl.Expr given in Python cannot be stored; write it as a string")


PolarsExpr = Annotated[
    pl.Expr,
    PlainValidator(_only_expr),
    PlainSerializer(_refuse_to_store, return_type=str),
    WithJsonSchema({"type": "string", "description": "an expression in Corridor's safe syntax"}),
]
"""A ``pl.Expr`` field: accepted from Python, never stored (use the string form for that)."""
