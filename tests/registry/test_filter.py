import pytest

from modelward.domain.registry import (
    MODEL_FIELDS,
    VERSION_FIELDS,
    Condition,
    VersionFile,
    manifest_digest,
    parse_registry_filter,
    validate_alias,
    validate_model_name,
)
from modelward.errors import InvalidInput


def test_parses_and_combined_conditions():
    parsed = parse_registry_filter(
        "name LIKE 'churn%' AND tags.team = 'risk' and version_number > 3 AND run_id IN ('a', 'b')",
        fields=VERSION_FIELDS,
    )
    assert parsed == [
        Condition("name", "LIKE", "churn%"),
        Condition("tags", "=", "risk", tag="team"),
        Condition("version_number", ">", 3),
        Condition("run_id", "IN", ("a", "b")),
    ]


def test_quoted_tag_keys_and_escaped_quotes():
    parsed = parse_registry_filter("tags.`my key` = 'it''s'", fields=MODEL_FIELDS)
    assert parsed == [Condition("tags", "=", "it's", tag="my key")]


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("version_number > 3", "'version_number'"),  # not a model field
        ("name = 'x' OR name = 'y'", "'OR'"),
        ("name ~ 'x'", "position 5"),
        ("name = ", "end of filter"),
    ],
)
def test_errors_name_the_token(text, token):
    with pytest.raises(InvalidInput) as info:
        parse_registry_filter(text, fields=MODEL_FIELDS)
    assert token in str(info.value)


def test_version_number_needs_a_number():
    with pytest.raises(InvalidInput, match="version_number needs a number"):
        parse_registry_filter("version_number = 'abc'", fields=VERSION_FIELDS)


@pytest.mark.parametrize("name", ["a/b", "x@y", "models:x", "", " lead", "bad\nname"])
def test_invalid_model_names(name):
    with pytest.raises(InvalidInput):
        validate_model_name(name)


@pytest.mark.parametrize("alias", ["latest", "v3", "has space", "9lives", ""])
def test_invalid_aliases(alias):
    with pytest.raises(InvalidInput):
        validate_alias(alias)


def test_manifest_digest_is_order_independent_and_content_sensitive():
    a = VersionFile(path="a", digest="1" * 64, size=1)
    b = VersionFile(path="b", digest="2" * 64, size=1)
    assert manifest_digest([a, b]) == manifest_digest([b, a])
    assert manifest_digest([a, b]) != manifest_digest([a, b.model_copy(update={"digest": "3" * 64})])
