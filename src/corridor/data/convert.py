"""Turn a staged input (CSV, Parquet, JSON lines, Arrow IPC) into one Parquet file, streaming.

Polars reads the input lazily and its streaming engine writes Parquet as it goes
(``scan_csv(...).sink_parquet(...)``), so memory stays bounded whatever the input's size. What
the engine cannot check for free is checked after it, from statistics it wrote: a CSV row with
fewer fields than the header shows up as a null in the last column, so only when that column
has nulls does a second, native pass look for short rows. Errors name the input, and the line
and column where they can be found (see `diagnose`).

Whatever a client sends, a failure to read it is the client's to fix, so it is an `InvalidInput`
(422), never an internal error: each reader explains the failures it can place (a ragged row, a
bad byte, an unclosed quote), and `convert` turns any other error a decoder raises (Polars,
Arrow, codecs, including a Polars panic) into one that names the input and the format. Text
formats are refused as "not a text file" when their first bytes are binary, and the decoded size
is bounded (see `decoded`) before Parquet and Arrow are decoded and before anything is stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corridor.data import decoded, diagnose
from corridor.data.sansio.csv_dialect import UTF8, CsvDialect, binary_reason, sniff
from corridor.data.sansio.dtypes import dtype_name, parse_dtype
from corridor.data.sansio.formats import Format, binary_kind, detect_format, is_ipc_file
from corridor.data.schemas import ReadOptions, SourceKind, SourceReport
from corridor.data.staging import StagedInput, Workspace, transcode
from corridor.errors import CorridorError, InvalidInput

SNIFF_BYTES = 1 << 20
_PARSE_ERROR = re.compile(
    r"could not parse `(?P<value>.*?)` as dtype `(?P<dtype>[^`]+)` at column "
    r"'(?P<column>.*?)' \(column number (?P<number>\d+)\)",
    re.S,
)
_POLARS_TYPES = {"i64": "int64", "i32": "int32", "f64": "float64", "f32": "float32"}
UNREADABLE = {
    Format.CSV: "cannot be read as CSV",
    Format.PARQUET: "is not a readable Parquet file",
    Format.JSONL: "cannot be read as JSON lines",
    Format.IPC: "is not a readable Arrow IPC file or stream",
}


@dataclass(frozen=True)
class Converted:
    """A Parquet file ready to store, with what the version records about it."""

    path: Path
    digest: str
    size_bytes: int
    row_count: int
    columns: list[tuple[str, str]]


def finish(path: Path) -> Converted:
    """Hash and describe a finished Parquet file (row count and schema from its footer)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

    sha, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    rows = pq.read_metadata(path).num_rows
    schema = pl.read_parquet_schema(path)
    columns = [(name, dtype_name(dtype)) for name, dtype in schema.items()]
    return Converted(path, sha.hexdigest(), size, rows, columns)


def sink(lf: pl.LazyFrame, out: Path) -> None:
    lf.sink_parquet(out, compression="zstd", statistics=True)


def convert(
    staged: StagedInput,
    options: ReadOptions,
    workspace: Workspace,
    *,
    kind: SourceKind,
    max_decoded_bytes: int,
) -> tuple[Converted, SourceReport]:
    """Read ``staged`` as ``options`` say (inferring the rest) and write it as Parquet.

    `InvalidInput` if it cannot be read so, `PayloadTooLarge` if it decodes past
    ``max_decoded_bytes``; nothing is left but files in ``workspace``.
    """
    head = staged.head(SNIFF_BYTES)
    fmt, how = detect_format(options.format, staged.name, head[:16])
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InvalidInput(f"{staged.name} is empty: there is nothing to ingest")
    report = SourceReport(
        kind=kind,
        name=staged.name,
        format=fmt,
        format_from=how,
        compression=staged.compression,
        bytes_read=staged.bytes_read,
        bytes_expanded=staged.size if staged.compression else None,
    )
    out = workspace.file("data.parquet")
    readers: dict[Format, Callable[..., SourceReport]] = {
        Format.CSV: _csv,
        Format.PARQUET: _parquet,
        Format.JSONL: _jsonl,
        Format.IPC: _ipc,
    }
    try:
        report = readers[fmt](staged, head, options, workspace, out, report, max_decoded_bytes)
        converted = finish(out)
    except CorridorError:
        raise
    except decoder_errors() as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the server's own fault (disk full, permissions), not the input's
        raise unreadable(staged.name, UNREADABLE[fmt], exc, workspace) from None
    check_decoded(staged.name, converted, max_decoded_bytes)
    return converted, report


