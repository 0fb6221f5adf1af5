"""Version sources: only Corridor's own stores, in exact forms; everything else refused."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.registry.source_uris import SourceKind, parse_model_uri, parse_source
from corridor.registry.validation import Stage

RUN = "0123456789abcdef0123456789abcdef"
DIGEST = "ab" * 32


@pytest.mark.parametrize(
    ("uri", "kind", "fields"),
    [
        (f"runs:/{RUN}/model", SourceKind.RUN, {"run_id": RUN, "path": "model"}),
        (f"runs:/{RUN}/model/", SourceKind.RUN, {"run_id": RUN, "path": "model"}),
        (f"runs:/{RUN}", SourceKind.RUN, {"run_id": RUN, "path": ""}),
        (f"runs:/{RUN}/a/b c/d.pkl", SourceKind.RUN, {"path": "a/b c/d.pkl"}),
        (
            f"mlflow-artifacts:/3/{RUN}/artifacts/model",
            SourceKind.RUN,
            {"run_id": RUN, "experiment_id": "3", "path": "model"},
        ),
        (
            "mlflow-artifacts:/3/models/m-abc123/artifacts",
            SourceKind.LOGGED_MODEL,
            {"model_id": "m-abc123", "experiment_id": "3", "path": ""},
        ),
        ("models:/fraud/3", SourceKind.MODEL_VERSION, {"model_name": "fraud", "version": 3}),
        ("models:/churn/fraud/12", SourceKind.MODEL_VERSION, {"model_name": "churn/fraud"}),
        ("models:/fraud/latest", SourceKind.MODEL_VERSION, {"latest": True}),
        ("models:/fraud/production", SourceKind.MODEL_VERSION, {"stage": Stage.PRODUCTION}),
        ("models:/fraud@champion", SourceKind.MODEL_ALIAS, {"alias": "champion"}),
        ("models:/churn/fraud@prod", SourceKind.MODEL_ALIAS, {"model_name": "churn/fraud"}),
        ("models:/My Model/1", SourceKind.MODEL_VERSION, {"model_name": "My Model"}),
        ("models:/m-abc123", SourceKind.LOGGED_MODEL, {"model_id": "m-abc123"}),
        (f"corridor-package:{DIGEST}", SourceKind.PACKAGE, {"digest": DIGEST}),
    ],
)
def test_our_own_forms_are_accepted(uri: str, kind: SourceKind, fields: dict[str, object]) -> None:
    source = parse_source(uri)
    assert source.kind is kind
    assert source.uri == uri
    for name, value in fields.items():
        assert getattr(source, name) == value


REFUSED = {
    # Other schemes: local files, the network, other stores.
    "file": "file:///etc/passwd",
    "file-relative": "file:etc/passwd",
    "file-upper": "FILE:///etc/passwd",
    "http": "http://169.254.169.254/latest/meta-data/",
    "https": "https://example.com/model.pkl",
    "s3": "s3://bucket/model",
    "gs": "gs://bucket/model",
    "hdfs": "hdfs://namenode/model",
    "dbfs": "dbfs:/model",
    "ftp": "ftp://host/model",
    "data": "data:text/plain,hello",
    "jar": "jar:file:///x.jar!/a",
    "uppercase-scheme": f"RUNS:/{RUN}/model",
    # Paths on the server's disk.
    "absolute": "/etc/passwd",
    "home": "~/secrets",
    "relative": "model/weights.pkl",
    "dot-relative": "../../etc/passwd",
    "windows-drive": "C:/Windows/win.ini",
    "windows-backslash": "C:\\Windows\\win.ini",
    "unc": "\\\\server\\share\\x",
    # Traversal inside our own forms.
    "dotdot": f"runs:/{RUN}/../{'f' * 32}/model",
    "dotdot-end": f"runs:/{RUN}/model/..",
    "dot": f"runs:/{RUN}/./model",
    "triple-dot": f"runs:/{RUN}/.../model",
    "dotdot-run": "runs:/../etc/passwd",
    "encoded-dotdot": f"runs:/{RUN}/%2e%2e/x",
    "encoded-dotdot-upper": f"runs:/{RUN}/%2E%2E/x",
    "encoded-slash": f"runs:/{RUN}/..%2fx",
    "double-encoded": f"runs:/{RUN}/%252e%252e/x",
    "percent-anything": f"runs:/{RUN}/100%",
    "overlong-utf8": f"runs:/{RUN}/%c0%ae%c0%ae/x",
    "fullwidth-dots": f"runs:/{RUN}/\uff0e\uff0e/x",
    "backslash-traversal": f"runs:/{RUN}\\..\\x",
    "empty-segment": f"runs:/{RUN}//model",
    "authority": f"runs://{RUN}/model",
    "artifacts-host": f"mlflow-artifacts://evil.example/3/{RUN}/artifacts",
    "artifacts-other-layout": "mlflow-artifacts:/3/../../etc/passwd",
    "artifacts-no-run": "mlflow-artifacts:/3/foo",
    "models-dotdot": "models:/../3",
    "models-no-version": "models:/fraud",
    "models-bad-ref": "models:/fraud/champion",
    "models-zero": "models:/fraud/0",
    "models-bad-alias": "models:/fraud@latest",
    "models-authority": "models://fraud/3",
    "package-short": "corridor-package:abc",
    "package-upper": f"corridor-package:{DIGEST.upper()}",
    "package-path": f"corridor-package:{DIGEST}/x",
    # Separators and control characters that mean something to shells, URLs or logs.
    "semicolon": f"runs:/{RUN}/model;rm -rf /",
    "query": f"runs:/{RUN}/model?x=1",
    "fragment": f"runs:/{RUN}/model#x",
    "nul": f"runs:/{RUN}/model\x00.pkl",
    "newline": f"runs:/{RUN}/model\n",
    "tab": f"runs:/{RUN}/\tmodel",
    "bad-run-id": "runs:/not a run/model",
    "empty": "",
    "too-long": f"runs:/{RUN}/" + "a" * 600,
}


@pytest.mark.parametrize("uri", REFUSED.values(), ids=REFUSED.keys())
def test_anything_else_is_refused_with_the_reason(uri: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_source(uri)
    message = caught.value.message
    assert message.startswith("model source ")
    assert "refused: " in message
    assert "Accepted forms" in message


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("file:///etc/passwd", "file: URIs would read the server's disk"),
        ("/etc/passwd", "path on the server's disk"),
        ("http://example.com/x", "not one of Corridor's own stores"),
        (f"runs:/{RUN}/%2e%2e/x", "percent-escapes"),
        (f"runs:/{RUN}/../x", "'..' segment"),
        (f"runs:/{RUN}/a;b", "';'"),
    ],
)
def test_the_reason_names_the_problem(uri: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_source(uri)


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not a string"):
        parse_source(42)


def test_model_uris_must_name_a_registered_version() -> None:
    assert parse_model_uri("models:/fraud@prod").alias == "prod"
    for uri in ("models:/m-abc", f"runs:/{RUN}/model", f"corridor-package:{DIGEST}"):
        with pytest.raises(InvalidInput, match="not a registered model URI"):
            parse_model_uri(uri)
