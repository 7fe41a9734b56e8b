"""Checking frames with pandera: every planted fault found, named by column, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera

from modelward.domain.expectations import parse_expectations
from modelward.evaluation.expectations import build_schema, check_frame, run_schema
from tests.data.frames import DUPLICATED_ID_ROWS, MISSING_SHARE, OUT_OF_RANGE_AGES, ROWS, clean, declaration, failed, faulty


def _check(frame: pd.DataFrame, declared: dict, reference: pd.DataFrame | None = None):
    references = {"income": reference["income"]} if reference is not None else None
    return check_frame(frame, parse_expectations(declared), references)


def test_clean_data_passes_every_expectation() -> None:
    result = _check(clean(1), declaration({"dataset": "ref"}), clean(0))
    assert result.status == "passed" and result.passed is True and result.failed() == []
    assert (result.rows, result.columns) == (ROWS, 5)
    assert result.library == {"name": "pandera", "version": pandera.__version__}
    psi = next(item for item in result.expectations if item.check == "psi")
    assert psi.observed is not None and psi.observed < 0.2


def test_planted_faults_fail_their_expectations_with_examples() -> None:
    result = _check(faulty(), declaration({"dataset": "ref"}), clean(0))
    found = failed(result)
    assert result.status == "failed" and result.passed is False
    assert set(found) == {"age.min", "age.max", "id.unique", "email.missing_max", "income.psi", "income.ks"}
    assert found["age.max"].failure_count == 2 and sorted(found["age.max"].examples) == ["131", "150"]
    assert found["age.min"].examples == ["-4"] and found["age.min"].failure_share == round(1 / ROWS, 6)
    assert found["id.unique"].failure_count == len(DUPLICATED_ID_ROWS)
    assert found["email.missing_max"].observed == MISSING_SHARE
    assert found["email.missing_max"].failure_count == int(ROWS * MISSING_SHARE)
    assert found["income.psi"].observed > 0.2 and found["income.ks"].observed > 0.15
    # missing e-mails are the missing limit's business, not the pattern's
    assert next(i for i in result.expectations if i.check == "pattern").passed


def test_types_allowed_values_rows_and_missing_columns() -> None:
    frame = clean().assign(age=lambda d: d.age.astype(str), country=lambda d: d.country.where(d.index != 5, "XX"))
    declared = {"columns": {"age": {"type": "int"}, "country": {"allowed": ["DE", "FR", "NL"]},
                            "score": {"min": 0}, "optional": {"required": False, "min": 0}},
                "rows": {"min": 1, "max": 100}}
    found = failed(_check(frame, declared))
    assert set(found) == {"age.type", "country.allowed", "score.present", "score.min", "rows_max"}
    assert found["age.type"].observed == str(frame["age"].dtype)
    assert found["country.allowed"].examples == ["XX"] and found["country.allowed"].failure_count == 1
    assert found["score.present"].examples == ["score"]
    assert found["rows_max"].observed == ROWS and found["rows_max"].column is None


def test_a_range_check_on_text_fails_with_the_error_not_a_crash() -> None:
    frame = pd.DataFrame({"age": ["a", "b", None]})
    found = failed(_check(frame, {"columns": {"age": {"min": 0}}}))
    assert found["age.min"].failure_count == 2 and "TypeError" in found["age.min"].examples[0]


def test_zero_missing_uses_pandera_nullable() -> None:
    frame = pd.DataFrame({"id": [1.0, np.nan, 3.0, np.nan]})
    found = failed(_check(frame, {"columns": {"id": {"missing_max": 0}}}))
    assert found["id.missing_max"].failure_count == 2 and found["id.missing_max"].observed == 0.5


def test_categorical_psi_sees_a_new_mix_of_categories() -> None:
    reference = clean(0)
    current = reference.assign(country=["DE"] * (ROWS - 10) + ["FR"] * 10)
    declared = {"distribution": {"country": {"reference": {"dataset": "ref"}, "max_psi": 0.2}}}
    result = check_frame(current, parse_expectations(declared), {"country": reference["country"]})
    assert failed(result)["country.psi"].observed > 1


def test_the_result_counts_what_pandera_itself_reports() -> None:
    """Our summary is pandera's failure cases folded, not a second validator."""
    frame, declared = faulty(), parse_expectations(declaration())
    failures = run_schema(build_schema(declared).schema, frame)
    assert failures is not None
    by_column = failures[failures["index"].notna()].groupby("column").size().to_dict()
    found = failed(check_frame(frame, declared))
    assert by_column == {"age": found["age.min"].failure_count + found["age.max"].failure_count,
                         "id": found["id.unique"].failure_count}
    assert set(OUT_OF_RANGE_AGES) <= set(failures.loc[failures["column"] == "age", "index"].astype(int))