def check_decoded(name: str, converted: Converted, limit: int) -> None:
    """Refuse (413) a converted input whose rows decode past ``limit``, before it is stored."""
    schema = pl.read_parquet_schema(converted.path)
    decoded.check(name, converted.row_count, schema, limit)


def decoder_errors() -> tuple[type[BaseException], ...]:
    """What the decoders raise on content they cannot read (a Polars panic included)."""
    import csv

    import pyarrow as pa

    return (
        pl.exceptions.PolarsError,
        pl.exceptions.PanicException,
        pa.ArrowException,
        UnicodeError,
        csv.Error,
        OSError,
    )


def unreadable(name: str, problem: str, exc: BaseException, workspace: Workspace) -> InvalidInput:
    """The error for input a decoder could not read (without the server's paths)."""
    reason = _first_line(str(exc)).replace(str(workspace.path), "")
    return InvalidInput(f"{name} {problem}: {reason}")


def _overrides(options: ReadOptions) -> dict[str, pl.DataType]:
    return {column: parse_dtype(name) for column, name in options.dtypes.items()}


def _check_columns(name: str, options: ReadOptions, schema: pl.Schema) -> None:
    unknown = [c for c in options.dtypes if c not in schema]
    if unknown:
        raise InvalidInput(
            f"{name}: dtypes names columns that are not in the file: {', '.join(unknown)}; "
            f"the columns are: {', '.join(schema)}"
        )


def _cast(name: str, lf: pl.LazyFrame, options: ReadOptions) -> pl.LazyFrame:
    """Apply ``options.dtypes`` to formats that carry their own types."""
    _check_columns(name, options, lf.collect_schema())
    casts = [pl.col(c).cast(t, strict=True) for c, t in _overrides(options).items()]
    return lf.with_columns(casts) if casts else lf


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


# CSV


def _scan_csv(
    path: Path, dialect: CsvDialect, options: ReadOptions, *, all_text: bool = False
) -> pl.LazyFrame:
    overrides = {} if all_text else _overrides(options)
    infer = options.infer_schema_rows > 0 and not all_text
    return pl.scan_csv(
        path,
        separator=dialect.delimiter,
        quote_char=dialect.quote_char,
        has_header=dialect.has_header,
        encoding="utf8",
        infer_schema=infer,
        infer_schema_length=options.infer_schema_rows if infer else None,
        schema_overrides=overrides or None,
        null_values=options.null_values or None,
        try_parse_dates=options.parse_dates and infer,
        raise_if_empty=True,
    )


def _csv(
    staged: StagedInput,
    head: bytes,
    options: ReadOptions,
    workspace: Workspace,
    out: Path,
    report: SourceReport,
    max_decoded_bytes: int,
) -> SourceReport:
    dialect = sniff(
        head,
        complete=staged.size <= len(head),
        encoding=options.encoding,
        delimiter=options.delimiter,
        quote_char=options.quote_char if options.quoting else None,
        has_header=options.has_header,
        guess_quote=options.quoting and options.quote_char is None,
    )
    _refuse_binary(staged.name, head, dialect.encoding, staged.size <= len(head), "CSV")
    notes = []
    path = staged.path
    if dialect.needs_transcoding:
        path = transcode(staged, dialect.encoding, workspace, max_bytes=staged.size)
        notes.append(f"re-encoded from {dialect.encoding} to UTF-8")
    lf = _scan_csv(path, dialect, options)
    try:
        if options.dtypes:
            _check_columns(staged.name, options, lf.collect_schema())
        sink(lf, out)
    except pl.exceptions.PolarsError as exc:
        raise _csv_error(exc, staged, path, dialect, options, workspace) from None
    _refuse_short_rows(staged.name, path, out, dialect)
    _refuse_swallowed_rows(staged.name, path, out, dialect)
    if options.infer_schema_rows:
        notes.append(f"column types inferred from the first {options.infer_schema_rows} rows")
    else:
        notes.append("every column read as text")
    return report.model_copy(update={"csv": dialect, "notes": notes})


