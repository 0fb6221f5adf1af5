"""The model package manifest: what a version's files are and how to use them. No I/O.

A package is a set of files plus this manifest. Each file is stored in the blob store by its
SHA-256; the manifest lists them by relative path, and its canonical JSON (sorted keys, no
spaces, UTF-8) is stored too. The SHA-256 of that JSON is the package digest, so a digest pins
every byte of every file and every field here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corridor.errors import InvalidInput

MANIFEST_FORMAT: Literal[1] = 1
# Written beside the files when a package is downloaded, so no file may take this name.
MANIFEST_FILE_NAME = "corridor-manifest.json"
MAX_FILES = 10_000
MAX_PATH_LENGTH = 1024
MAX_PATH_DEPTH = 32
_PATH_SEGMENT = re.compile(r"[\w .+=@,~()\[\]-]+")
_FLAVOUR = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class Scope(StrEnum):
    """How widely a model is meant to apply: any site, one kind of site, or one place."""

    GENERAL = "general"
    SPECIFIC = "specific"
    HYPERLOCAL = "hyperlocal"


def check_package_path(path: str) -> str:
    """Return ``path`` if it may name a file inside a package; raise `InvalidInput` if not.

    Relative, ``/``-separated, no ``.``/``..`` segments, no empty segments, no backslashes,
    drive letters, percent signs or control characters: a path names one file in the package
    and can never be joined into something outside the folder it is written to.
    """
    if not isinstance(path, str) or not path:
        raise InvalidInput("package file path must not be empty")
    shown = path if len(path) <= 200 else path[:200] + "..."
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidInput(f"package file path {shown!r} is longer than {MAX_PATH_LENGTH}")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        raise InvalidInput(f"package file path {shown!r} is absolute; use a relative path")
    if unicodedata.normalize("NFKC", path) != path:
        raise InvalidInput(f"package file path {shown!r} holds compatibility characters")
    segments = path.split("/")
    if len(segments) > MAX_PATH_DEPTH:
        raise InvalidInput(f"package file path {shown!r} is deeper than {MAX_PATH_DEPTH}")
    for segment in segments:
        if segment == "":
            raise InvalidInput(f"package file path {shown!r} has an empty segment")
        if set(segment) == {"."}:
            raise InvalidInput(f"package file path {shown!r} has a {segment!r} segment")
        if not _PATH_SEGMENT.fullmatch(segment) or segment != segment.strip():
            raise InvalidInput(
                f"package file path {shown!r} has characters a path may not hold "
                "(use letters, digits, spaces inside names, and . _ - + = @ , ~ ( ) [ ])"
            )
    if path == MANIFEST_FILE_NAME:
        raise InvalidInput(f"{MANIFEST_FILE_NAME!r} is reserved for the package manifest")
    return path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    digest: str
    size: int = Field(ge=0)

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str) -> str:
        if not _DIGEST.fullmatch(v):
            raise ValueError("a digest is 64 lowercase hex characters")
        return v


ColumnType = Literal[
    "boolean", "integer", "long", "float", "double", "string", "binary", "datetime"
]


class ColumnSpec(_Strict):
    """One column of tabular input or output (MLflow's ``ColSpec``)."""

    type: ColumnType
    name: str | None = Field(default=None, max_length=256)
    required: bool = True


class TensorSpec(_Strict):
    """One tensor (MLflow's ``TensorSpec``): numpy dtype name and shape, -1 for any size."""

    dtype: str = Field(pattern=r"^[a-z][a-z0-9]{0,15}$")
    shape: tuple[int, ...] = Field(max_length=32)
    name: str | None = Field(default=None, max_length=256)

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < -1 for d in v):
            raise ValueError("dimensions are sizes, or -1 for any size")
        return v


class ColumnSchema(_Strict):
    kind: Literal["columns"] = "columns"
    columns: tuple[ColumnSpec, ...] = Field(min_length=1, max_length=10_000)


class TensorSchema(_Strict):
    kind: Literal["tensors"] = "tensors"
    tensors: tuple[TensorSpec, ...] = Field(min_length=1, max_length=1_000)


Schema = Annotated[ColumnSchema | TensorSchema, Field(discriminator="kind")]


class Signature(_Strict):
    inputs: Schema
    outputs: Schema | None = None


class ManifestFields(_Strict):
    """What a caller says about a package; the files and the time are added when it is stored."""

    flavour: str
    entry: str | None = Field(
        default=None, description="The file a loader opens first (e.g. model.onnx)."
    )
    signature: Signature | None = None
    requirements: tuple[str, ...] = Field(default=(), max_length=1000)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=1000)
    source_run: str | None = Field(default=None, max_length=64)
    dataset_versions: tuple[str, ...] = Field(default=(), max_length=1000)
    scope: Scope = Scope.GENERAL
    derived_from: str | None = Field(
        default=None, max_length=500, description="models:/<name>/<version> of the parent."
    )

    @field_validator("flavour")
    @classmethod
    def _flavour(cls, v: str) -> str:
        if not _FLAVOUR.fullmatch(v):
            raise ValueError("a flavour is lowercase letters, digits, '_', '.' or '-'")
        return v

    @field_validator("requirements", "dataset_versions")
    @classmethod
    def _short_strings(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            if not item or len(item) > 500 or any(unicodedata.category(c)[0] == "C" for c in item):
                raise ValueError(f"{item!r} must be 1-500 printable characters")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: dict[str, float]) -> dict[str, float]:
        for key, value in v.items():
            if not key or len(key) > 250:
                raise ValueError("metric names are 1-250 characters")
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"metric {key!r} must be a finite number")
        return v


class Manifest(ManifestFields):
    """A package's complete description; its canonical JSON's SHA-256 is the package digest."""

    format: Literal[1] = MANIFEST_FORMAT
    files: dict[str, FileEntry] = Field(max_length=MAX_FILES)
    created_at: dt.datetime

    @field_validator("files")
    @classmethod
    def _paths(cls, v: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for path in v:
            check_package_path(path)
        return v

    @field_validator("created_at")
    @classmethod
    def _utc(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("created_at must carry a time zone")
        # Millisecond precision, so that the JSON form round-trips exactly.
        v = v.astimezone(dt.UTC)
        return v.replace(microsecond=v.microsecond // 1000 * 1000)

    @model_validator(mode="after")
    def _entry_is_a_file(self) -> Manifest:
        if self.entry is not None and self.entry not in self.files:
            raise ValueError(f"entry {self.entry!r} is not one of the package's files")
        return self

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files.values())


def build_manifest(
    fields: ManifestFields, files: dict[str, FileEntry], created_at: dt.datetime
) -> Manifest:
    """Combine what the caller said with the stored files; `InvalidInput` if they disagree."""
    try:
        return Manifest(**fields.model_dump(), files=files, created_at=created_at)
    except ValidationError as exc:
        raise InvalidInput(f"invalid package manifest: {_first_error(exc)}") from None


def canonical_json(manifest: Manifest) -> bytes:
    """The one byte form of ``manifest`` whose SHA-256 is the package digest."""
    data = manifest.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def package_digest(manifest: Manifest) -> str:
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


def parse_manifest(data: bytes) -> Manifest:
    """Read a stored manifest; `InvalidInput` unless ``data`` is one, in canonical form."""
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise InvalidInput(f"not a package manifest: {_first_error(exc)}") from None
    if canonical_json(manifest) != data:
        raise InvalidInput("package manifest is not in canonical form")
    return manifest


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return f"{loc}: {err.get('msg')}" if loc else str(err.get("msg"))
