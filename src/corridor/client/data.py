"""The data part of ``corridor.Client`` (``client.data``): ingest, get, validate, clean, delete...

Every call goes through the API, over HTTP or in-process, like the rest of `corridor.Client`.
Sources are read where it is safe and cheap: over HTTP the SDK reads a path, an S3 object or a
query's result itself and streams it up; in-process it names the source and the app, which runs
in this very process, reads it directly (no copy through the transport).

References are ``[project/]name[@version]``; ``project=`` fills in the project when the
reference names none.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypeVar, cast

import httpx
from pydantic import BaseModel

from corridor.client.connection import Connection, error_from
from corridor.data.delete_schemas import DeletedOut
from corridor.data.progress import HEADER, listening
from corridor.data.sansio.refs import DatasetRef, parse_ref
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.data.schemas import (
    CleanOut,
    DatasetDetailOut,
    DatasetOut,
    DatasetVersionOut,
    DiffOut,
    IngestOut,
    MaskOut,
    PiiOut,
    ProfileOut,
    ReadOptions,
    Spec,
    ValidationOut,
    VersionMeta,
)
from corridor.data.staging import Progress, no_progress
from corridor.errors import IntegrityError, InvalidInput, Unavailable
from corridor.names import check_name

__all__ = ["DataClient", "To"]

M = TypeVar("M", bound=BaseModel)
To = Literal["polars", "arrow", "pandas"]
CHUNK_BYTES = 1 << 20
# Conversions of large inputs take a while: wait for the answer as long as it takes.
LONG = httpx.Timeout(60.0, read=None, write=None)


def _ref(text: str, project: str | None) -> DatasetRef:
    ref = parse_ref(text)
    if project is not None and ref.project is None:
        ref = ref.in_project(project)
    if ref.project is None:
        raise InvalidInput(f"{text!r} names no project: pass project='...' or write project/{text}")
    return ref


def _base(ref: DatasetRef) -> str:
    return f"/api/v1/projects/{ref.project}/datasets/{ref.name}"


def _version_path(ref: DatasetRef) -> str:
    return f"{_base(ref)}/versions/{'latest' if ref.version is None else ref.version}"


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(CHUNK_BYTES):
        yield chunk


def _counted(chunks: Iterator[bytes], total: int | None, progress: Progress) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        progress("uploading", sent, total)
        yield chunk


class DataClient:
    """Dataset calls over a client's connection (``client.data`` is one)."""

    def __init__(self, client: Connection) -> None:
        self.client = client

    def close(self) -> None:
        """Nothing to release: the client this is bound to stays open, and its owner closes it."""

    def __enter__(self) -> DataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = self.client.request(method, path, timeout=LONG, **kwargs)
        return model.model_validate(response.json())

    # Ingest.

    def ingest(
        self,
        source: str | Path | bytes | IO[bytes] | object,
        name: str,
        *,
        project: str,
        query: str | None = None,
        options: ReadOptions | None = None,
        sensitivity: Sensitivity | str | None = None,
        regions: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        expect: Spec | None = None,
        gate: bool = False,
        progress: Progress = no_progress,
        **read: Any,
    ) -> IngestOut:
        """Ingest ``source`` as the next version of ``project``/``name``.

        ``source`` is a local path, an ``s3://`` URI, a database URL (with ``query``), bytes, a
        binary file, or a Polars, pandas or Arrow table. Read options (``format``,
        ``delimiter``, ``encoding``, ``has_header``, ``dtypes``...) may be given as keywords.
        """
        check_name("dataset", name)
        options = (options or ReadOptions()).model_copy(update=read)
        options = ReadOptions.model_validate(options.model_dump())
        meta = VersionMeta(
            description=description,
            sensitivity=Sensitivity(sensitivity) if sensitivity is not None else None,
            regions=list(regions) if regions is not None else None,
            tags=dict(tags or {}),
            expect=expect,
            gate=gate,
        )
        with tempfile.TemporaryDirectory(prefix="corridor-ingest-") as scratch:
            source = _as_source(source, Path(scratch))
            if self.client.in_process and isinstance(source, str | Path):
                return self._ingest_in_process(
                    source, name, project, query, options, meta, progress
                )
            return self._upload(
                source, name, project, query, options, meta, Path(scratch), progress
            )

    def _ingest_in_process(
        self,
        source: str | Path,
        name: str,
        project: str,
        query: str | None,
        options: ReadOptions,
        meta: VersionMeta,
        progress: Progress,
    ) -> IngestOut:
        text = str(source)
        if isinstance(source, Path) or ("://" not in text and query is None):
            text = str(Path(text).expanduser().resolve())
        body = {
            "source": text,
            "query": query,
            "options": options.model_dump(mode="json", exclude_defaults=True),
            "meta": meta.model_dump(mode="json", exclude_defaults=True),
        }
        path = f"/api/v1/projects/{project}/datasets/{name}/versions"
        with listening(progress) as token:
            return self._call(IngestOut, "POST", path, json=body, headers={HEADER: token})

    def _upload(
        self,
        source: str | Path | bytes | IO[bytes],
        name: str,
        project: str,
        query: str | None,
        options: ReadOptions,
        meta: VersionMeta,
        scratch: Path,
        progress: Progress,
    ) -> IngestOut:
        file_name = "upload"
        if query is not None:
            from corridor.data.remote_inputs import query_to_parquet
            from corridor.data.staging import Workspace

            with Workspace(scratch) as space:
                progress("querying", 0, None)
                local = query_to_parquet(str(source), query, space, progress=progress)
                options = options.model_copy(update={"format": "parquet"})
                meta_out = self._upload(
                    local, name, project, None, options, meta, scratch, progress
                )
            return meta_out
        if isinstance(source, str) and source.startswith("s3://"):
            from corridor.data.remote_inputs import open_s3

            obj = open_s3(source, self.client.settings.s3_endpoint_url)
            return self._send(
                obj.chunks(), source, obj.size, name, project, options, meta, progress
            )
        if isinstance(source, bytes):
            return self._send(
                iter([source]), file_name, len(source), name, project, options, meta, progress
            )
        if isinstance(source, str | Path):
            path = Path(source).expanduser()
            if not path.is_file():
                raise InvalidInput(f"{path}: no such file")
            with path.open("rb") as f:
                size = path.stat().st_size
                return self._send(
                    _chunks(f),
                    path.name,
                    size,
                    name,
                    project,
                    options,
                    meta,
                    progress,
                )
        return self._send(
            _chunks(source),
            getattr(source, "name", file_name),
            None,
            name,
            project,
            options,
            meta,
            progress,
        )

    def _send(
        self,
        chunks: Iterator[bytes],
        file_name: str,
        total: int | None,
        name: str,
        project: str,
        options: ReadOptions,
        meta: VersionMeta,
        progress: Progress,
    ) -> IngestOut:
        params: list[tuple[str, str]] = [("file_name", str(file_name))]
        dumped = options.model_dump(mode="json", exclude_defaults=True)
        for key, value in dumped.items():
            if key == "null_values":
                params += [("null_value", v) for v in value]
            elif key == "dtypes":
                params += [("dtype", f"{c}:{t}") for c, t in value.items()]
            else:
                params.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
        if meta.description is not None:
            params.append(("description", meta.description))
        if meta.sensitivity is not None:
            params.append(("sensitivity", meta.sensitivity.value))
        params += [("region", r) for r in meta.regions or []]
        params += [("tag", f"{k}={v}") for k, v in meta.tags.items()]
        if meta.expect is not None:
            # The server validates before it records the version: one call, all or nothing.
            text = meta.expect if isinstance(meta.expect, str) else json.dumps(meta.expect)
            params.append(("expect", text))
        if meta.gate:
            params.append(("gate", "true"))
        chunks = _counted(chunks, total, progress)
        headers = {"content-type": "application/octet-stream"}
        if total is not None:
            headers["content-length"] = str(total)
        with listening(progress) as token:
            headers[HEADER] = token
            return self._call(
                IngestOut,
                "POST",
                f"/api/v1/dataset-uploads/{project}/{name}",
                params=params,
                content=chunks,
                headers=headers,
            )

    # Reading.

    def get(
        self,
        ref: str,
        *,
        project: str | None = None,
        to: To = "polars",
        for_project: str | None = None,
    ) -> Any:
        """A version's data as a Polars DataFrame, an Arrow table or a pandas DataFrame."""
        target = _ref(ref, project)
        with tempfile.TemporaryDirectory(prefix="corridor-get-") as scratch:
            path = self.download(
                ref, Path(scratch) / "data.parquet", project=project, for_project=for_project
            )
            return _read(path, to, target)

    def download(
        self,
        ref: str,
        dest: str | Path,
        *,
        project: str | None = None,
        for_project: str | None = None,
    ) -> Path:
        """Save a version's Parquet file to ``dest``, checking its digest."""
        target = _ref(ref, project)
        params = {"for_project": for_project} if for_project else {}
        dest = Path(dest)
        sha = hashlib.sha256()
        try:
            stream = self.client.http.stream(
                "GET", _version_path(target) + "/data", params=params, timeout=LONG
            )
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach Corridor: {exc}") from exc
        with stream as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            expected = response.headers.get("x-corridor-digest")
            with dest.open("wb") as f:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    sha.update(chunk)
                    f.write(chunk)
        if expected and sha.hexdigest() != expected:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"the data of {target} arrived damaged (digest mismatch)")
        return dest

    def list(self, project: str) -> list[DatasetOut]:
        data = self.client.request("GET", f"/api/v1/projects/{project}/datasets").json()
        return [DatasetOut.model_validate(d) for d in data]

    def show(self, ref: str, *, project: str | None = None) -> DatasetVersionOut:
        return self._call(DatasetVersionOut, "GET", _version_path(_ref(ref, project)))

    def dataset(self, name: str, *, project: str | None = None) -> DatasetDetailOut:
        return self._call(DatasetDetailOut, "GET", _base(_ref(name, project)))

    # Deleting.

    def delete(self, ref: str, *, project: str | None = None, force: bool = False) -> DeletedOut:
        """Delete a version (``orders@3``) or, with no version (``orders``), the whole dataset.

        ``orders@latest`` is refused: name the number. `Conflict` names what depends on the
        version unless ``force`` (lineage then keeps the deleted version's id).
        """
        target = _ref(ref, project)
        path = _version_path(target) if "@" in ref else _base(target)
        return self._call(DeletedOut, "DELETE", path, params={"force": force})

    # Operations.

    def validate(
        self,
        ref: str,
        suite: Spec | None = None,
        *,
        project: str | None = None,
        frames: Mapping[str, str] | None = None,
        gate: bool = False,
    ) -> ValidationOut:
        body = {"suite": suite, "frames": dict(frames or {}), "gate": gate}
        return self._call(
            ValidationOut, "POST", _version_path(_ref(ref, project)) + "/validate", json=body
        )

    def validation(self, ref: str, *, project: str | None = None) -> ValidationOut:
        """The newest validation report stored with a version (PII columns' values masked)."""
        return self._call(ValidationOut, "GET", _version_path(_ref(ref, project)) + "/validation")

    def clean(
        self,
        ref: str,
        recipe: Spec,
        *,
        project: str | None = None,
        frames: Mapping[str, str] | None = None,
        dry_run: bool = False,
        output: str | None = None,
        sensitivity: Sensitivity | str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> CleanOut:
        meta: dict[str, str | dict[str, str]] = {"tags": dict(tags or {})}
        if sensitivity is not None:
            meta["sensitivity"] = str(Sensitivity(sensitivity))
        body = {
            "recipe": recipe,
            "frames": dict(frames or {}),
            "dry_run": dry_run,
            "output": output,
            "meta": meta,
        }
        return self._call(CleanOut, "POST", _version_path(_ref(ref, project)) + "/clean", json=body)

    def profile(self, ref: str, *, project: str | None = None, stored: bool = False) -> ProfileOut:
        """Profile a version (or, with ``stored``, return the newest stored profile)."""
        method = "GET" if stored else "POST"
        return self._call(ProfileOut, method, _version_path(_ref(ref, project)) + "/profile")

    def diff(
        self, a: str, b: str, *, project: str | None = None, keys: Sequence[str] = ()
    ) -> DiffOut:
        left = _ref(a, project)
        right = _ref(b, left.project)
        other = (
            str(right)
            if (right.project, right.name) != (left.project, left.name)
            else str("latest" if right.version is None else right.version)
        )
        params: list[tuple[str, str]] = [
            ("a", "latest" if left.version is None else str(left.version)),
            ("b", other),
            *(("key", k) for k in keys),
        ]
        return self._call(DiffOut, "GET", _base(left) + "/diff", params=params)

    def pii(
        self,
        ref: str,
        *,
        project: str | None = None,
        sample_rows: int = 1000,
        columns: Sequence[str] | None = None,
        threshold: float = 0.5,
        stored: bool = False,
    ) -> PiiOut:
        """Scan a version for personal data (or, with ``stored``, return the newest stored scan);
        ``pii_columns`` is the set a masking plan must cover."""
        if stored:
            return self._call(PiiOut, "GET", _version_path(_ref(ref, project)) + "/pii")
        body = {
            "sample_rows": sample_rows,
            "columns": list(columns) if columns else None,
            "threshold": threshold,
        }
        return self._call(PiiOut, "POST", _version_path(_ref(ref, project)) + "/pii", json=body)

    def mask(
        self,
        ref: str,
        plan: Spec,
        *,
        project: str | None = None,
        output: str | None = None,
        keep: Sequence[str] = (),
    ) -> MaskOut:
        body = {"plan": plan, "output": output, "keep": list(keep)}
        return self._call(MaskOut, "POST", _version_path(_ref(ref, project)) + "/mask", json=body)


def _as_source(source: object, scratch: Path) -> str | Path | bytes | IO[bytes]:
    """Frames become Parquet files; everything else is passed on as it is."""
    if isinstance(source, str | Path | bytes):
        return source
    if hasattr(source, "read"):
        return cast("IO[bytes]", source)
    frame: Any = source  # a Polars, pandas or Arrow table, none of which this module imports
    module = type(source).__module__.split(".")[0]
    path = scratch / "frame.parquet"
    if module == "polars":
        frame.write_parquet(path)
    elif module == "pyarrow":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

        pq.write_table(frame, path)
    elif module == "pandas":
        frame.to_parquet(path)
    else:
        raise InvalidInput(
            f"cannot ingest a {type(source).__name__}: give a path, URI, bytes, a binary file, "
            "or a Polars, pandas or Arrow table"
        )
    return path


def _read(path: Path, to: To, ref: DatasetRef) -> Any:
    if to == "polars":
        import polars as pl

        return pl.read_parquet(path)
    if to == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if to == "pandas":
        try:
            import pandas  # type: ignore[import-untyped]  # noqa: F401  (no type hints)
        except ImportError:
            raise InvalidInput("to='pandas' needs pandas installed (pip install pandas)") from None
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    raise InvalidInput(f"to={to!r} is not one of polars, arrow, pandas (reading {ref})")