def _refuse_binary(name: str, head: bytes, encoding: str, complete: bool, what: str) -> None:
    """Refuse input whose first bytes are not text in ``encoding`` (an image, an array...)."""
    reason = binary_reason(head, encoding, complete=complete)
    if reason is None:
        return
    kind = binary_kind(head)
    looks = f"; it looks like {kind}" if kind else ""
    raise InvalidInput(
        f"{name} is not a text file, so not {what}: {reason} (read as {encoding}){looks}. "
        "Ingest CSV or JSON lines text, Parquet or Arrow IPC; if this is text in another "
        "encoding (UTF-16 without a byte-order mark?), give encoding=..."
    )


def _quoting(name: str, path: Path, dialect: CsvDialect) -> InvalidInput | None:
    if dialect.quote_char is None:
        return None
    found = diagnose.bad_quoting(path, dialect.delimiter, dialect.quote_char)
    if found is None:
        return None
    location, why = found
    return InvalidInput(
        f'{name}, {location}: {why}; quote fields as "a ""quoted"" value", '
        "or read quotes as plain text with quoting=False"
    )


def _refuse_swallowed_rows(name: str, path: Path, out: Path, dialect: CsvDialect) -> None:
    """Fail if no row was read from a file of several lines: a quote left open in the header
    swallows the rest of the file into it, and the data would be silently lost."""
    import pyarrow.parquet as pq

    if pq.read_metadata(out).num_rows > 0:
        return
    error = _quoting(name, path, dialect)
    if error is not None:
        raise error


def _csv_error(
    exc: pl.exceptions.PolarsError,
    staged: StagedInput,
    path: Path,
    dialect: CsvDialect,
    options: ReadOptions,
    workspace: Workspace,
) -> InvalidInput:
    """The error to show for ``exc``; finding where it happened may itself fail on a badly
    broken file, and then the engine's own words are shown."""
    try:
        return _explain_csv(exc, staged, path, dialect, options)
    except decoder_errors():
        return unreadable(staged.name, UNREADABLE[Format.CSV], exc, workspace)


def _explain_csv(
    exc: pl.exceptions.PolarsError,
    staged: StagedInput,
    path: Path,
    dialect: CsvDialect,
    options: ReadOptions,
) -> InvalidInput:
    message, name = str(exc), staged.name
    if isinstance(exc, pl.exceptions.NoDataError):
        return InvalidInput(f"{name} is empty: there is nothing to ingest")
    if "not properly escaped" in message:
        quoting = _quoting(name, path, dialect)
        if quoting is not None:
            return quoting
    if "more fields than defined" in message:
        row = diagnose.ragged_row(path, dialect.delimiter, dialect.quote_char)
        if row is not None:
            return _ragged(name, row, [])
        return InvalidInput(f"{name}: a row has more fields than the header row")
    if "invalid utf-8" in message.lower():
        return _not_utf8(name, path, dialect)
    parse = _PARSE_ERROR.search(message)
    if parse is not None:
        value, column = parse["value"], parse["column"]
        dtype = _POLARS_TYPES.get(parse["dtype"], parse["dtype"])
        first_line = 2 if dialect.has_header else 1
        bad = diagnose.unparsable_value(
            _scan_csv(path, dialect, options, all_text=True), column, value, first_line=first_line
        )
        where = f"line {bad.location.line}, " if bad is not None else ""
        return InvalidInput(
            f"{name}, {where}column {parse['number']} ({column!r}): {value!r} is not {dtype} "
            f"like the values above it: the column has mixed types. Types are inferred from "
            f"the first {options.infer_schema_rows} rows; set this one with "
            f"dtypes={{{column!r}: 'string'}}, or raise infer_schema_rows"
        )
    return InvalidInput(f"{name} cannot be read as CSV: {_first_line(message)}")


def _ragged(name: str, row: diagnose.RaggedRow, names: list[str]) -> InvalidInput:
    return InvalidInput(
        f"{name}, {row.location}: ragged row: {diagnose.describe_fields(row, names)}; "
        "every row needs as many fields as the header (check the delimiter and quoting)"
    )


