"""Which model version ``source`` URIs are accepted, and what they point at. No I/O.

A version's ``source`` says where its files came from. The server may later read what a source
names, so a source can only name things inside Corridor's own stores, in one of a few exact
forms::

    runs:/<run_id>[/<path>]                               a run's artifacts
    mlflow-artifacts:/<exp_id>/<run_id>/artifacts[/<path>]  the same, as MLflow 2 clients send it
    mlflow-artifacts:/<exp_id>/models/<m-id>/artifacts[/<path>]  an MLflow 3 logged model's files
    models:/<name>/<version>  models:/<name>/latest  models:/<name>/<stage>  models:/<name>@<alias>
    models:/m-<model_id>                                  an MLflow 3 logged model
    corridor-package:<digest>                             a stored model package

Everything else is refused, not repaired: other schemes (``file:``, ``http:``, ``s3:``...),
absolute and drive paths, ``..`` and ``.`` segments, any ``%`` (``%2e%2e`` decodes to ``..``
somewhere later; ``%252e`` does so twice), backslashes, ``;``, ``?``, ``#``, empty segments,
control characters and compatibility forms of them (fullwidth dots). Whether a run source names
the version's own run is checked by the service, which knows the version's ``run_id``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from corridor.errors import InvalidInput
from corridor.registry.validation import (
    MAX_SOURCE_LENGTH,
    Stage,
    canonical_stage,
    check_alias,
    check_model_name,
)

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_EXPERIMENT_ID = re.compile(r"\d{1,19}")
_LOGGED_MODEL_ID = re.compile(r"m-[A-Za-z0-9_-]{1,64}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_SEGMENT = re.compile(r"[\w .+=@,~-]+")
_FORBIDDEN = {
    "%": "a '%' (percent-escapes such as %2e%2e decode to '..' later; send the plain text)",
    "\\": "a backslash",
    ";": "';'",
    "?": "'?'",
    "#": "'#'",
}
FORMS = (
    "runs:/<run_id>/<path>",
    "models:/<name>/<version>",
    "models:/<name>@<alias>",
    "models:/m-<model_id>",
    "corridor-package:<digest>",
    "mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>",
)


class SourceKind(StrEnum):
    RUN = "run"  # a run's artifacts
    LOGGED_MODEL = "logged_model"  # an MLflow 3 logged model
    MODEL_VERSION = "model_version"  # another registered version, by number, latest or stage
    MODEL_ALIAS = "model_alias"  # another registered version, by alias
    PACKAGE = "package"  # a stored package, by digest


@dataclass(frozen=True)
class Source:
    """A parsed, accepted source. Fields that do not apply to ``kind`` are None."""

    uri: str
    kind: SourceKind
    run_id: str | None = None
    experiment_id: str | None = None
    path: str = ""
    model_name: str | None = None
    version: int | None = None
    latest: bool = False
    stage: Stage | None = None
    alias: str | None = None
    model_id: str | None = None
    digest: str | None = None


def refuse(uri: object, why: str) -> InvalidInput:
    shown = repr(uri) if len(repr(uri)) <= 120 else repr(uri)[:120] + "..."
    return InvalidInput(
        f"model source {shown} is refused: {why}. Accepted forms: {', '.join(FORMS)}"
    )


def _check_text(uri: object) -> str:
    if not isinstance(uri, str):
        raise refuse(uri, "it is not a string")
    if not uri:
        raise refuse(uri, "it is empty")
    if len(uri) > MAX_SOURCE_LENGTH:
        raise refuse(uri, f"it is longer than {MAX_SOURCE_LENGTH} characters")
    for char, what in _FORBIDDEN.items():
        if char in uri:
            raise refuse(uri, f"it contains {what}")
    bad = next((c for c in uri if c != " " and unicodedata.category(c)[0] in "CZ"), None)
    if bad is not None:
        raise refuse(uri, f"it contains the control or space character {bad!r}")
    if unicodedata.normalize("NFKC", uri) != uri:
        raise refuse(uri, "it contains compatibility characters (such as fullwidth dots)")
    return uri


def _path(uri: str, segments: list[str]) -> str:
    """Join checked path segments; a single trailing '/' is tolerated, nothing else empty."""
    if segments and segments[-1] == "":
        segments = segments[:-1]
    for segment in segments:
        if segment == "":
            raise refuse(uri, "it has an empty path segment ('//')")
        if set(segment) == {"."}:
            raise refuse(uri, f"it has a {segment!r} segment, which could leave its store")
        if not _SEGMENT.fullmatch(segment) or segment != segment.strip():
            raise refuse(uri, f"path segment {segment!r} has characters a path may not hold")
    return "/".join(segments)


def _scheme_error(uri: str) -> InvalidInput:
    if uri.startswith(("/", "~")):
        return refuse(uri, "it is a path on the server's disk, which sources may not name")
    if re.match(r"[A-Za-z]:", uri) and not re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", uri):
        return refuse(uri, "it is a drive path on the server's disk")
    scheme, colon, _ = uri.partition(":")
    if not colon:
        return refuse(uri, "it has no scheme; a relative path names nothing in Corridor")
    if scheme.lower() == "file":
        return refuse(uri, "file: URIs would read the server's disk")
    return refuse(uri, f"the scheme {scheme!r} is not one of Corridor's own stores")


def _runs(uri: str, rest: str) -> Source:
    if not rest.startswith("/") or rest.startswith("//"):
        raise refuse(uri, "runs: takes exactly one '/' before the run id (runs:/<run_id>/...)")
    run_id, _, path = rest[1:].partition("/")
    if not _RUN_ID.fullmatch(run_id):
        raise refuse(uri, f"{run_id!r} is not a run id")
    return Source(uri, SourceKind.RUN, run_id=run_id, path=_path(uri, path.split("/")))


def _mlflow_artifacts(uri: str, rest: str) -> Source:
    if not rest.startswith("/") or rest.startswith("//"):
        # mlflow-artifacts://host/... would send the server to another host.
        raise refuse(uri, "mlflow-artifacts: takes a path on this server, not a host")
    parts = rest[1:].split("/")
    if len(parts) < 3 or not _EXPERIMENT_ID.fullmatch(parts[0]):
        raise refuse(uri, "it does not name <experiment_id>/<run_id>/artifacts")
    experiment_id = parts[0]
    if parts[1] == "models" and len(parts) >= 4 and parts[3] == "artifacts":
        if not _LOGGED_MODEL_ID.fullmatch(parts[2]):
            raise refuse(uri, f"{parts[2]!r} is not a logged model id (m-...)")
        path = _path(uri, parts[4:])
        return Source(
            uri,
            SourceKind.LOGGED_MODEL,
            experiment_id=experiment_id,
            model_id=parts[2],
            path=path,
        )
    if parts[2] != "artifacts" or not _RUN_ID.fullmatch(parts[1]):
        raise refuse(uri, "it does not name <experiment_id>/<run_id>/artifacts")
    path = _path(uri, parts[3:])
    return Source(uri, SourceKind.RUN, run_id=parts[1], experiment_id=experiment_id, path=path)


def _checked(uri: str, check: Callable[[str], str], value: str) -> str:
    """``check(value)``, with its refusal reported as a refused source."""
    try:
        return check(value)
    except InvalidInput as exc:
        raise refuse(uri, exc.message) from None


def _models(uri: str, rest: str) -> Source:
    if not rest.startswith("/") or rest.startswith("//"):
        raise refuse(uri, "models: takes exactly one '/' before the name (models:/<name>/...)")
    body = rest[1:]
    if _LOGGED_MODEL_ID.fullmatch(body):
        return Source(uri, SourceKind.LOGGED_MODEL, model_id=body)
    if "@" in body:
        name, _, alias = body.rpartition("@")
        return Source(
            uri,
            SourceKind.MODEL_ALIAS,
            model_name=_checked(uri, check_model_name, name),
            alias=_checked(uri, check_alias, alias),
        )
    name, slash, ref = body.rpartition("/")
    if not slash:
        raise refuse(uri, "it names no version: add /<version>, /latest or @<alias>")
    _checked(uri, check_model_name, name)
    if ref.isascii() and ref.isdigit() and int(ref) > 0:
        return Source(uri, SourceKind.MODEL_VERSION, model_name=name, version=int(ref))
    if ref.lower() == "latest":
        return Source(uri, SourceKind.MODEL_VERSION, model_name=name, latest=True)
    try:
        stage = canonical_stage(ref)
    except InvalidInput:
        raise refuse(uri, f"{ref!r} is not a version number, 'latest' or a stage") from None
    return Source(uri, SourceKind.MODEL_VERSION, model_name=name, stage=stage)


def _package(uri: str, rest: str) -> Source:
    if not _DIGEST.fullmatch(rest):
        raise refuse(uri, "corridor-package: takes a digest of 64 lowercase hex characters")
    return Source(uri, SourceKind.PACKAGE, digest=rest)


_SCHEMES = {
    "runs": _runs,
    "mlflow-artifacts": _mlflow_artifacts,
    "models": _models,
    "corridor-package": _package,
}


def parse_source(uri: object) -> Source:
    """Parse a version source; raise `InvalidInput` naming why it is refused."""
    text = _check_text(uri)
    scheme, colon, rest = text.partition(":")
    parse = _SCHEMES.get(scheme) if colon else None
    if parse is None:
        raise _scheme_error(text)
    return parse(text, rest)


def parse_model_uri(uri: object) -> Source:
    """Parse a ``models:/`` URI naming a registered version (number, latest, stage or alias)."""
    source = parse_source(uri)
    if source.kind not in (SourceKind.MODEL_VERSION, SourceKind.MODEL_ALIAS):
        raise InvalidInput(
            f"{uri!r} is not a registered model URI: use models:/<name>/<version>, "
            "models:/<name>/latest, models:/<name>/<stage> or models:/<name>@<alias>"
        )
    return source


def package_uri(digest: str) -> str:
    """The source and storage location of a stored package."""
    return f"corridor-package:{digest}"
