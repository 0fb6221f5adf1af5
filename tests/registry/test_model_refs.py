"""Model references (`corridor.registry.model_refs`): the forms users type, and hostile ones."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.registry.model_refs import ModelRef, parse_model_ref


@pytest.mark.parametrize(
    ("ref", "parsed", "uri"),
    [
        ("mlp", ModelRef("mlp"), "models:/mlp/latest"),
        ("mlp@3", ModelRef("mlp", version=3), "models:/mlp/3"),
        ("mlp@production", ModelRef("mlp", alias="production"), "models:/mlp@production"),
        ("mlp@latest", ModelRef("mlp"), "models:/mlp/latest"),
        ("churn/fraud@candidate-2", ModelRef("churn/fraud", alias="candidate-2"), None),
        ("churn/fraud@12", ModelRef("churn/fraud", version=12), "models:/churn/fraud/12"),
        ("my model.v2@prod_1", ModelRef("my model.v2", alias="prod_1"), None),
        ("models:/mlp/3", ModelRef("mlp", version=3), "models:/mlp/3"),
        ("models:/mlp@production", ModelRef("mlp", alias="production"), None),
        ("models:/churn/fraud/latest", ModelRef("churn/fraud"), "models:/churn/fraud/latest"),
        ("models:/mlp/production", ModelRef("mlp", stage="Production"), "models:/mlp/Production"),
    ],
)
def test_references_parse_to_a_name_and_a_version_or_alias(
    ref: str, parsed: ModelRef, uri: str | None
) -> None:
    assert parse_model_ref(ref) == parsed
    if uri is not None:
        assert parsed.uri == uri
    # What a reference prints as parses back to the same reference.
    assert parse_model_ref(str(parsed)) == parsed
    assert parse_model_ref(parsed.uri) == parsed


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "@",
        "@production",
        "mlp@",
        "mlp@0",
        "mlp@007",
        "mlp@1.5",
        "mlp@99999999999999999999",
        "mlp@\u0661",  # an Arabic-Indic one is a digit, not a version number
        "mlp@v3",  # MLflow refuses aliases that look like versions
        "mlp@1@2",
        "mlp@prod uction",
        "mlp@prod;rm -rf /",
        "../../etc/passwd@1",
        "churn/../fraud@1",
        "/abs@1",
        "churn//fraud",
        " mlp",
        "mlp\n@1",
        "mlp\x00@1",
        "\uff4d\uff4c\uff50@1",  # fullwidth letters
        "m" * 300,
        "a/versions/b@1",
        "models:/",
        "models:/mlp",
        "models:/../x/1",
        "models:/mlp/%2e%2e",
        "models://host/mlp/1",
        "runs:/abc/model",
        "file:///etc/passwd",
        "mlp@" + "a" * 300,
    ],
)
def test_hostile_references_are_refused(ref: str) -> None:
    with pytest.raises(InvalidInput):
        parse_model_ref(ref)


def test_a_reference_must_be_a_string() -> None:
    with pytest.raises(InvalidInput, match="not a string"):
        parse_model_ref(3)
