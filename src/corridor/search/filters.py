"""MLflow's search language, parsed into a small typed tree. No I/O.

A filter is comparisons joined by ``AND`` (MLflow has no ``OR``)::

    metrics.acc > 0.9 and params.lr = '0.1' and tags.team LIKE '%ml%'
    attributes.status IN ('FINISHED', 'FAILED') and metrics.`my key` <= 3
    tags.owner IS NULL and params.seed IS NOT NULL

A key is ``<entity>.<name>`` (entity ``metrics``, ``params``, ``tags`` or ``attributes``, or
one of MLflow's aliases such as ``metric`` or ``attr``); a bare name is an attribute. A name with
spaces or other characters is quoted with backquotes or double quotes. Strings take single or
double quotes (a doubled quote inside is one quote). An order-by clause is a key and an
optional ``ASC`` or ``DESC``. Errors are `InvalidInput` naming the column where they occur.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from corridor.errors import InvalidInput


class Entity(StrEnum):
    METRIC = "metrics"
    PARAM = "params"
    TAG = "tags"
    ATTRIBUTE = "attributes"


class Op(StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


NUMERIC_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
STRING_OPS = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE, Op.IN, Op.NOT_IN})
NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})

_ENTITIES = {
    "metric": Entity.METRIC,
    "metrics": Entity.METRIC,
    "param": Entity.PARAM,
    "params": Entity.PARAM,
    "parameter": Entity.PARAM,
    "parameters": Entity.PARAM,
    "tag": Entity.TAG,
    "tags": Entity.TAG,
    "attribute": Entity.ATTRIBUTE,
    "attributes": Entity.ATTRIBUTE,
    "attr": Entity.ATTRIBUTE,
    "run": Entity.ATTRIBUTE,
}


@dataclass(frozen=True)
class Key:
    entity: Entity
    name: str

    def __str__(self) -> str:
        return f"{self.entity.value}.{self.name}"


Value = str | float | tuple[str, ...] | None


@dataclass(frozen=True)
class Comparison:
    key: Key
    op: Op
    value: Value


@dataclass(frozen=True)
class OrderBy:
    key: Key
    ascending: bool = True


@dataclass(frozen=True)
class Grammar:
    """What one kind of search accepts: its entities and attributes, and attribute aliases."""

    what: str
    entities: frozenset[Entity]
    string_attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    # Entities a key of which may be absent, and so take IS NULL / IS NOT NULL.
    nullable: frozenset[Entity] = frozenset()

    def attribute(self, name: str) -> str | None:
        """The canonical name of attribute ``name``, or None if this search has no such one."""
        name = self.aliases.get(name, name)
        return name if name in self.string_attributes | self.numeric_attributes else None


RUNS = Grammar(
    what="run",
    entities=frozenset(Entity),
    string_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    numeric_attributes=frozenset({"start_time", "end_time"}),
    aliases={"created": "start_time", "Created": "start_time", "run_uuid": "run_id"},
    nullable=frozenset({Entity.PARAM, Entity.TAG}),
)
EXPERIMENTS = Grammar(
    what="experiment",
    entities=frozenset({Entity.TAG, Entity.ATTRIBUTE}),
    string_attributes=frozenset({"name"}),
    numeric_attributes=frozenset({"creation_time", "last_update_time", "experiment_id"}),
    nullable=frozenset({Entity.TAG}),
)

# Tokens: kind is one of word, key, string, number, op, punct, end.
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][\w.:/\-]*")
_OPS = ("!=", "<=", ">=", "=", "<", ">")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: str
    pos: int


class _Lexer:
    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.tokens = self._scan()
        self.i = 0

    def error(self, pos: int, message: str) -> InvalidInput:
        return InvalidInput(f"invalid {self.what}: {message} at column {pos + 1} of {self.text!r}")

    def _quoted(self, pos: int) -> tuple[str, int]:
        quote = self.text[pos]
        out, i = [], pos + 1
        while i < len(self.text):
            if self.text[i] == quote:
                if self.text[i + 1 : i + 2] == quote:
                    out.append(quote)
                    i += 2
                    continue
                return "".join(out), i + 1
            out.append(self.text[i])
            i += 1
        raise self.error(pos, f"unterminated {quote} quote")

    def _scan(self) -> list[_Token]:
        tokens, i, text = [], 0, self.text
        while True:
            space = _SPACE.match(text, i)
            if space:
                i = space.end()
            if i >= len(text):
                tokens.append(_Token("end", "", "", i))
                return tokens
            c = text[i]
            if c in "(),":
                tokens.append(_Token("punct", c, c, i))
                i += 1
            elif c in "'\"":
                value, end = self._quoted(i)
                tokens.append(_Token("string", text[i:end], value, i))
                i = end
            elif c == "`":
                value, end = self._quoted(i)
                tokens.append(_Token("key", text[i:end], value, i))
                i = end
            elif (op := next((o for o in _OPS if text.startswith(o, i)), None)) is not None:
                tokens.append(_Token("op", op, op, i))
                i += len(op)
            elif (number := _NUMBER.match(text, i)) is not None:
                tokens.append(_Token("number", number.group(), number.group(), i))
                i = number.end()
            elif (word := _WORD.match(text, i)) is not None:
                end = word.end()
                # `metrics.` followed by a quoted name: one key token.
                if word.group().endswith(".") and end < len(text) and text[end] in '`"':
                    name, end = self._quoted(end)
                    tokens.append(_Token("key", text[i:end], word.group() + "\0" + name, i))
                else:
                    tokens.append(_Token("word", word.group(), word.group(), i))
                i = end
            else:
                raise self.error(i, f"unexpected character {c!r}")

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.value.upper() in words


def _shown(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


def _key(lex: _Lexer, grammar: Grammar) -> Key:
    token = lex.next()
    if token.kind == "key" and "\0" in token.value:
        prefix, name = token.value.split("\0", 1)
        entity_name = prefix[:-1]
    elif token.kind == "word" and token.value.upper() not in ("AND", "OR", "NOT", "IN"):
        entity_name, dot, name = token.value.partition(".")
        if not dot:
            entity_name, name = "attributes", token.value
    else:
        raise lex.error(token.pos, f"expected a key such as metrics.acc, found {_shown(token)}")
    entity = _ENTITIES.get(entity_name.lower())
    if entity is None or entity not in grammar.entities:
        allowed = ", ".join(sorted(e.value for e in grammar.entities))
        raise lex.error(token.pos, f"unknown entity {entity_name!r}; use one of {allowed}")
    if not name:
        raise lex.error(token.pos, f"{entity.value} key has no name")
    if entity is Entity.ATTRIBUTE:
        canonical = grammar.attribute(name)
        if canonical is None:
            known = ", ".join(sorted(grammar.string_attributes | grammar.numeric_attributes))
            raise lex.error(token.pos, f"unknown attribute {name!r}; use one of {known}")
        name = canonical
    return Key(entity, name)


def _op(lex: _Lexer) -> Op:
    token = lex.next()
    if token.kind == "op":
        return Op(token.value)
    if token.kind == "word":
        word = token.value.upper()
        if word in ("LIKE", "ILIKE", "IN"):
            return Op(word)
        if word == "NOT" and lex.at_word("IN"):
            lex.next()
            return Op.NOT_IN
        if word == "IS":
            negated = lex.at_word("NOT")
            if negated:
                lex.next()
            if lex.at_word("NULL"):
                lex.next()
                return Op.IS_NOT_NULL if negated else Op.IS_NULL
            raise lex.error(lex.peek().pos, f"expected NULL, found {_shown(lex.peek())}")
    raise lex.error(
        token.pos,
        f"expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS [NOT] NULL), "
        f"found {_shown(token)}",
    )


def _string_list(lex: _Lexer) -> tuple[str, ...]:
    token = lex.next()
    if token.text != "(":
        raise lex.error(token.pos, f"expected '(' to start a list, found {_shown(token)}")
    items: list[str] = []
    while True:
        token = lex.next()
        if token.kind != "string":
            raise lex.error(
                token.pos, f"expected a quoted string in the list, found {_shown(token)}"
            )
        items.append(token.value)
        token = lex.next()
        if token.text == ")":
            return tuple(items)
        if token.text != ",":
            raise lex.error(token.pos, f"expected ',' or ')' in the list, found {_shown(token)}")


def _comparison(lex: _Lexer, grammar: Grammar) -> Comparison:
    key = _key(lex, grammar)
    op_pos = lex.peek().pos
    op = _op(lex)
    numeric = key.entity is Entity.METRIC or (
        key.entity is Entity.ATTRIBUTE and key.name in grammar.numeric_attributes
    )
    allowed = NUMERIC_OPS if numeric else STRING_OPS
    if key.entity in grammar.nullable:
        allowed |= NULL_OPS
    if op not in allowed:
        ops = ", ".join(sorted(o.value for o in allowed))
        raise lex.error(op_pos, f"{op.value} does not apply to {key}; use one of {ops}")
    if op in NULL_OPS:
        return Comparison(key, op, None)
    if op in (Op.IN, Op.NOT_IN):
        return Comparison(key, op, _string_list(lex))
    token = lex.next()
    if numeric:
        if token.kind != "number":
            raise lex.error(token.pos, f"{key} compares with a number, found {_shown(token)}")
        return Comparison(key, op, float(token.value))
    if token.kind != "string":
        raise lex.error(
            token.pos,
            f"{key} compares with a quoted string, found {_shown(token)}"
            + (" (quote it: '...')" if token.kind in ("number", "word") else ""),
        )
    return Comparison(key, op, token.value)


def parse_filter(text: str | None, grammar: Grammar = RUNS) -> tuple[Comparison, ...]:
    """Parse a filter string (empty or None: no condition) into its comparisons."""
    if text is None or not text.strip():
        return ()
    lex = _Lexer(text, f"{grammar.what} filter")
    comparisons = [_comparison(lex, grammar)]
    while lex.peek().kind != "end":
        token = lex.next()
        if token.kind == "word" and token.value.upper() == "AND":
            comparisons.append(_comparison(lex, grammar))
        elif token.kind == "word" and token.value.upper() == "OR":
            raise lex.error(token.pos, "OR is not supported; comparisons join with AND only")
        else:
            raise lex.error(token.pos, f"expected AND or the end, found {_shown(token)}")
    return tuple(comparisons)


def parse_order_by(text: str, grammar: Grammar = RUNS) -> OrderBy:
    """Parse one order-by clause such as ``metrics.acc DESC`` or ``attributes.start_time``."""
    lex = _Lexer(text, f"{grammar.what} order_by")
    if lex.peek().kind == "end":
        raise lex.error(0, "it is empty")
    key = _key(lex, grammar)
    ascending = True
    if lex.at_word("ASC", "DESC"):
        ascending = lex.next().value.upper() == "ASC"
    token = lex.peek()
    if token.kind != "end":
        raise lex.error(token.pos, f"expected ASC, DESC or the end, found {_shown(token)}")
    return OrderBy(key, ascending)
