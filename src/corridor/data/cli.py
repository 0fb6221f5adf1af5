"""`corridor data ...`: ingest, list, show, validate, clean, profile, diff, scan and delete.

Versions are written ``[project/]name@version`` (``@latest`` when omitted); ``--project`` fills
in the project. Specs (suites, recipes, masking plans) are YAML or JSON files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from corridor.console import print_json, print_rows, say

if TYPE_CHECKING:
    from corridor.client.data import DataClient
    from corridor.data.schemas import DatasetVersionOut, SourceReport
    from corridor.data.staging import Progress

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
PROJECT = typer.Option(None, "--project", "-p", help="The project (or write project/name).")
VALIDATION_FAILED = 3
"""The exit code of `ingest --expect` and `validate` when the data fails its suite: the command
itself worked (the version or report is recorded), so it is told apart from errors (1)."""
FRAMES = typer.Option(
    [], "--frame", help="A frame a recipe or suite names: NAME=[project/]dataset@version."
)
data = typer.Typer(
    help="Ingest, version, validate, clean, profile, diff and scan datasets.",
    no_args_is_help=True,
)


@contextmanager
def _client() -> Iterator[DataClient]:
    from corridor.client.client import Client

    with Client() as client:
        yield client.data


def _read_spec(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} {item!r} must look like KEY=VALUE")
        out[key] = value
    return out


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress]:
    """A rich progress bar on standard error, fed by ``progress(phase, done, total)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<11}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )
    task = bar.add_task("starting", total=None)
    units = {"reading", "uploading", "expanding", "storing"}

    def update(phase: str, done: int, total: int | None) -> None:
        if phase in units:
            bar.update(task, description=phase, completed=done, total=total)
        else:
            bar.update(task, description=phase, completed=0, total=None)

    with bar:
        yield update


def _describe_source(source: SourceReport | None) -> str:
    if source is None:
        return ""
    parts = [f"{source.format.value}"]
    if source.compression:
        parts.append(f"{source.compression.value} ({_size(source.bytes_expanded or 0)} expanded)")
    if source.csv is not None:
        csv = source.csv
        quote = repr(csv.quote_char) if csv.quote_char else "none"
        parts.append(
            f"delimiter {csv.delimiter!r}, quote {quote}, encoding {csv.encoding}, "
            f"header {'yes' if csv.has_header else 'no'}"
        )
        if csv.inferred:
            parts.append(f"inferred: {', '.join(csv.inferred)}")
    return "; ".join(parts + source.notes)


def _say_version(verb: str, v: DatasetVersionOut, created: bool = True) -> None:
    what = verb if created else "already had"
    say(
        f"{what} {v.ref}: {v.row_count:,} rows, {len(v.columns)} columns, "
        f"{_size(v.size_bytes)} Parquet, {v.sensitivity.value}"
        + (", gated" + (" (passing)" if v.gate_passed else " (not passing)") if v.gated else "")
    )