def _not_utf8(name: str, path: Path, dialect: CsvDialect | None) -> InvalidInput:
    found = diagnose.invalid_utf8(path)
    how = ""
    if dialect is not None and "encoding" in dialect.inferred:
        how = f" (the encoding was inferred as {UTF8} from the first {SNIFF_BYTES} bytes)"
    if found is None:
        return InvalidInput(f"{name} holds bytes that are not valid UTF-8{how}")
    location, bad = found
    return InvalidInput(
        f"{name}, {location}: bytes {bad.hex(' ')} are not valid UTF-8{how}; "
        "give the file's encoding, e.g. encoding='cp1252'"
    )


def _refuse_short_rows(name: str, path: Path, out: Path, dialect: CsvDialect) -> None:
    """Fail if a row had fewer fields than the header (the engine pads those with nulls)."""
    import pyarrow.parquet as pq

    metadata = pq.read_metadata(out)
    if metadata.num_rows == 0 or metadata.num_columns == 0:
        return
    last, maybe = metadata.num_columns - 1, False
    for i in range(metadata.num_row_groups):
        stats = metadata.row_group(i).column(last).statistics
        if stats is None or not stats.has_null_count or stats.null_count > 0:
            maybe = True
            break
    if not maybe or not diagnose.has_short_rows(path, dialect.delimiter, dialect.quote_char):
        return
    row = diagnose.ragged_row(path, dialect.delimiter, dialect.quote_char)
    if row is not None:
        raise _ragged(name, row, list(pl.read_parquet_schema(out)))


# Parquet, JSON lines, Arrow IPC


def _parquet(
    staged: StagedInput,
    head: bytes,
    options: ReadOptions,
    workspace: Workspace,
    out: Path,
    report: SourceReport,
    max_decoded_bytes: int,
) -> SourceReport:
    decoded.check_parquet(staged.name, staged.path, max_decoded_bytes)
    sink(_cast(staged.name, pl.scan_parquet(staged.path), options), out)
    return report


def _jsonl(
    staged: StagedInput,
    head: bytes,
    options: ReadOptions,
    workspace: Workspace,
    out: Path,
    report: SourceReport,
    max_decoded_bytes: int,
) -> SourceReport:
    _refuse_binary(staged.name, head, UTF8, staged.size <= len(head), "JSON lines")
    lf = pl.scan_ndjson(
        staged.path,
        infer_schema_length=options.infer_schema_rows or None,
        schema_overrides=_overrides(options) or None,
    )
    try:
        _check_columns(staged.name, options, lf.collect_schema())
        sink(lf, out)
    except pl.exceptions.PolarsError as exc:
        message = str(exc)
        if "utf-8" in message.lower() or "utf8" in message.lower():
            raise _not_utf8(staged.name, staged.path, None) from None
        found = diagnose.bad_json_line(staged.path)
        if found is not None:
            location, why = found
            raise InvalidInput(f"{staged.name}, {location}: not a JSON object: {why}") from None
        raise InvalidInput(
            f"{staged.name} cannot be read as JSON lines: {_first_line(message)} (values of one "
            "key must share a type; set it with dtypes={...}, or raise infer_schema_rows)"
        ) from None
    return report


def _ipc(
    staged: StagedInput,
    head: bytes,
    options: ReadOptions,
    workspace: Workspace,
    out: Path,
    report: SourceReport,
    max_decoded_bytes: int,
) -> SourceReport:
    import pyarrow as pa
    import pyarrow.ipc  # type: ignore[import-untyped]  # pyarrow ships no type hints

    path, file = staged.path, is_ipc_file(head)
    if file:
        schema = pl.Schema(pl.read_ipc_schema(path))
    else:
        with pa.OSFile(str(path), "rb") as source, pyarrow.ipc.open_stream(source) as reader:
            empty = pl.from_arrow(reader.schema.empty_table())
            # A table reads as a DataFrame (a Series only from an array).
            assert isinstance(empty, pl.DataFrame)
            schema = empty.schema
    decoded.check_ipc(staged.name, path, schema, file=file, limit=max_decoded_bytes)
    if not file:
        # An IPC stream: rewrite it batch by batch as an IPC file, which Polars scans lazily.
        path = workspace.file("stream.arrow")
        with (
            pa.OSFile(str(staged.path), "rb") as source,
            pyarrow.ipc.open_stream(source) as reader,
            pyarrow.ipc.new_file(str(path), reader.schema) as writer,
        ):
            for batch in reader:
                writer.write_batch(batch)
    sink(_cast(staged.name, pl.scan_ipc(path), options), out)
    return report
