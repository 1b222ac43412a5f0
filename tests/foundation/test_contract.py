"""Contract loader: the example passes, every bad case fails with file, line, table, column and a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from anonymizer.contract import ContractError, json_schema, load_contract, packaged_contract_path, parse_contract

EXAMPLE = packaged_contract_path().read_text()


def test_example_contract_is_valid_and_complete() -> None:
    c = load_contract()
    assert list(c.tables) == ["dim_patients", "dim_hospitals", "dim_doctors", "fact_visits"]
    assert c.tables["fact_visits"].columns["doctor_id"].nullable is True
    assert c.key_domain("fact_visits", "doctor_id") == "dim_doctors.doctor_id"
    assert c.key_domain("dim_doctors", "hospital_id") == "dim_hospitals.hospital_id"
    assert c.entity_domain("fact_visits", "visit_date") == c.entity_domain("dim_patients", "dob")
    assert c.dependency_order().index("dim_hospitals") < c.dependency_order().index("dim_doctors")


def test_digest_ignores_comments_but_not_semantics() -> None:
    base = parse_contract(EXAMPLE).digest()
    assert parse_contract("# a comment\n" + EXAMPLE).digest() == base
    changed = EXAMPLE.replace("date_shift_max_days: 365", "date_shift_max_days: 200")
    assert parse_contract(changed).digest() != base


def _error(text: str) -> ContractError:
    with pytest.raises(ContractError) as info:
        parse_contract(text, "contract.yaml")
    return info.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_unknown_strategy_names_line_table_column_and_fix() -> None:
    text = EXAMPLE.replace("strategy: ssn", "strategy: scramble")
    err = _error(text)
    (issue,) = err.issues
    assert (issue.table, issue.column) == ("dim_patients", "ssn")
    assert issue.line == _line_of(text, "strategy: scramble")
    assert "unknown strategy 'scramble'" in str(err) and "use one of" in str(err)
    assert f"contract.yaml:{issue.line}" in str(err)


def test_fk_to_unknown_table() -> None:
    err = _error(
        EXAMPLE.replace(
            "references: {table: dim_hospitals, columns: [hospital_id]}\n    columns:\n      doctor_id",
            "references: {table: dim_clinics, columns: [hospital_id]}\n    columns:\n      doctor_id",
        )
    )
    assert any("unknown table 'dim_clinics'" in i.message and i.table == "dim_doctors" for i in err.issues)


def test_fk_to_unknown_column() -> None:
    text = EXAMPLE.replace(
        "references: {table: dim_patients, columns: [patient_id]}",
        "references: {table: dim_patients, columns: [person_id]}",
    )
    err = _error(text)
    assert any("person_id" in i.message and i.table == "fact_visits" for i in err.issues)


def test_fk_type_differs_from_pk() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["tables"]["fact_visits"]["columns"]["patient_id"]["type"] = "bigint"
    err = _error(yaml.safe_dump(data, sort_keys=False))
    issue = next(i for i in err.issues if "differs from" in i.message)
    assert (issue.table, issue.column) == ("fact_visits", "patient_id")
    assert "declare patient_id as int" in issue.fix


def test_missing_primary_key() -> None:
    data = yaml.safe_load(EXAMPLE)
    del data["tables"]["dim_hospitals"]["primary_key"]
    err = _error(yaml.safe_dump(data, sort_keys=False))
    assert any(
        i.table == "dim_hospitals" and "primary_key" in i.message and "add 'primary_key'" in i.fix for i in err.issues
    )


def test_duplicate_column_is_refused_with_its_line() -> None:
    text = EXAMPLE.replace(
        "      address:\n        type: string\n        nullable: false\n        classification: direct_identifier",
        "      ssn:\n        type: string\n        nullable: false\n        classification: direct_identifier",
        1,
    )
    err = _error(text)
    dup = next(i for i in err.issues if "duplicate key 'ssn'" in i.message)
    assert dup.table == "dim_patients" and dup.line is not None and dup.line > _line_of(text, "ssn:")


def test_unclassified_column_is_refused() -> None:
    data = yaml.safe_load(EXAMPLE)
    del data["tables"]["dim_patients"]["columns"]["address"]["classification"]
    err = _error(yaml.safe_dump(data, sort_keys=False))
    assert any(i.column == "address" and "classification" in i.message for i in err.issues)


def test_strategy_not_valid_for_type() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["tables"]["fact_visits"]["columns"]["visit_date"]["strategy"] = "ssn"
    data["tables"]["fact_visits"]["columns"]["visit_date"].pop("params")
    err = _error(yaml.safe_dump(data, sort_keys=False))
    issue = next(i for i in err.issues if i.column == "visit_date")
    assert "does not fit type date" in issue.message and "date_shift" in issue.message


def test_null_strategy_on_not_null_column_and_keep_on_identifier() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["tables"]["dim_patients"]["columns"]["address"]["strategy"] = "null"
    data["tables"]["dim_patients"]["columns"]["ssn"] |= {"strategy": "keep", "params": {"reason": "we really need it"}}
    err = _error(yaml.safe_dump(data, sort_keys=False))
    assert any(i.column == "address" and "nullable" in i.message for i in err.issues)
    assert any(i.column == "ssn" and "clear text" in i.message for i in err.issues)


def test_unknown_type_and_bad_params_and_yaml_syntax() -> None:
    data = yaml.safe_load(EXAMPLE)
    data["tables"]["dim_hospitals"]["columns"]["phone"]["type"] = "varchar2(20)"
    data["tables"]["dim_patients"]["columns"]["dob"]["params"] = {"entity": "nobody"}
    err = _error(yaml.safe_dump(data, sort_keys=False))
    assert any(i.column == "phone" and "unknown type" in i.message for i in err.issues)
    assert any(i.column == "dob" and "'nobody' is not a key column" in i.message for i in err.issues)
    syntax = _error("tables: [unclosed\n")
    assert syntax.issues[0].line is not None and "YAML" in syntax.issues[0].message


def test_unique_by_needs_an_integer_key() -> None:
    data = yaml.safe_load(EXAMPLE)
    cols = data["tables"]["dim_doctors"]["columns"]
    cols["badge"] = {"type": "string", "nullable": False, "classification": "key", "strategy": "key"}
    cols["name"]["params"] = {"unique_by": "badge"}
    err = _error(yaml.safe_dump(data, sort_keys=False))
    assert any(i.column == "name" and "integer key" in i.message for i in err.issues)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"nope\.yaml"):
        load_contract(tmp_path / "nope.yaml")


def test_exported_json_schema_is_current(repo_root: Path) -> None:
    path = repo_root / "jobs/src/anonymizer/contracts/contract.schema.json"
    assert json.loads(path.read_text()) == json_schema(), "run: python -m anonymizer.contract --export-schema"


def test_json_schema_accepts_example_and_rejects_unknown_strategy() -> None:
    import jsonschema

    schema = json_schema()
    jsonschema.validate(yaml.safe_load(EXAMPLE), schema)
    data = yaml.safe_load(EXAMPLE)
    data["tables"]["dim_patients"]["columns"]["ssn"]["strategy"] = "scramble"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