@data.command("ingest")
def ingest(
    source: str = typer.Argument(help="A file, an s3:// URI, or a database URL with --query."),
    name: str = typer.Argument(help="The dataset to add a version to."),
    project: str = typer.Option(..., "--project", "-p", help="The project."),
    query: str | None = typer.Option(None, "--query", help="SQL whose result to ingest."),
    format: str | None = typer.Option(None, "--format", help="csv, parquet, jsonl or ipc."),
    delimiter: str | None = typer.Option(None, "--delimiter", help="CSV field delimiter."),
    encoding: str | None = typer.Option(None, "--encoding", help="CSV text encoding."),
    header: bool | None = typer.Option(None, "--header/--no-header", help="CSV header row."),
    dtype: list[str] = typer.Option([], "--dtype", help="COLUMN=TYPE (e.g. zip=string)."),
    null_value: list[str] = typer.Option([], "--null-value", help="Text that means null."),
    infer_rows: int = typer.Option(10_000, "--infer-rows", help="Rows read to infer types."),
    parse_dates: bool = typer.Option(False, "--parse-dates", help="Read ISO dates as dates."),
    sensitivity: str | None = typer.Option(
        None, "--sensitivity", help="public, internal, confidential or restricted."
    ),
    region: list[str] = typer.Option([], "--region", help="A region the data may live in."),
    tag: list[str] = typer.Option([], "--tag", help="KEY=VALUE"),
    description: str | None = typer.Option(None, "--description"),
    expect: Path | None = typer.Option(None, "--expect", help="Validate against this suite."),
    gate: bool = typer.Option(False, "--gate", help="Gate the version on --expect."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = JSON,
) -> None:
    """Ingest a file, S3 object or query result as the next version of a dataset.

    With --expect, exit 3 if the data fails the suite (the version is still recorded, and with
    --gate its gate is closed).
    """
    read: dict[str, Any] = {"infer_schema_rows": infer_rows, "parse_dates": parse_dates}
    for key, value in (
        ("format", format),
        ("delimiter", delimiter),
        ("encoding", encoding),
        ("has_header", header),
    ):
        if value is not None:
            read[key] = value
    if dtype:
        read["dtypes"] = _pairs(dtype, "--dtype")
    if null_value:
        read["null_values"] = null_value
    with _client() as client, _progress_bar(not quiet and not as_json) as progress:
        out = client.ingest(
            source,
            name,
            project=project,
            query=query,
            sensitivity=sensitivity,
            regions=region or None,
            tags=_pairs(tag, "--tag"),
            description=description,
            expect=_read_spec(expect) if expect else None,
            gate=gate,
            progress=progress,
            **read,
        )
    if as_json:
        print_json(out)
    else:
        _say_version("ingested", out.version, out.created)
        described = _describe_source(out.version.source)
        if described and out.created:
            say(f"  read as {described}")
        if out.validation is not None:
            _say_validation(out.validation)
    # The version is recorded either way; a script must still see that its data failed.
    if out.validation is not None and not out.validation.passed:
        raise typer.Exit(VALIDATION_FAILED)


@data.command("ls")
def ls(project: str = typer.Option(..., "--project", "-p"), as_json: bool = JSON) -> None:
    """List the datasets of a project with their latest versions."""
    with _client() as client:
        found = client.list(project)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            d.name,
            d.versions,
            d.latest.version if d.latest else None,
            f"{d.latest.row_count:,}" if d.latest else None,
            d.latest.sensitivity.value if d.latest else None,
            ("yes" if d.latest.gate_passed else "failing") if d.latest and d.latest.gated else "",
        )
        for d in found
    ]
    print_rows(project, ["dataset", "versions", "latest", "rows", "sensitivity", "gated"], rows)


@data.command("show")
def show(ref: str, project: str | None = PROJECT, as_json: bool = JSON) -> None:
    """Show a version (name@3), or a dataset and its versions (name)."""
    with _client() as client:
        if "@" in ref:
            version = client.show(ref, project=project)
            if as_json:
                print_json(version)
                return
            _show_version(version)
            return
        detail = client.dataset(ref, project=project)
    if as_json:
        print_json(detail)
        return
    rows = [
        (
            v.version,
            f"{v.row_count:,}",
            len(v.columns),
            v.parent or "",
            v.sensitivity.value,
            v.created_by,
            v.created_at.strftime("%Y-%m-%d %H:%M"),
        )
        for v in detail.versions
    ]
    title = f"{detail.dataset.project}/{detail.dataset.name}"
    print_rows(
        title, ["version", "rows", "columns", "parent", "sensitivity", "by", "created"], rows
    )


def _show_version(v: DatasetVersionOut) -> None:
    _say_version("version", v)
    if v.parent:
        kind = (v.recipe or {}).get("kind", "")
        say(f"  made from {v.parent}" + (f" ({kind})" if kind else ""))
    if v.source is not None:
        say(f"  source: {v.source.name} ({_describe_source(v.source)})")
    if v.regions:
        say(f"  regions: {', '.join(v.regions)}")
    if v.tags:
        say("  tags: " + ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items())))
    if v.validation is not None:
        state = "passed" if v.validation.passed else "FAILED " + ", ".join(v.validation.failures)
        say(f"  validation: {state}")
    say(f"  digest: {v.digest}")
    print_rows("", ["column", "type"], [(c.name, c.dtype) for c in v.columns])


