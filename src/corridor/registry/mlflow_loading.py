"""Loading a package that an MLflow client downloaded: what the server's generated script calls.

``mlflow.pyfunc.load_model("models:/NAME/3")`` downloads a Corridor package through MLflow's
artifact routes, which check nothing, and runs a script the server wrote
(`corridor.mlflow_compat.pyfunc_folder`). That script calls `load_checked` with the package
digest written into it, so the package is checked here as Corridor's client checks a download
(the manifest against the digest, every file against the manifest, no file added), then loaded
by Corridor's own loader, which verifies the package's signature and refuses pickle-based
flavours. The signature is checked with the keys the server sent with the folder (as Corridor's
client fetches them from the server), or only with keys the caller pinned. Client side only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corridor.errors import IntegrityError, InvalidInput
from corridor.registry.loaders import LoadedModel, load
from corridor.registry.manifest import MANIFEST_FILE_NAME, Manifest, parse_manifest
from corridor.registry.package_signing import SIGNATURE_FILE_NAME, public_key_file_pems

_CHUNK_BYTES = 1 << 20
# Written beside a package's files on download, and not listed in its manifest.
_BESIDE_FILES = frozenset({MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME})


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _files(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` but those written beside a package, by package path."""
    found: dict[str, Path] = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise IntegrityError(f"{rel} in {folder} is a link; a downloaded package has none")
        if path.is_file() and rel not in _BESIDE_FILES:
            found[rel] = path
    return found


def check_downloaded(folder: Path, package_digest: str) -> Manifest:
    """The manifest of the package in ``folder``, once every byte is what ``package_digest`` pins.

    `IntegrityError` names the first thing that differs: the manifest, a file's bytes or size,
    a missing file, or a file the manifest does not list.
    """
    data = (folder / MANIFEST_FILE_NAME).read_bytes()
    if hashlib.sha256(data).hexdigest() != package_digest:
        raise IntegrityError(f"the manifest in {folder} does not match package {package_digest}")
    manifest = parse_manifest(data)
    present = _files(folder)
    for rel in sorted(set(present) - set(manifest.files)):
        raise IntegrityError(f"{rel} in {folder} is not a file of package {package_digest}")
    for rel, entry in sorted(manifest.files.items()):
        if rel not in present:
            raise IntegrityError(f"{rel} of package {package_digest} is missing from {folder}")
        if _sha256(present[rel]) != (entry.digest, entry.size):
            raise IntegrityError(f"{rel} in {folder} does not match its manifest entry")
    return manifest


def _as_rows(model_input: Any, flavour: str) -> Any:
    """MLflow hands a pandas DataFrame to models with a column signature (or none): give each
    flavour what its loader predicts on (rows of numbers; a list of texts)."""
    if not hasattr(model_input, "to_numpy") or flavour == "skops":
        return model_input  # scikit-learn takes DataFrames, column names and all
    if flavour == "sentence_transformers":
        return _texts(model_input.to_numpy())
    return model_input.to_numpy()


def _texts(values: Any) -> list[str]:
    """The texts of the first column; MLflow turns ``{"text": [...]}`` into one row whose cell
    holds the list, so a cell that is a list gives its items."""
    texts: list[str] = []
    for cell in values[:, 0] if values.ndim == 2 else values:
        items = list(cell) if hasattr(cell, "__len__") and not isinstance(cell, str) else [cell]
        for item in items:
            if not isinstance(item, str):
                raise InvalidInput(f"a sentence_transformers model embeds texts, not {item!r}")
            texts.append(item)
    return texts


class MlflowModel:
    """A loaded package behind MLflow's ``predict``."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    def predict(self, model_input: Any) -> Any:
        return self.loaded.predict(_as_rows(model_input, self.loaded.manifest.flavour))


def _served_keys(path: Path) -> list[bytes]:
    try:
        keys = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise InvalidInput(f"{path} does not hold the server's public keys") from None
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise InvalidInput(f"{path} does not hold the server's public keys")
    return [pem.encode("ascii") for pem in keys.values()]


def load_checked(
    folder: Path,
    package_digest: str,
    *,
    served_keys: Path,
    pinned_key_files: Sequence[str] = (),
) -> MlflowModel:
    """Check the package in ``folder`` against ``package_digest`` and load it with Corridor's
    loader, which verifies its signature (with the PEM files ``pinned_key_files`` if any, else
    the keys in ``served_keys``) and refuses pickle-based flavours; `InvalidInput` if Corridor
    has no loader for the flavour."""
    manifest = check_downloaded(folder, package_digest)
    if isinstance(pinned_key_files, str):
        pinned_key_files = [pinned_key_files]
    keys = public_key_file_pems(pinned_key_files) if pinned_key_files else _served_keys(served_keys)
    loaded = load(folder, manifest, public_keys=keys)
    if loaded.predictor is None:
        raise InvalidInput(
            f"this Corridor client has no loader for flavour {manifest.flavour!r}; "
            "upgrade corridor to load it through MLflow"
        )
    return MlflowModel(loaded)
