"""The declaration: a strict document whose errors name the bad key."""

from __future__ import annotations

import pytest

from modelward.domain.expectations import parse_expectations
from modelward.errors import InvalidInput
from tests.data.frames import declaration


def test_a_full_declaration_round_trips_without_defaults() -> None:
    declared = declaration({"dataset": "abc"})
    parsed = parse_expectations(declared)
    assert parsed.columns["age"].max == 120 and parsed.columns["id"].unique is True
    assert parsed.distribution["income"].reference.dataset == "abc"
    assert parsed.document() == declared


def test_yaml_and_json_text_are_read() -> None:
    from_yaml = parse_expectations("columns:\n  age: {min: 0, max: 120}\nrows: {min: 5}\n")
    from_json = parse_expectations('{"columns": {"age": {"min": 0, "max": 120}}, "rows": {"min": 5}}')
    assert from_yaml == from_json and from_yaml.rows.min == 5


@pytest.mark.parametrize(("document", "named"), [
    ({"columns": {"age": {"mni": 0}}}, "columns.age.mni: unknown key"),
    ({"columns": {"age": {"min": 5, "max": 1}}}, "columns.age: min 5 is greater than max 1"),
    ({"columns": {"age": {"missing_max": 1.5}}}, "columns.age.missing_max"),
    ({"columns": {"age": {"type": "integer"}}}, "columns.age.type"),
    ({"columns": {"age": {"min": "0"}}}, "columns.age.min"),
    ({"columns": {"e": {"pattern": "("}}}, "columns.e: pattern is not a regular expression"),
    ({"rows": {"min": -1}}, "rows.min"),
    ({"row": {"min": 1}}, "row: unknown key"),
    ({"distribution": {"x": {"reference": {"dataset": "d"}}}}, "distribution.x: give 'max_psi', 'max_ks' or both"),
    ({"distribution": {"x": {"reference": {"run_id": "r"}, "max_ks": 0.1}}}, "distribution.x.reference: 'run_id' and 'path' go together"),
    ({}, "at least one of 'columns', 'rows' or 'distribution'"),
])
def test_a_bad_declaration_names_the_key(document: dict, named: str) -> None:
    with pytest.raises(InvalidInput, match="invalid expectations") as raised:
        parse_expectations(document)
    assert named in str(raised.value)


def test_text_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a mapping"):
        parse_expectations("- just\n- a list\n")
    with pytest.raises(InvalidInput, match="neither JSON nor YAML"):
        parse_expectations("columns: {age: [unclosed")