def _say_validation(report: Any) -> None:
    rows = [(r.name, "pass" if r.passed else "FAIL", r.message) for r in report.results]
    print_rows(
        f"validation: {'passed' if report.passed else 'FAILED'}", ["check", "", "result"], rows
    )


@data.command("validate")
def validate(
    ref: str,
    suite: Path | None = typer.Argument(None, help="Expectation suite (default: the gate's)."),
    project: str | None = PROJECT,
    frame: list[str] = FRAMES,
    gate: bool = typer.Option(False, "--gate", help="Gate the version on this suite."),
    as_json: bool = JSON,
) -> None:
    """Validate a version and store the report; exit 3 if the data fails the suite."""
    with _client() as client:
        out = client.validate(
            ref,
            _read_spec(suite) if suite else None,
            project=project,
            frames=_pairs(frame, "--frame"),
            gate=gate,
        )
    if as_json:
        print_json(out)
    else:
        _say_validation(out.report)
    if not out.report.passed:
        raise typer.Exit(VALIDATION_FAILED)


@data.command("clean")
def clean(
    ref: str,
    recipe: Path = typer.Argument(help="The cleaning recipe (YAML or JSON)."),
    project: str | None = PROJECT,
    frame: list[str] = FRAMES,
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what each step would do."),
    output: str | None = typer.Option(None, "--output", "-o", help="Dataset to write."),
    as_json: bool = JSON,
) -> None:
    """Clean a version into a new one; quarantined rows go to <name>.quarantine."""
    with _client() as client:
        out = client.clean(
            ref,
            _read_spec(recipe),
            project=project,
            frames=_pairs(frame, "--frame"),
            dry_run=dry_run,
            output=output,
        )
    if as_json:
        print_json(out)
        return
    if out.dry_run:
        rows = [
            (
                s.label,
                f"{s.rows_in:,}",
                f"{s.rows_out:,}",
                f"{s.cells_changed:,}",
                f"{s.rows_quarantined:,}",
                ", ".join(s.columns_added),
                ", ".join(s.columns_removed),
            )
            for s in out.steps
        ]
        cols = ["step", "rows in", "rows out", "cells changed", "quarantined", "added", "removed"]
        print_rows("dry run (nothing written)", cols, rows)
        return
    assert out.version is not None
    _say_version("wrote", out.version, out.created)
    if out.quarantine is not None:
        say(f"quarantined {out.quarantined_rows:,} rows into {out.quarantine.ref}")


