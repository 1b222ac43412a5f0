"""The gate's single data pass on composite keys: duplicate composite primary keys, orphans of a composite
foreign key (a key with one NULL part that matches no parent is an orphan; an all-NULL key is not), on real
Delta tables and the real gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anonymizer.contract import load_contract
from anonymizer.gate import run_gate
from anonymizer.runtime import LocalRuntime
from anonymizer.tables import contract_columns, foreign_keys

CONTRACT = """
contract_version: 1
name: wards
owner: data-platform@example.com
source: {catalog: care, schema: raw}
target: {catalog: care_anonymized, schema: raw, staging_schema: raw_staging}
settings: {date_shift_max_days: 365, fail_on_source_orphans: false}
tables:
  wards:
    description: One row per ward of a hospital.
    primary_key: [hospital_id, ward_no]
    columns:
      hospital_id: {type: int, nullable: false, classification: key, strategy: key}
      ward_no: {type: int, nullable: false, classification: key, strategy: key}
  stays:
    description: One row per stay.
    primary_key: [stay_id]
    foreign_keys:
      - columns: [hospital_id, ward_no]
        references: {table: wards, columns: [hospital_id, ward_no]}
    columns:
      stay_id: {type: int, nullable: false, classification: key, strategy: key}
      hospital_id: {type: int, nullable: true, classification: key, strategy: key}
      ward_no: {type: int, nullable: true, classification: key, strategy: key}
"""
WARDS = [(1, 1), (1, 2), (2, 1), (1, 1), (2, 1)]  # two duplicate keys
STAYS = [(10, 1, 1), (11, 1, 3), (12, 2, None), (13, None, None), (14, 2, 1), (15, 9, 9)]  # orphans: 11, 12, 15


def test_composite_keys_in_one_pass(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "wards.yaml"
    path.write_text(CONTRACT)
    contract = load_contract(path)
    runtime = LocalRuntime(spark, tmp_path / "lake")
    for table, rows in (("wards", WARDS), ("stays", STAYS)):
        name = contract.source_name(table)
        runtime.create_table(name, contract_columns(contract, table))
        runtime.declare_keys(name, contract.tables[table].primary_key, foreign_keys(contract, table))
        schema = runtime.read(name).schema
        runtime.overwrite(name, spark.createDataFrame(rows, schema), [f.name for f in schema.fields])
    result = run_gate(runtime, contract, contract.digest())
    codes = {(f.code, f.table): f for f in result.findings}
    assert "2 duplicate primary key values" in codes[("duplicate_primary_key", "wards")].message
    assert ("duplicate_primary_key", "stays") not in codes and ("null_primary_key", "wards") not in codes
    assert result.source_orphans == {"stays(hospital_id,ward_no)->wards": 3}
    assert result.row_counts == {"wards": 5, "stays": 6}, "the parent keys' join must not change the row count"
    assert not codes[("source_orphans", "stays")].blocking
