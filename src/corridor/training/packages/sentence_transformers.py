"""Register a sentence-transformers model folder as a ``sentence_transformers`` package.

A folder as published holds more than the model: ``.gitattributes``, a model card, training
notes. The package takes what loading needs and nothing else: ``modules.json``, the
library's own configs, the transformer's config, safetensors weights and tokenizer files at the
transformer's path, and every file of the other modules' folders (pooling, dense, ...). Pickle
weights are never taken; a module whose only weights are pickle is refused, since the package
could not load without them. The model card's ``license`` becomes a version tag, so what the
package leaves out is not lost.

The signature is the embedder's: a string column ``text`` in, a float32 tensor ``embedding``
of shape [-1, dimension] out, the dimension read from the module configs (nothing is loaded).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corridor.errors import InvalidInput
from corridor.registry.manifest import (
    ColumnSchema,
    ColumnSpec,
    Scope,
    Signature,
    TensorSchema,
    TensorSpec,
)
from corridor.registry.sentence_transformers_loader import check_modules, holds_pickle

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.registry.schemas import ModelVersionOut

FLAVOUR = "sentence_transformers"
WEIGHTS = "model.safetensors"
# What a transformer module keeps beside its weights: configs and every tokenizer format.
TRANSFORMER_FILES = frozenset(
    {
        "config.json",
        "sentence_bert_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
        WEIGHTS,
    }
)
ROOT_FILES = frozenset({"modules.json", "config_sentence_transformers.json"})
REQUIREMENTS = ("sentence-transformers", "transformers", "torch")


@dataclass(frozen=True)
class EmbedderPackage:
    """What of a sentence-transformers folder goes into its package, and what it says."""

    files: tuple[str, ...]
    entry: str
    dimension: int
    license: str | None

    @property
    def signature(self) -> Signature:
        return Signature(
            inputs=ColumnSchema(columns=(ColumnSpec(type="string", name="text"),)),
            outputs=TensorSchema(
                tensors=(TensorSpec(dtype="float32", shape=(-1, self.dimension), name="embedding"),)
            ),
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path.name} cannot be read as JSON: {exc}") from None


def _module_files(folder: Path, module_path: str, transformer: bool) -> list[str]:
    base = folder / module_path if module_path else folder
    if not base.is_dir():
        return []  # a module with nothing to store (Normalize) has no folder
    if transformer:
        found = [p for p in base.iterdir() if p.is_file() and p.name in TRANSFORMER_FILES]
        if not (base / WEIGHTS).is_file():
            raise InvalidInput(
                f"the transformer at {module_path or 'the top of the folder'} has no {WEIGHTS}; "
                "save the model with safetensors (pickle weights are not packaged)"
            )
    else:
        found = [p for p in base.rglob("*") if p.is_file()]
        pickled = [p for p in found if holds_pickle(p)]
        if pickled and not any(p.suffix == ".safetensors" for p in found):
            names = ", ".join(p.relative_to(folder).as_posix() for p in pickled)
            raise InvalidInput(
                f"module {module_path} keeps its weights only as pickle ({names}); save the "
                "model again with safetensors"
            )
        found = [p for p in found if p not in pickled]
    return [p.relative_to(folder).as_posix() for p in found]


def _dimension(folder: Path, modules: Sequence[Mapping[str, Any]]) -> int | None:
    dimension: int | None = None
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        config_path = folder / str(module.get("path", "")) / "config.json"
        if kind not in ("Pooling", "Dense") or not config_path.is_file():
            continue
        config = _read_json(config_path)
        if kind == "Pooling":
            modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
            dimension = int(config["word_embedding_dimension"]) * max(len(modes), 1)
        else:
            dimension = int(config["out_features"])
    return dimension


def _card_license(folder: Path) -> str | None:
    # The model card's YAML front matter: "---\nlicense: apache-2.0\n...---".
    card = folder / "README.md"
    if not card.is_file():
        return None
    lines = card.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            return value.strip().strip("'\"")
    return None


def plan_package(folder: Path, *, dimension: int | None = None) -> EmbedderPackage:
    """Choose the files of the model folder at ``folder`` and read its embedding dimension."""
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder holding a sentence-transformers model")
    modules = check_modules(folder)
    files = {name for name in ROOT_FILES if (folder / name).is_file()}
    entry: str | None = None
    for module in modules:
        path = str(module.get("path", "")).strip("/")
        transformer = str(module["type"]).endswith(".Transformer")
        files.update(_module_files(folder, path, transformer))
        if transformer and entry is None:
            entry = f"{path}/{WEIGHTS}" if path else WEIGHTS
    if entry is None:
        raise InvalidInput("modules.json names no Transformer module: nothing to embed with")
    found = dimension or _dimension(folder, modules)
    if found is None:
        raise InvalidInput("the embedding dimension is not in the module configs; pass dimension=")
    return EmbedderPackage(tuple(sorted(files)), entry, found, _card_license(folder))


def requirements() -> tuple[str, ...]:
    """The libraries the package loads with, at the versions installed here."""
    pinned = []
    for name in REQUIREMENTS:
        try:
            version = metadata.version(name).split("+", 1)[0]  # no local label (2.13.0+cpu)
        except metadata.PackageNotFoundError:
            pinned.append(name)
        else:
            pinned.append(f"{name}=={version}")
    return tuple(pinned)


@contextmanager
def staged(folder: Path, files: Sequence[str]) -> Iterator[Path]:
    """A temporary folder holding only ``files`` of ``folder`` (hard links, else copies)."""
    with tempfile.TemporaryDirectory(prefix="corridor-package-") as scratch:
        for rel in files:
            target = Path(scratch, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(folder / rel, target)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(folder / rel, target)
        yield Path(scratch)


def register_sentence_transformer(
    client: Client,
    name: str,
    folder: str | Path,
    *,
    project: str | None = None,
    scope: Scope | str = Scope.GENERAL,
    derived_from: str | None = None,
    dataset_versions: Sequence[str] = (),
    metrics: Mapping[str, float] | None = None,
    dimension: int | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersionOut:
    """Register the sentence-transformers model in ``folder`` as the next version of ``name``.

    Only the files the model loads from are uploaded (see the module docstring); the version
    is tagged with the model card's license when it names one.
    """
    source = Path(folder)
    plan = plan_package(source, dimension=dimension)
    all_tags = {"license": plan.license} if plan.license else {}
    all_tags.update(tags or {})
    with staged(source, plan.files) as package:
        return client.registry.register_model(
            name,
            package,
            flavour=FLAVOUR,
            project=project,
            entry=plan.entry,
            signature=plan.signature,
            requirements=requirements(),
            metrics=metrics,
            dataset_versions=dataset_versions,
            scope=scope,
            derived_from=derived_from,
            description=description,
            tags=all_tags,
        )
