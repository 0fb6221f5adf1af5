"""Signed model packages against a live server: the stock model_signing verifier accepts what
the server signs; a changed byte, an added file or an edited manifest fails verification and
every loader refuses it; rotation keeps old versions verifiable; `corridor models verify`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import model_signing
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from corridor import Client
from corridor.config import Settings
from corridor.errors import NotFound, PermissionDenied, SignatureInvalid
from corridor.registry.loaders import load
from corridor.registry.manifest import MANIFEST_FILE_NAME, Manifest
from corridor.registry.package_signing import SIGNATURE_FILE_NAME
from corridor.runtime import Runtime
from corridor.security.signing_keys import public_pem
from corridor.security.signing_models import PackageSignature
from tests.conftest import LiveServer, module_server, run_cli
from tests.registry.conftest import make_files

LINEAR = b'{"weights": [2.0, -1.0], "bias": 0.5}'
FILES = {"model.json": LINEAR, "extra/notes.txt": b"trained on Tuesday\n"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "signing") as server:
        folder = make_files(tmp_path_factory.mktemp("pkg"), FILES)
        with Client(server.url, token=server.token) as c:
            c.create_project("default")
            c.register_model(
                "mlp", folder, flavour="corridor.linear", entry="model.json", project="default"
            )
            c.set_alias("mlp", "production", 1, project="default")
        yield server


@pytest.fixture
def client(live: LiveServer) -> Iterator[Client]:
    with Client(live.url, token=live.token) as c:
        yield c


@contextmanager
def _runtime(live: LiveServer) -> Iterator[Runtime]:
    runtime = Runtime(Settings(home=live.home, database_url=live.database_url))
    try:
        yield runtime
    finally:
        runtime.close()


def _download(client: Client, ref: str, dest: Path) -> tuple[Path, Manifest]:
    return client.download_model(ref, dest)


def test_a_registered_package_verifies_with_the_stock_verifier(
    client: Client, tmp_path: Path
) -> None:
    folder, manifest = _download(client, "mlp@production", tmp_path / "pkg")
    sig = folder / SIGNATURE_FILE_NAME
    [key] = [k for k in client.registry.signing_keys() if k.active]
    pem = tmp_path / "key.pem"
    pem.write_text(key.public_pem)
    stock = model_signing.verifying.Config()  # type: ignore[no-untyped-call]
    stock.use_elliptic_key_verifier(public_key=pem).verify(folder, sig)
    bundle = json.loads(sig.read_text())
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == key.id
    verified = client.registry.verify_model("mlp@production")
    assert (verified.key_id, verified.files) == (key.id, len(FILES) + 1)
    assert verified.manifest == manifest
    # A pinned key file verifies too; the model loads and predicts.
    loaded = client.load_model("mlp@1", dest=tmp_path / "load", public_key=pem)
    assert loaded.predict([[1.0, 1.0]]) == [1.5]


def _change_a_byte(folder: Path) -> None:
    path = folder / "extra/notes.txt"
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))


def _add_a_file(folder: Path) -> None:
    (folder / "extra/backdoor.py").write_text("import os\n")


def _edit_the_manifest(folder: Path) -> None:
    path = folder / MANIFEST_FILE_NAME
    path.write_bytes(path.read_bytes().replace(b'"scope":"general"', b'"scope":"hyperlocal"'))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_change_a_byte, "changed file(s): extra/notes.txt"),
        (_add_a_file, "extra file(s) not in the signed package: extra/backdoor.py"),
        (_edit_the_manifest, f"the manifest {MANIFEST_FILE_NAME} was edited"),
    ],
)
def test_a_tampered_package_fails_verification_and_is_not_loaded(
    client: Client, tmp_path: Path, tamper: object, reason: str
) -> None:
    folder, manifest = _download(client, "mlp@production", tmp_path / "pkg")
    keys = client.registry.public_keys()
    assert load(folder, manifest, public_keys=keys).predict([[1.0, 1.0]]) == [1.5]
    assert callable(tamper)
    tamper(folder)
    with pytest.raises(SignatureInvalid) as refused:
        load(folder, manifest, public_keys=keys)
    assert reason in refused.value.message
    # The stock verifier refuses it too.
    pem = tmp_path / "key.pem"
    pem.write_bytes(keys[0])
    stock = model_signing.verifying.Config()  # type: ignore[no-untyped-call]
    with pytest.raises(ValueError, match="Signature mismatch"):
        stock.use_elliptic_key_verifier(public_key=pem).verify(folder, folder / SIGNATURE_FILE_NAME)


def test_unsigned_folders_unknown_keys_and_missing_keys_are_refused(
    client: Client, tmp_path: Path
) -> None:
    folder, manifest = _download(client, "mlp@1", tmp_path / "pkg")
    keys = client.registry.public_keys()
    stranger = public_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(SignatureInvalid, match="not a trusted key"):
        load(folder, manifest, public_keys=[stranger])
    with pytest.raises(SignatureInvalid, match="no public keys"):
        load(folder, manifest)
    other = tmp_path / "stranger.pem"
    other.write_bytes(stranger)
    with pytest.raises(SignatureInvalid, match="not a trusted key"):
        client.load_model("mlp@1", dest=tmp_path / "again", public_key=other)
    (folder / SIGNATURE_FILE_NAME).unlink()
    with pytest.raises(SignatureInvalid, match="has no signature"):
        load(folder, manifest, public_keys=keys)


def test_a_copy_shares_its_parents_signature(client: Client, live: LiveServer) -> None:
    url = "/api/v1/projects/default/models/mlp/versions"
    copied = client.request("POST", url, json={"source": "models:/mlp/1"}).json()
    with _runtime(live) as runtime, runtime.db.read() as session:
        assert session.get(PackageSignature, copied["package_digest"]) is not None
    assert client.registry.verify_model(f"mlp@{copied['version']}").files == len(FILES) + 1


def test_packages_stored_before_signing_are_signed_on_demand(
    client: Client, live: LiveServer, tmp_path: Path
) -> None:
    folder = make_files(tmp_path / "old", {"model.json": b'{"weights": [3.0], "bias": 0.0}'})
    version = client.register_model(
        "old", folder, flavour="corridor.linear", entry="model.json", project="default"
    )
    assert version.package_digest is not None
    with _runtime(live) as runtime, runtime.db.write() as session:
        row = session.get(PackageSignature, version.package_digest)
        assert row is not None
        session.delete(row)  # as a package stored before signing existed
    with pytest.raises(NotFound, match="sign-missing"):
        client.request("GET", "/api/v1/projects/default/models/old/versions/1/signature")
    with pytest.raises(SignatureInvalid, match="has no signature"):
        client.load_model("old", dest=tmp_path / "unsigned")
    with pytest.raises(SignatureInvalid, match="has no signature"):
        client.registry.verify_model("old")
    assert client.registry.sign_missing_packages().signed == 1
    assert client.registry.sign_missing_packages().signed == 0
    assert client.load_model("old@1").predict([[1.0]]) == [3.0]


def test_rotation_keeps_old_versions_verifiable_and_is_for_server_admins(
    client: Client, live: LiveServer, tmp_path: Path
) -> None:
    before = client.registry.verify_model("mlp@1").key_id
    client.create_user("pat")
    pat = client.create_token("pat-token", user="pat")
    with Client(live.url, token=pat.token) as c, pytest.raises(PermissionDenied):
        c.registry.rotate_signing_key()
    with Client(live.url, token=pat.token) as c:
        assert [k.id for k in c.registry.signing_keys()][-1] == before  # any token lists them
    new = client.registry.rotate_signing_key()
    keys = client.registry.signing_keys()
    assert [k.id for k in keys if k.active] == [new.id]
    assert new.id != before
    assert [k.retired_at is not None for k in keys if k.id == before] == [True]
    folder = make_files(tmp_path / "v2", {"model.json": LINEAR})
    v2 = client.register_model("mlp", folder, flavour="corridor.linear", project="default")
    assert client.registry.verify_model(f"mlp@{v2.version}").key_id == new.id
    assert client.registry.verify_model("mlp@1").key_id == before  # retired, still trusted
    pinned = tmp_path / "new.pem"
    pinned.write_text(new.public_pem)
    with pytest.raises(SignatureInvalid, match="not a trusted key"):
        client.registry.verify_model("mlp@1", public_key=pinned)
    audit = [e.action for e in client.audit_events(limit=1000)]
    assert "registry.rotate_signing_key" in audit


def test_models_verify_exit_codes(live: LiveServer, tmp_path: Path) -> None:
    done = run_cli(live.home, "models", "verify", "mlp@production")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK mlp@production: signed by key ")
    assert f"{len(FILES) + 1} files verified" in done.stdout
    as_json = run_cli(live.home, "models", "verify", "models:/mlp@production", "--json")
    assert json.loads(as_json.stdout)["ok"] is True
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(public_pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    refused = run_cli(live.home, "models", "verify", "mlp@1", "--public-key", str(stranger))
    assert refused.returncode == 1
    assert "not a trusted key" in refused.stderr
    missing = run_cli(live.home, "models", "verify", "absent@production", "--project", "default")
    assert missing.returncode != 0
    bad = run_cli(live.home, "models", "verify", "mlp@../../etc")
    assert bad.returncode != 0
    assert "refused" in bad.stderr
    shown = json.loads(run_cli(live.home, "models", "show", "mlp@1", "--json").stdout)
    assert [v["version"] for v in shown["versions"]] == [1]


def test_package_files_a_verifier_would_skip_are_refused(client: Client, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "git", {"model.json": LINEAR, ".gitignore": b"*.pyc\n"})
    with pytest.raises(Exception, match="left out by model signing"):
        client.register_model("gitty", folder, flavour="corridor.linear", project="default")
    shutil.rmtree(folder)