@data.command("profile")
def profile(
    ref: str,
    project: str | None = PROJECT,
    stored: bool = typer.Option(False, "--stored", help="Show the stored profile; compute none."),
    as_json: bool = JSON,
) -> None:
    """Profile a version (and store the profile with it)."""
    with _client() as client:
        out = client.profile(ref, project=project, stored=stored)
    if as_json:
        print_json(out)
        return

    def num(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else "" if value is None else str(value)

    rows = [
        (
            c.name,
            c.dtype,
            f"{c.missing_fraction:.1%}",
            c.distinct,
            num(c.min),
            num(c.max),
            num(c.mean),
            ", ".join(str(t.value) for t in c.top_values[:3]),
        )
        for c in out.profile.columns
    ]
    cols = ["column", "type", "missing", "distinct", "min", "max", "mean", "top"]
    print_rows(f"{out.version}: {out.profile.row_count:,} rows", cols, rows)


@data.command("diff")
def diff(
    a: str,
    b: str,
    project: str | None = PROJECT,
    key: list[str] = typer.Option([], "--key", help="Key column(s) for a row diff."),
    as_json: bool = JSON,
) -> None:
    """Compare two versions: schema, distribution drift and (with --key) rows."""
    with _client() as client:
        out = client.diff(a, b, project=project, keys=key)
    if as_json:
        print_json(out)
        return
    say(f"{out.a} ({out.rows_a:,} rows) -> {out.b} ({out.rows_b:,} rows)")
    for change in out.drift.schema_changes:
        say(
            f"  {change.change}: {change.column} {change.reference_dtype or ''} -> "
            f"{change.current_dtype or ''}"
        )
    if out.keyed is not None:
        k = out.keyed
        say(
            f"  rows by {', '.join(k.keys)}: {k.added:,} added, {k.removed:,} removed, "
            f"{k.changed:,} changed, {k.unchanged:,} unchanged"
        )
    rows = [
        (
            c.column,
            c.kind,
            f"{c.psi:.4f}",
            "" if c.ks is None else f"{c.ks:.4f}",
            "DRIFT" if c.drifted else "",
        )
        for c in out.drift.columns
    ]
    approx = " (from profiles)" if out.drift.approximate else ""
    print_rows(f"drift{approx}", ["column", "kind", "psi", "ks", ""], rows)


@data.command("pii")
def pii(
    ref: str,
    project: str | None = PROJECT,
    sample_rows: int = typer.Option(1000, "--sample-rows", help="Rows scanned."),
    mask: Path | None = typer.Option(None, "--mask", help="Write a masked version (plan file)."),
    output: str | None = typer.Option(None, "--output", "-o", help="Dataset for --mask."),
    keep: list[str] = typer.Option([], "--keep", help="A flagged column to leave unmasked."),
    as_json: bool = JSON,
) -> None:
    """Scan a version for personal data; with --mask, write a masked version."""
    with _client() as client:
        if mask is not None:
            masked = client.mask(ref, _read_spec(mask), project=project, output=output, keep=keep)
            if as_json:
                print_json(masked)
            else:
                _say_version("masked into", masked.version, masked.created)
            return
        out = client.pii(ref, project=project, sample_rows=sample_rows)
    if as_json:
        print_json(out)
        return
    rows = []
    for column in out.report.columns:
        best = column.best
        if best is not None:
            flagged = "PII" if column.column in out.pii_columns else ""
            rows.append((column.column, best.entity, f"{best.score:.2f}", flagged))
    print_rows(
        f"{out.version}: {out.report.rows_sampled:,} rows sampled",
        ["column", "entity", "score", ""],
        rows,
    )


@data.command("rm")
def rm(
    ref: str = typer.Argument(help="NAME deletes the dataset, NAME@VERSION one version."),
    project: str | None = PROJECT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(
        False, "--force", help="Delete even what others depend on (lineage keeps its id)."
    ),
    as_json: bool = JSON,
) -> None:
    """Delete a dataset version, or a whole dataset; version numbers are never reused.

    Refused if anything depends on it unless --force. The data's storage is reclaimed later by
    `corridor admin gc-blobs`, once nothing else holds the same content.
    """
    from corridor.data.sansio.refs import parse_ref

    parsed = parse_ref(ref)  # a bad reference fails before anyone is asked anything
    name = str(parsed.in_project(project)) if project else str(parsed)
    what = f"version {name}" if "@" in ref else f"dataset {name.partition('@')[0]}, every version"
    if not yes and not typer.confirm(f"Delete {what}?"):
        say("nothing deleted")
        raise typer.Exit(1)
    with _client() as client:
        out = client.delete(ref, project=project, force=force)
    if as_json:
        print_json(out)
        return
    plural = "s" if len(out.versions) > 1 else ""
    numbers = ", ".join(str(v) for v in out.versions)
    say(f"deleted {out.project}/{out.dataset} version{plural} {numbers}")
    if out.dataset_deleted:
        say(f"{out.project}/{out.dataset} has no versions left; new ones continue the numbering")
    if out.dependants:
        say(f"forced past what depended on it: {', '.join(out.dependants)}")


@data.command("get")
def get(
    ref: str,
    dest: Path = typer.Argument(help="Where to save the Parquet file."),
    project: str | None = PROJECT,
    for_project: str | None = typer.Option(None, "--for-project", help="Read on behalf of."),
) -> None:
    """Download a version's data as a Parquet file."""
    with _client() as client:
        path = client.download(ref, dest, project=project, for_project=for_project)
    say(f"saved {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(data, name="data")
