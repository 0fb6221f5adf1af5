"""Inputs that are not already a local file: objects in S3, and the results of SQL queries.

Both stream. An S3 object is read in blocks and handed on as byte strings. A query runs in a
read-only transaction with a server-side cursor, and each batch of rows is written to its own
Parquet part as it arrives; the parts are then merged by one streaming pass that settles each
column's type across batches (a column that is null in the first batch and text later is text).

A database can return values Polars has no type for (UUIDs, network addresses, ranges, numbers
past Decimal128, NaN decimals, JSON that is an object in one row and a list in another); such a
column is stored as text (JSON for objects and lists) rather than failing the query, and a
column whose type still differs between batches is refused naming it, never a server error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from corridor.data.staging import Progress, Workspace, no_progress
from corridor.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlalchemy import Connection

S3_BLOCK_BYTES = 8 << 20
SQL_BATCH_ROWS = 100_000


def is_s3(source: str) -> bool:
    return source.startswith("s3://")


@dataclass(frozen=True)
class S3Object:
    uri: str
    size: int
    endpoint_url: str | None

    def chunks(self) -> Iterator[bytes]:
        fs = _s3fs(self.endpoint_url)
        with fs.open(self.uri, "rb", block_size=S3_BLOCK_BYTES, cache_type="readahead") as f:
            while chunk := f.read(S3_BLOCK_BYTES):
                yield chunk


def _s3fs(endpoint_url: str | None) -> Any:
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint_url, use_listings_cache=False)


def open_s3(uri: str, endpoint_url: str | None) -> S3Object:
    """Find an S3 object (credentials from the usual AWS sources); `NotFound` if absent."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise InvalidInput(f"{uri!r} is not an S3 object URI: write s3://bucket/key")
    fs = _s3fs(endpoint_url)
    try:
        info = fs.info(uri)
    except FileNotFoundError:
        raise NotFound(f"{uri}: no such object") from None
    except PermissionError as exc:
        raise InvalidInput(f"{uri}: access denied by S3 ({exc})") from None
    if info.get("type") != "file":
        raise InvalidInput(f"{uri} is not an object (a prefix?): name one file")
    return S3Object(uri, int(info["size"]), endpoint_url)


SECRET_PARAMETERS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "sslpassword",
        "client_secret",
        "aws_secret_access_key",
    }
)
"""Query parameters (any case) whose value is hidden wherever a database URL is shown."""
_EMBEDDED_SECRET = re.compile(r"(?i)\b(pwd|password|passwd)(\s*=\s*)(\{[^}]*\}?|[^;&]*)")
"""A password inside a parameter's value, e.g. an ODBC string: ``...;PWD={s3cret};...``."""
REDACTED = "***"


def _redact_value(key: str, value: str) -> str:
    if key.lower() in SECRET_PARAMETERS:
        return REDACTED
    return _EMBEDDED_SECRET.sub(lambda m: m.group(1) + m.group(2) + REDACTED, value)


def redact_url(url: str) -> str:
    """A database URL without its password or secret query parameters, for reports and
    messages (``?password=``, ``pwd=``, and ``PWD=`` inside ``odbc_connect=``, in any case)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput("the database URL is not valid (dialect://user@host/db)") from None
    query = {
        key: (
            tuple(_redact_value(key, v) for v in value)
            if isinstance(value, tuple)
            else _redact_value(key, value)
        )
        for key, value in parsed.query.items()
    }
    return parsed.set(query=query).render_as_string(hide_password=True)


def query_to_parquet(
    url: str,
    query: str,
    workspace: Workspace,
    *,
    batch_rows: int = SQL_BATCH_ROWS,
    progress: Progress = no_progress,
) -> Path:
    """Run ``query`` read-only against ``url`` and write its rows to one Parquet file."""
    from sqlalchemy import create_engine
    from sqlalchemy import exc as sa_exc

    from corridor.data.convert import sink
    from corridor.store.db import normalise_url

    shown = redact_url(url)
    try:
        engine = create_engine(normalise_url(url), poolclass=_null_pool())
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise InvalidInput(f"cannot use the database URL {shown}: {exc}") from None
    parts: list[Path] = []
    rows_read = 0
    try:
        with engine.connect() as conn:
            _read_only(conn)
            result = conn.execution_options(stream_results=True, yield_per=batch_rows)
            cursor = result.exec_driver_sql(query)
            if not cursor.returns_rows:
                raise InvalidInput("the query returns no rows (use a SELECT)")
            names = list(cursor.keys())
            if len(set(names)) != len(names):
                raise InvalidInput(f"the query returns duplicate column names: {names}; alias them")
            for rows in cursor.partitions(batch_rows):
                frame = rows_to_frame(names, rows)
                part = workspace.file(f"part-{len(parts):06d}.parquet")
                frame.write_parquet(part)
                parts.append(part)
                rows_read += frame.height
                progress("reading", rows_read, None)
            if not parts:
                pl.DataFrame(schema=dict.fromkeys(names, pl.String)).write_parquet(
                    part := workspace.file("part-empty.parquet")
                )
                parts.append(part)
    except sa_exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InvalidInput(f"the query against {shown} failed: {reason}") from None
    finally:
        engine.dispose()
    out = workspace.file("data.parquet")
    frames = [pl.scan_parquet(p) for p in parts]
    try:
        sink(pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0], out)
    except pl.exceptions.PolarsError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(
            f"the query's column types differ between batches of {batch_rows} rows ({reason}); "
            "cast the columns in the query to one type each (e.g. CAST(x AS TEXT))"
        ) from None
    for part in parts:
        workspace.discard(part)
    return out


_FRAME_ERRORS = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    TypeError,
    ValueError,
    OverflowError,
    RuntimeError,
)


def rows_to_frame(names: list[str], rows: Sequence[Any]) -> pl.DataFrame:
    """One batch of query rows as a frame; a column Polars cannot type becomes text."""
    tuples = [tuple(r) for r in rows]
    # Polars panics on these (and the panic prints a trace), so they never reach it.
    untypable = {i for row in tuples for i, v in enumerate(row) if _beyond_decimal(v)}
    if not untypable:
        try:
            frame = pl.DataFrame(tuples, schema=names, orient="row", infer_schema_length=None)
            if not any(dtype == pl.Object for dtype in frame.dtypes):
                return frame
        except _FRAME_ERRORS:
            pass
    columns = []
    for i, name in enumerate(names):
        values = [row[i] for row in tuples]
        try:
            if i in untypable:
                raise TypeError("no Polars type")
            column = pl.Series(name, values, strict=True)
            if column.dtype == pl.Object:
                raise TypeError("no Polars type")
        except _FRAME_ERRORS:
            column = pl.Series(name, [_as_text(v) for v in values], dtype=pl.String)
        columns.append(column)
    return pl.DataFrame(columns)


DECIMAL_DIGITS = 38  # Decimal128


def _beyond_decimal(value: object) -> bool:
    """A decimal Polars cannot hold: NaN, infinite, or more digits than Decimal128 has."""
    if not isinstance(value, Decimal):
        return False
    if not value.is_finite():
        return True
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    return max(len(digits), -exponent) + max(exponent, 0) > DECIMAL_DIGITS


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool


def _read_only(conn: Connection) -> None:
    """Make the transaction read-only where the database supports saying so."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
