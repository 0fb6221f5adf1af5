"""Load a ``sentence_transformers`` package: a sentence-transformers model folder. Client only.

The folder holds safetensors weights, JSON configs and a tokenizer. Two things in such a folder
could run code, and both are refused before the library sees the folder:

- pickle data (``pytorch_model.bin``, anything ``torch.save`` wrote, any ``.pkl``): found by
  name and by content, since loading it unpickles;
- a module type in ``modules.json`` outside ``sentence_transformers.``: the library imports
  whatever class that names, from whatever is installed; and a module path that leaves the
  folder, since the module would load its files from there.

Then the model is loaded offline on the CPU, with remote code off. ``sentence_transformers``
(and torch) are imported here only, when such a package is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest, check_package_path
from corridor.registry.pickle_data import pickle_kind

# Names that hold pickle data by convention, whatever their bytes.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"})
MODULE_TYPE_PREFIX = "sentence_transformers."


def holds_pickle(path: Path) -> bool:
    """Whether the file at ``path`` is pickle data: by its bytes (`corridor.registry.pickle_data`)
    or by a name that says so (``.bin``, ``.pt``...), since a loader may pick it by name."""
    return path.suffix.lower() in PICKLE_SUFFIXES or pickle_kind(path) is not None


def pickle_files(folder: Path) -> list[str]:
    """The files under ``folder`` that hold pickle data, as sorted relative paths."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and holds_pickle(p)
    )


def check_modules(folder: Path) -> list[dict[str, Any]]:
    """Read ``modules.json``; refuse a module type from outside sentence-transformers."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(
            "a sentence_transformers package needs modules.json (the model's module list)"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"modules.json is not valid JSON: {exc}") from None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise InvalidInput("modules.json must be a list of modules")
    for module in modules:
        kind = module.get("type")
        if not isinstance(kind, str) or not kind.startswith(MODULE_TYPE_PREFIX):
            raise InvalidInput(
                f"modules.json names module type {kind!r}; only sentence_transformers modules "
                "are loaded, since the library imports whatever class a type names"
            )
        # A module loads its files from its path: it must stay inside the package.
        path = module.get("path", "")
        if not isinstance(path, str) or (path and not _inside_package(path)):
            raise InvalidInput(
                f"modules.json gives module {module.get('name')!r} the path {path!r}; a module's "
                "path is a folder inside the package"
            )
    return modules


def _inside_package(path: str) -> bool:
    try:
        check_package_path(path.rstrip("/"))
    except InvalidInput:
        return False
    return True


class SentenceEmbedder:
    """Texts in, one float32 embedding per text out (normalised if the model says so)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        # sentence-transformers 5.2 renamed the method; older releases have only the old name.
        dimension = getattr(model, "get_embedding_dimension", None)
        if dimension is None:
            dimension = model.get_sentence_embedding_dimension
        self.dimension = int(dimension())

    def predict(self, inputs: Sequence[str] | Mapping[str, Sequence[str]]) -> npt.NDArray[Any]:
        """Embed ``inputs``: a list of strings, or ``{"text": [...]}`` as the signature names
        the column. Returns an array of shape [len(inputs), dimension]."""
        texts = inputs.get("text") if isinstance(inputs, Mapping) else inputs
        if isinstance(texts, str | bytes) or texts is None:
            raise InvalidInput('give a list of strings (or {"text": [...]}), not one string')
        texts = list(texts)
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise InvalidInput(f"every input must be a string, not {type(bad).__name__}")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        embeddings = self.model.encode(
            texts, convert_to_numpy=True, show_progress_bar=False, batch_size=32
        )
        return np.asarray(embeddings, dtype=np.float32)


def load_sentence_transformer(path: Path, manifest: Manifest) -> SentenceEmbedder:
    """Load the model folder at ``path`` after refusing pickle data and foreign module types."""
    del manifest  # the folder is the model; modules.json says how to assemble it
    found = pickle_files(path)
    if found:
        raise InvalidInput(
            f"the package holds pickle data ({', '.join(found)}), which runs code when loaded; "
            "a sentence_transformers package must carry its weights as safetensors"
        )
    check_modules(path)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(
        str(path), device="cpu", local_files_only=True, trust_remote_code=False
    )
    return SentenceEmbedder(model)
