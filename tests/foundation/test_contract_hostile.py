"""Hostile or careless contract files: each is a ContractError (exit 2) with the line and a fix, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from anonymizer.contract import ContractError, load_contract, packaged_contract_path, parse_contract
from anonymizer.errors import ExitCode, UsageError
from anonymizer.sqlident import IDENTIFIER
from anonymizer.validation import MAX_DEPTH
from tests.foundation.test_contract import _error, _line_of

EXAMPLE = packaged_contract_path().read_text()


def test_contract_error_is_a_usage_error_with_exit_code_2() -> None:
    err = _error(EXAMPLE.replace("strategy: ssn", "strategy: scramble"))
    assert isinstance(err, UsageError) and err.code == ExitCode.USAGE == 2
    assert str(err).startswith("invalid data contract contract.yaml (1 problem(s)):\n  contract.yaml:")


def test_composite_fk_with_lists_of_different_length() -> None:
    text = EXAMPLE.replace(
        "references: {table: dim_patients, columns: [patient_id]}",
        "references: {table: dim_patients, columns: [patient_id, dob]}",
    )
    err = _error(text)
    issue = next(i for i in err.issues if "differ in length" in i.message)
    assert issue.table == "fact_visits" and issue.line is not None
    assert "one referenced column per foreign-key column" in issue.fix
    # the other direction: more FK columns than referenced ones (used to end in an IndexError)
    text = EXAMPLE.replace(
        "- columns: [patient_id]\n        references: {table: dim_patients",
        "- columns: [patient_id, visit_date]\n        references: {table: dim_patients",
    )
    assert text != EXAMPLE
    err = _error(text)
    assert any("differ in length" in i.message for i in err.issues)


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("  dim_hospitals:\n", "  dim-hospitals:\n", "table"),
        ("  dim_hospitals:\n", "  'dim hospitals; DROP TABLE x':\n", "table"),
        ("      address:\n", "      'address.line':\n", "column"),
        ("      address:\n", "      '1address':\n", "column"),
        ("      address:\n", "      'addr`ess':\n", "column"),
    ],
)
def test_table_and_column_names_must_be_plain_identifiers(old: str, new: str, kind: str) -> None:
    text = EXAMPLE.replace(old, new, 1)
    assert text != EXAMPLE
    err = _error(text)
    issue = next(i for i in err.issues if f"{kind} name" in i.message)
    assert issue.line == _line_of(text, new.strip())
    assert IDENTIFIER in issue.message and "rename it to a plain identifier" in issue.fix
    if "`" in new:
        assert "backtick" in issue.message


def test_alias_bomb_is_refused_without_expanding_it() -> None:
    bomb = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]  # 9^10 strings if expanded
    text = "\n".join(bomb) + "\n" + EXAMPLE
    started = time.perf_counter()
    err = _error(text)
    assert time.perf_counter() - started < 5
    (issue,) = err.issues
    assert "alias" in issue.message and issue.line == 2 and "&anchor / *alias" in issue.fix


def test_any_alias_is_refused_even_a_harmless_one() -> None:
    text = EXAMPLE.replace("  catalog: medical_anonymized", "  catalog: &cat medical_anonymized", 1)
    text = text.replace("  staging_schema: visits_staging", "  staging_schema: *cat", 1)
    (issue,) = _error(text).issues
    assert "alias" in issue.message and issue.line == _line_of(text, "*cat")


def test_deep_nesting_is_refused() -> None:
    depth = MAX_DEPTH * 20
    (issue,) = _error("x: " + "[" * depth + "]" * depth + "\n").issues
    assert "nested deeper" in issue.message


def test_non_utf8_file_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    text = EXAMPLE.replace("description: One row per patient.", "description: Patiënt row.", 1)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ContractError) as info:
        load_contract(path)
    (issue,) = info.value.issues
    assert "not UTF-8" in issue.message and "save the file as UTF-8" in issue.fix
    assert issue.line == _line_of(text, "Patiënt")
    assert str(path) in str(info.value)


def test_non_string_and_unhashable_keys_are_errors_not_crashes() -> None:
    for text in ("? [a, b]\n: 1\n", "1: 2\n", "tables: {1: {columns: {2: x}}}\n", "x: 2024-02-30\n"):
        with pytest.raises(ContractError):
            parse_contract(text, "contract.yaml")


def test_fk_types_are_compared_after_parsing() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["tables"]["fact_visits"]["columns"]["patient_id"]["type"] = "integer"  # an alias of int
    contract = parse_contract(yaml.safe_dump(data, sort_keys=False))
    assert contract.tables["fact_visits"].columns["patient_id"].sql_type.name == "int"
    data["tables"]["fact_visits"]["columns"]["patient_id"]["type"] = "bigint"
    with pytest.raises(ContractError, match="foreign key type bigint differs"):
        parse_contract(yaml.safe_dump(data, sort_keys=False))
