"""Model references as users type them: ``mlp@production``, ``mlp@3``, ``models:/mlp/3``. No I/O.

Every client and CLI entry that takes a model takes one of these forms:

    NAME            the newest version           mlp, churn/fraud
    NAME@N          version N                    mlp@3
    NAME@ALIAS      the version ALIAS names      mlp@production
    models:/NAME/N, models:/NAME/latest, models:/NAME/STAGE, models:/NAME@ALIAS

Model names never hold ``@`` (`corridor.registry.validation`), so the last ``@`` splits a name
from its version or alias. Names and aliases are checked as the registry checks them, so a
reference that parses names nothing outside the registry's own rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from corridor.client_input import INT64_MAX
from corridor.errors import InvalidInput
from corridor.registry.source_uris import parse_model_uri
from corridor.registry.validation import MAX_SOURCE_LENGTH, check_alias, check_model_name

FORMS = "NAME, NAME@VERSION, NAME@ALIAS, models:/NAME/VERSION or models:/NAME@ALIAS"


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a model name and at most one of version, alias or stage."""

    name: str
    version: int | None = None
    alias: str | None = None
    stage: str | None = None

    @property
    def uri(self) -> str:
        """The ``models:/`` URI the server resolves."""
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}/{self.stage or 'latest'}"

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return self.uri if self.stage else self.name


def _refuse(ref: object, why: str) -> InvalidInput:
    shown = repr(ref) if len(repr(ref)) <= 120 else repr(ref)[:120] + "..."
    return InvalidInput(f"model reference {shown} is refused: {why}. Use {FORMS}")


def parse_model_ref(ref: object) -> ModelRef:
    """Parse a model reference; raise `InvalidInput` saying why one is refused."""
    if not isinstance(ref, str):
        raise _refuse(ref, "it is not a string")
    if not ref:
        raise _refuse(ref, "it is empty")
    if len(ref) > MAX_SOURCE_LENGTH:
        raise _refuse(ref, f"it is longer than {MAX_SOURCE_LENGTH} characters")
    if ref.startswith("models:"):
        source = parse_model_uri(ref)
        assert source.model_name is not None
        stage = None if source.stage is None else source.stage.value
        return ModelRef(source.model_name, source.version, source.alias, stage)
    name, at, suffix = ref.rpartition("@")
    if not at:
        name, suffix = ref, ""
    try:
        check_model_name(name)
    except InvalidInput as exc:
        raise _refuse(ref, exc.message) from None
    if not at:
        return ModelRef(name)
    if suffix.isascii() and suffix.isdigit():
        version = int(suffix)
        if not 0 < version <= INT64_MAX or suffix != str(version):
            raise _refuse(ref, f"{suffix!r} is not a version number (1, 2, 3...)")
        return ModelRef(name, version=version)
    if suffix.lower() == "latest":
        return ModelRef(name)
    try:
        return ModelRef(name, alias=check_alias(suffix))
    except InvalidInput as exc:
        raise _refuse(ref, exc.message) from None
