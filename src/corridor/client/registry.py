"""``client.registry``, the registry part of `corridor.Client`: register, alias, find, load models.

Models are named as the server names them (``"churn/fraud"``). Calls that take ``project``
default to the project that name leads to: the model's own project if you can see a model by
that name, else the name's ``<project>/`` prefix. Calls that read a version take a model
reference (`corridor.registry.model_refs`: ``mlp@production``, ``mlp@3``, ``models:/mlp/3``),
where an unqualified name no model you can see has is looked for in the project ``default``.

Downloads write the package's signature beside its files (``corridor-model.sig``), and loading
verifies it first, with the server's public signing keys or with a key you pin (``public_key=``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from corridor.client.connection import Connection, error_from
from corridor.client.default_project import DEFAULT_PROJECT, ensure_default_project
from corridor.errors import IntegrityError, InvalidInput, NotFound
from corridor.registry.folders import collect_files
from corridor.registry.loaders import LoadedModel, load
from corridor.registry.manifest import (
    MANIFEST_FILE_NAME,
    Manifest,
    ManifestFields,
    Scope,
    Signature,
    check_package_path,
    parse_manifest,
)
from corridor.registry.model_refs import ModelRef, parse_model_ref
from corridor.registry.package_signing import (
    SIGNATURE_FILE_NAME,
    VerifiedPackage,
    public_key_file_pems,
    verify_before_loading,
)
from corridor.registry.schemas import (
    BlobOut,
    LineageOut,
    ModelPage,
    ModelVersionOut,
    RegisteredModelOut,
    VersionPage,
)
from corridor.security.signing_schemas import SignedOut, SigningKeyOut

M = TypeVar("M", bound=BaseModel)
_CHUNK_BYTES = 1024 * 1024
# Where a model whose name has no project prefix lives when no model you can see has the name.
PublicKey = str | Path | bytes


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            yield chunk


class RegistryClient:
    """Registry calls over a client's connection (``client.registry`` is one)."""

    def __init__(self, client: Connection) -> None:
        self.client = client

    def _registry(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self.client.request(method, path, **kwargs).json())

    def _where(self, name: str, project: str | None) -> tuple[str, str]:
        """``(project, url of the model)`` for ``name``."""
        if project is None:
            found = self.list_models(filter=f"name = '{name.replace(chr(39), chr(39) * 2)}'")
            if found.models:
                project = found.models[0].project
            elif "/" in name:
                project = name.split("/", 1)[0]
            else:
                raise InvalidInput(
                    f"no model {name!r} that you can see: name its project (project='churn') "
                    "or use a qualified name such as 'churn/fraud'"
                )
        return project, f"/api/v1/projects/{project}/models/{quote(name, safe='/')}"

    # Models.
    def create_model(
        self,
        name: str,
        *,
        project: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModelOut:
        """Create a model; a bare name is qualified with the project ('fraud' -> 'churn/fraud')."""
        if project is None:
            if "/" not in name:
                raise InvalidInput("name the project (project='churn') or qualify the name")
            project = name.split("/", 1)[0]
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        path = f"/api/v1/projects/{project}/models"
        return self._registry(RegisteredModelOut, "POST", path, json=body)

    def get_model(self, name: str, *, project: str | None = None) -> RegisteredModelOut:
        _, url = self._where(name, project)
        return self._registry(RegisteredModelOut, "GET", url)

    def list_models(
        self,
        project: str | None = None,
        *,
        filter: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
    ) -> ModelPage:
        """Models in ``project``, or in every project you can read (``project=None``)."""
        params: dict[str, Any] = {"filter": filter, "order_by": list(order_by)}
        params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        path = f"/api/v1/projects/{project}/models" if project else "/api/v1/models"
        return self._registry(ModelPage, "GET", path, params=params)

    # Versions.
    def upload_file(self, project: str, path: Path) -> BlobOut:
        """Stream one file into the project's uploads; return its digest and size."""
        return self._registry(
            BlobOut, "POST", f"/api/v1/blobs/{project}", content=_file_chunks(path)
        )

    def register_model(
        self,
        name: str,
        path: str | Path,
        *,
        flavour: str,
        project: str | None = None,
        entry: str | None = None,
        signature: Signature | Mapping[str, Any] | None = None,
        requirements: Sequence[str] = (),
        metrics: Mapping[str, float] | None = None,
        source_run: str | None = None,
        dataset_versions: Sequence[str] = (),
        scope: Scope | str = Scope.GENERAL,
        derived_from: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersionOut:
        """Upload a file or folder as a package and register it as the model's next version.

        The model is created if it does not exist (in ``project``, or the name's prefix).
        """
        fields = ManifestFields.model_validate(
            {
                "flavour": flavour,
                "entry": entry,
                "signature": signature,
                "requirements": list(requirements),
                "metrics": dict(metrics or {}),
                "source_run": source_run,
                "dataset_versions": list(dataset_versions),
                "scope": scope,
                "derived_from": derived_from,
            }
        )
        files = collect_files(Path(path))
        try:
            project, url = self._where(name, project)
        except InvalidInput:
            # A new model with a bare name and no project goes to `default`, as MLflow's do.
            project, url = self._where(name, ensure_default_project(self.client))
        try:
            self.client.request("GET", url)
        except NotFound:
            created = self.create_model(name, project=project)
            project, url = self._where(created.name, created.project)
        uploaded = {rel: self.upload_file(project, p).model_dump() for rel, p in files}
        package = {**fields.model_dump(mode="json"), "files": uploaded}
        body = {"package": package, "description": description, "tags": dict(tags or {})}
        return self._registry(ModelVersionOut, "POST", f"{url}/versions", json=body)

    def get_model_version(
        self, name: str, version: int, *, project: str | None = None
    ) -> ModelVersionOut:
        _, url = self._where(name, project)
        return self._registry(ModelVersionOut, "GET", f"{url}/versions/{version}")

    def list_model_versions(
        self, name: str, *, project: str | None = None
    ) -> list[ModelVersionOut]:
        """Every version of the model, newest first."""
        _, url = self._where(name, project)
        versions: list[ModelVersionOut] = []
        token: str | None = None
        while True:
            params = {"max_results": 1000, **({"page_token": token} if token else {})}
            page = self._registry(VersionPage, "GET", f"{url}/versions", params=params)
            versions.extend(page.versions)
            token = page.next_page_token
            if not token:
                return versions

    def set_alias(
        self, name: str, alias: str, version: int, *, project: str | None = None
    ) -> ModelVersionOut:
        """Point ``alias`` (``production``, ``candidate``...) at a version."""
        _, url = self._where(name, project)
        body = {"version": version}
        return self._registry(ModelVersionOut, "PUT", f"{url}/aliases/{alias}", json=body)

    def delete_alias(self, name: str, alias: str, *, project: str | None = None) -> None:
        _, url = self._where(name, project)
        self.client.request("DELETE", f"{url}/aliases/{alias}")

    def _ref_project(self, ref: ModelRef, project: str | None) -> str:
        try:
            found, _ = self._where(ref.name, project)
        except InvalidInput:
            found = DEFAULT_PROJECT
        return found

    def resolve_model(self, ref: str, *, project: str | None = None) -> ModelVersionOut:
        """The version ``mlp@production``, ``mlp@3``, ``models:/name/3``... names."""
        parsed = parse_model_ref(ref)
        project = self._ref_project(parsed, project)
        path = f"/api/v1/projects/{project}/resolve"
        return self._registry(ModelVersionOut, "GET", path, params={"uri": parsed.uri})

    # Signing.
    def signing_keys(self) -> list[SigningKeyOut]:
        """The server's package signing keys, the retired ones included, oldest first."""
        data = self.client.request("GET", "/api/v1/signing-keys").json()
        return [SigningKeyOut.model_validate(item) for item in data]

    def public_keys(self) -> list[bytes]:
        """The server's public signing keys (PEM): what `load_model` trusts by default."""
        return [key.public_pem.encode("ascii") for key in self.signing_keys()]

    def rotate_signing_key(self) -> SigningKeyOut:
        """Retire the active signing key and make a new one (server admins)."""
        return self._registry(SigningKeyOut, "POST", "/api/v1/admin/signing-keys/rotate")

    def sign_missing_packages(self) -> SignedOut:
        """Sign the packages stored before signing existed (server admins)."""
        return self._registry(SignedOut, "POST", "/api/v1/admin/signing-keys/sign-missing")

    def _trusted(self, public_key: PublicKey | Sequence[PublicKey] | None) -> list[bytes]:
        if public_key is None:
            return self.public_keys()
        pinned = [public_key] if isinstance(public_key, str | Path | bytes) else public_key
        pems = [k for k in pinned if isinstance(k, bytes)]
        return pems + public_key_file_pems(k for k in pinned if not isinstance(k, bytes))

    def verify_model(
        self,
        ref: str,
        *,
        project: str | None = None,
        public_key: PublicKey | Sequence[PublicKey] | None = None,
    ) -> VerifiedPackage:
        """Download a version into a temporary folder and verify its signature.

        Return the key id and the number of signed files; raise `SignatureInvalid` saying what
        failed (no signature, unknown key, an extra, missing or changed file, an edited
        manifest). ``public_key`` (a PEM file's path or the PEM bytes) pins the key to trust
        instead of the server's.
        """
        keys = self._trusted(public_key)
        with tempfile.TemporaryDirectory(prefix="corridor-verify-") as tmp:
            path, manifest = self.download_model(ref, Path(tmp) / "package", project=project)
            return verify_before_loading(path, manifest, keys)

    def version_lineage(
        self,
        name: str,
        version: int,
        *,
        direction: str = "upstream",
        depth: int = 10,
        project: str | None = None,
    ) -> LineageOut:
        """What a version was made from (``upstream``) or what was made from it (``downstream``):
        runs, dataset versions, parent and derived versions, up to ``depth`` edges away."""
        _, url = self._where(name, project)
        params = {"direction": direction, "depth": depth}
        return self._registry(LineageOut, "GET", f"{url}/versions/{version}/lineage", params=params)

    # Packages.
    def download_model(
        self, ref: str, dest: str | Path | None = None, *, project: str | None = None
    ) -> tuple[Path, Manifest]:
        """Download a version's package into ``dest`` (new or empty; default a temp folder).

        Every file is checked against the manifest's digest and size, and the manifest against
        the version's package digest, before this returns. The package's signature is written
        beside the files as ``corridor-model.sig`` (none for a package the server has not
        signed yet: loading refuses it).
        """
        uri = ref
        version = self.resolve_model(ref, project=project)
        if version.package_digest is None:
            raise InvalidInput(f"{uri} is {version.status}: it has no package yet")
        folder = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="corridor-"))
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise InvalidInput(f"{folder} is not empty; download into a new or empty folder")
        _, url = self._where(version.name, version.project)
        base = f"{url}/versions/{version.version}"
        data = self.client.request("GET", f"{base}/manifest").content
        if hashlib.sha256(data).hexdigest() != version.package_digest:
            raise IntegrityError(f"the manifest of {uri} does not match its package digest")
        manifest = parse_manifest(data)
        for rel, entry in sorted(manifest.files.items()):
            target = folder / check_package_path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, size = hashlib.sha256(), 0
            with target.open("xb") as out:
                for chunk in self._stream_file(f"{base}/files/{quote(rel, safe='/')}"):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if digest.hexdigest() != entry.digest or size != entry.size:
                raise IntegrityError(f"{rel} of {uri} does not match its manifest entry")
        (folder / MANIFEST_FILE_NAME).write_bytes(data)
        try:
            bundle = self.client.request("GET", f"{base}/signature").content
        except NotFound:
            return folder, manifest
        (folder / SIGNATURE_FILE_NAME).write_bytes(bundle)
        return folder, manifest

    def _stream_file(self, path: str) -> Iterator[bytes]:
        with self.client.http.stream("GET", path) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            yield from response.iter_bytes(_CHUNK_BYTES)

    def load_model(
        self,
        ref: str,
        *,
        project: str | None = None,
        dest: str | Path | None = None,
        public_key: PublicKey | Sequence[PublicKey] | None = None,
    ) -> LoadedModel:
        """Download, verify and load a model: ``load_model("churn/fraud@production")``.

        The package's signature is checked before anything is loaded, with the server's
        public keys or the ``public_key`` you pin (a PEM file's path, or PEM bytes). Flavours
        Corridor loads (``corridor.linear``, ``onnx``, ``skops``...) come back with a
        predictor; others as their folder and manifest, with no predictor. A pickle-based
        flavour is loaded only if a server admin allowed pickle in the version's project (the
        server says so in the version's reply, ``pickle_allowed``); a package of another
        flavour that holds pickle data is refused.
        """
        keys = self._trusted(public_key)
        version = self.resolve_model(ref, project=project)
        # The version just resolved, not whatever an alias names by the time of the download.
        pinned = f"models:/{version.name}/{version.version}"
        path, manifest = self.download_model(pinned, dest, project=version.project)
        return load(path, manifest, pickle_allowed=version.pickle_allowed, public_keys=keys)
