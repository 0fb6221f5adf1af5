"""Request and response types of the data slice (shared by the service, the API and the SDK)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corridor.data.sansio.clean import StepReport
from corridor.data.sansio.csv_dialect import CsvDialect
from corridor.data.sansio.drift import DriftReport
from corridor.data.sansio.formats import Compression, Format
from corridor.data.sansio.pii.scan import ScanReport
from corridor.data.sansio.profile import Profile
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.data.sansio.validation_report import ValidationReport

SourceKind = Literal["upload", "path", "s3", "sql", "version"]
Spec = dict[str, Any] | list[Any] | str
"""A declarative spec (suite, recipe, masking plan) as a mapping, a list of items, or YAML."""


class ReadOptions(BaseModel):
    """How to read an input. Whatever is left unset is inferred, and the guess is reported."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format | None = Field(None, description="csv, parquet, jsonl or ipc")
    compression: Literal["auto", "none", "gzip", "zstd", "bz2"] = "auto"
    encoding: str | None = Field(None, max_length=40, description="CSV text encoding")
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    quote_char: str | None = Field(None, min_length=1, max_length=1)
    quoting: bool = Field(True, description="False: quote characters are plain text")
    has_header: bool | None = None
    null_values: list[str] = Field(default_factory=list, max_length=100)
    dtypes: dict[str, str] = Field(
        default_factory=dict, max_length=10_000, description="column -> type, e.g. int64"
    )
    infer_schema_rows: int = Field(
        10_000, ge=0, le=10_000_000, description="rows read to infer types; 0 reads all as text"
    )
    parse_dates: bool = Field(
        False, description="read ISO dates and times in CSV as temporal (slower; off as in Polars)"
    )


class VersionMeta(BaseModel):
    """What a new version carries besides its data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = Field(None, max_length=2000, description="for a new dataset")
    sensitivity: Sensitivity | None = Field(
        None, description="default: the dataset's latest version's, else internal"
    )
    regions: list[str] | None = Field(
        None, max_length=64, description="default: the dataset's latest version's"
    )
    tags: dict[str, str] = Field(default_factory=dict, max_length=100)
    expect: Spec | None = Field(None, description="an expectation suite to validate against")
    gate: bool = Field(False, description="gate the version on ``expect``")

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not key or len(key) > 250 or len(value) > 5000:
                raise ValueError("tag keys are 1-250 characters and values at most 5000")
        return v


class SourceReport(BaseModel):
    """Where an ingested version came from and how it was read."""

    kind: SourceKind
    name: str
    format: Format
    format_from: str = Field(description="given, file name or content")
    compression: Compression | None = None
    bytes_read: int = 0
    bytes_expanded: int | None = None
    csv: CsvDialect | None = None
    query: str | None = None
    notes: list[str] = Field(default_factory=list)


class IngestRequest(BaseModel):
    """Ingest from a source the server reads itself (see `corridor.data.ingest.ingest_source`)."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(
        None, min_length=1, max_length=4000, description="a path, an s3:// URI or a database URL"
    )
    version: str | None = Field(
        None, max_length=200, description="copy this version ([project/]name@3) instead"
    )
    query: str | None = Field(None, max_length=100_000, description="SQL, for a database URL")
    options: ReadOptions = Field(default_factory=ReadOptions)
    meta: VersionMeta = Field(default_factory=VersionMeta)


class ColumnOut(BaseModel):
    name: str
    dtype: str


class ValidationSummary(BaseModel):
    passed: bool
    suite: str | None
    failures: list[str]
    created_at: dt.datetime


class DatasetVersionOut(BaseModel):
    id: str
    project: str
    dataset: str
    version: int
    ref: str = Field(description="project/name@version")
    digest: str
    size_bytes: int
    row_count: int
    columns: list[ColumnOut]
    parent: str | None = Field(None, description="reference of the version it was made from")
    recipe: dict[str, Any] | None = None
    source: SourceReport | None = None
    tags: dict[str, str]
    sensitivity: Sensitivity
    regions: list[str]
    masked: bool
    gated: bool
    gate_passed: bool
    validation: ValidationSummary | None = None
    created_by: str
    created_at: dt.datetime


class DatasetOut(BaseModel):
    project: str
    name: str
    description: str
    created_by: str
    created_at: dt.datetime
    versions: int
    latest: DatasetVersionOut | None


class DatasetDetailOut(BaseModel):
    dataset: DatasetOut
    versions: list[DatasetVersionOut]


class IngestOut(BaseModel):
    """An ingest's outcome: the version is recorded even when its suite fails (see `passed`)."""

    created: bool = Field(description="False when the dataset already had this content")
    version: DatasetVersionOut
    validation: ValidationReport | None = Field(
        None,
        description="the suite's report (PII columns' values masked); the HTTP response "
        "also says `x-corridor-validation: passed|failed`",
    )

    @property
    def passed(self) -> bool | None:
        """Whether the data passed its suite; None when no suite ran."""
        return None if self.validation is None else self.validation.passed


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: Spec | None = Field(None, description="default: the version's gate suite")
    frames: dict[str, str] = Field(
        default_factory=dict, max_length=20, description="frame name -> dataset reference"
    )
    gate: bool = Field(False, description="gate the version on this suite")
    now: dt.datetime | None = Field(
        None,
        description="for freshness in ad-hoc reports; refused with gate or against the "
        "version's gate suite, which use the server's clock",
    )


class ValidationOut(BaseModel):
    version: DatasetVersionOut
    report: ValidationReport


class CleanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipe: Spec
    frames: dict[str, str] = Field(default_factory=dict, max_length=20)
    dry_run: bool = False
    output: str | None = Field(
        None, max_length=200, description="dataset to write ([project/]name); default the same"
    )
    meta: VersionMeta = Field(default_factory=VersionMeta)


class CleanOut(BaseModel):
    dry_run: bool
    steps: list[StepReport] = Field(default_factory=list)
    created: bool = False
    version: DatasetVersionOut | None = None
    quarantine: DatasetVersionOut | None = Field(
        None, description="rows the recipe quarantined, as a version of <name>.quarantine"
    )
    quarantined_rows: int = 0
    validation: ValidationReport | None = None


class ProfileOut(BaseModel):
    version: str
    profile: Profile
    created_at: dt.datetime


class KeyedDiff(BaseModel):
    keys: list[str]
    added: int
    removed: int
    changed: int
    unchanged: int


class DiffOut(BaseModel):
    a: str
    b: str
    rows_a: int
    rows_b: int
    drift: DriftReport
    keyed: KeyedDiff | None = None


class PiiRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_rows: int = Field(1000, gt=0, le=1_000_000)
    columns: list[str] | None = Field(None, max_length=10_000)
    threshold: float = Field(0.5, ge=0, le=1)


class PiiOut(BaseModel):
    version: str
    pii_columns: dict[str, str] = Field(
        description="column -> entity: at or over the threshold, or with a decisive match (an "
        "email, a valid card number...) in any sampled value; masking requires exactly these"
    )
    report: ScanReport


class MaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Spec
    output: str | None = Field(None, max_length=200, description="default: the same dataset")
    keep: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="columns the PII scan flags that are deliberately left as they are",
    )
    meta: VersionMeta = Field(default_factory=VersionMeta)


class MaskOut(BaseModel):
    created: bool
    version: DatasetVersionOut
