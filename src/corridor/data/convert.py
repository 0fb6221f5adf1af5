"""Turn a staged input (CSV, Parquet, JSON lines, Arrow IPC) into one Parquet file, streaming.

Polars reads the input lazily and its streaming engine writes Parquet as it goes
(``scan_csv(...).sink_parquet(...)``), so memory stays bounded whatever the input's size. What
the engine cannot check for free is checked after it, from statistics it wrote: a CSV row with
fewer fields than the header shows up as a null in the last column, so only when that column
has nulls does a second, native pass look for short rows. Errors name the input, and the line
and column where they can be found (see `diagnose`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corridor.data import diagnose
from corridor.data.csv_dialect import UTF8, CsvDialect, sniff
from corridor.data.dtypes import dtype_name, parse_dtype
from corridor.data.formats import Format, detect_format, is_ipc_file
from corridor.data.schemas import ReadOptions, SourceKind, SourceReport
from corridor.data.staging import StagedInput, Workspace, transcode
from corridor.errors import InvalidInput

SNIFF_BYTES = 1 << 20
_PARSE_ERROR = re.compile(
    r"could not parse `(?P<value>.*?)` as dtype `(?P<dtype>[^`]+)` at column "
    r"'(?P<column>.*?)' \(column number (?P<number>\d+)\)",
    re.S,
)
_POLARS_TYPES = {"i64": "int64", "i32": "int32", "f64": "float64", "f32": "float32"}


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
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

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
    staged: StagedInput, options: ReadOptions, workspace: Workspace, *, kind: SourceKind
) -> tuple[Converted, SourceReport]:
    """Read ``staged`` as ``options`` say (inferring the rest) and write it as Parquet."""
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
    report = readers[fmt](staged, head, options, workspace, out, report)
    return finish(out), report


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
        raise _csv_error(exc, staged, path, dialect, options) from None
    _refuse_short_rows(staged.name, path, out, dialect)
    if options.infer_schema_rows:
        notes.append(f"column types inferred from the first {options.infer_schema_rows} rows")
    else:
        notes.append("every column read as text")
    return report.model_copy(update={"csv": dialect, "notes": notes})


def _csv_error(
    exc: pl.exceptions.PolarsError,
    staged: StagedInput,
    path: Path,
    dialect: CsvDialect,
    options: ReadOptions,
) -> InvalidInput:
    message, name = str(exc), staged.name
    if isinstance(exc, pl.exceptions.NoDataError):
        return InvalidInput(f"{name} is empty: there is nothing to ingest")
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
) -> SourceReport:
    try:
        sink(_cast(staged.name, pl.scan_parquet(staged.path), options), out)
    except pl.exceptions.PolarsError as exc:
        raise InvalidInput(
            f"{staged.name} is not a readable Parquet file: {_first_line(str(exc))}"
        ) from None
    return report


def _jsonl(
    staged: StagedInput,
    head: bytes,
    options: ReadOptions,
    workspace: Workspace,
    out: Path,
    report: SourceReport,
) -> SourceReport:
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
) -> SourceReport:
    import pyarrow as pa
    import pyarrow.ipc  # type: ignore[import-untyped]

    path = staged.path
    try:
        if not is_ipc_file(head):
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
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"{staged.name} is not a readable Arrow IPC file or stream: {_first_line(str(exc))}"
        ) from None
    return report
