"""The bench's floors compute what they claim: a floor that measured other work than it says would misstate
what a step must pay, and a target judged against it would look unreachable when it is not."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from anonymizer.contract import parse_contract
from anonymizer_tools import floors
from tests.risk.test_risk import SPECIALIZATION, D, _oracle, marker_contract, reader, tables

# A composite foreign key (ward, bed) -> beds: a row is an orphan when any of its columns is set and the pair has
# no parent (the gate's rule), so (NULL, 1) without a parent counts and (NULL, NULL) does not.
COMPOSITE = """
contract_version: 1
name: beds
source: {catalog: src, schema: s}
target: {catalog: tgt, schema: s, staging_schema: stg}
tables:
  beds:
    primary_key: [ward, bed]
    columns:
      ward: {type: int, nullable: false, classification: key, strategy: key}
      bed: {type: int, nullable: false, classification: key, strategy: key}
  stays:
    primary_key: [sid]
    foreign_keys:
      - {columns: [ward, bed], references: {table: beds, columns: [ward, bed]}}
    columns:
      sid: {type: int, nullable: false, classification: key, strategy: key}
      ward: {type: int, nullable: true, classification: key, strategy: key}
      bed: {type: int, nullable: true, classification: key, strategy: key}
"""


def _random_star(seed: int) -> tuple[list[tuple[int, Any]], list[tuple[int, int, Any, Any, Any]]]:
    rng = random.Random(seed)
    patients = [(i, D(1950 + rng.randrange(3), 1 + rng.randrange(2), 1)) for i in range(1, 81)]
    visits = [
        (
            v,
            rng.randrange(1, 71),
            rng.choice([1, 2, None]),
            rng.choice([1, 2, 3, None]),
            D(2024, 1 + rng.randrange(2), 1),
        )
        for v in range(1, 200)
    ]
    return patients, visits


@pytest.mark.parametrize("seed", [1, 2])
def test_risk_floor_is_each_visited_subjects_k_under_the_model(spark: Any, seed: int) -> None:
    """Subjects per k equal the plain-Python attacker model (nobody suppressed) for every subject with a visit.

    The data has NULL hospitals (a value of its own, as in the risk step), repeats and subjects without visits
    (left out by the floor: the risk step gives them a subject-level class, extra work the floor skips).
    """
    patients, visits = _random_star(seed)
    c = marker_contract()
    model = _oracle(patients, visits, SPECIALIZATION, D(1900, 1, 1))
    visited = {v[1] for v in visits}
    expected = Counter(k for pid, (k, _sup, _l) in model.items() if pid in visited)
    got = floors.risk(c, reader(tables(spark, patients, visits)))
    assert got == dict(expected)
    assert len(got) > 2 and len(visited) < len(patients)  # several class sizes, some subjects without rows


def test_gate_floor_counts_rows_beyond_one_per_key_and_orphans_not_null_references(spark: Any) -> None:
    patients, visits = _random_star(3)
    c = marker_contract()
    clean = tables(spark, patients, visits)
    assert floors.gate(c, reader(clean)) == 0  # NULL doctor_ids are in the data and are not orphans
    extra = [visits[0], visits[0], (900, 999, 1, 1, D(2024, 1, 1)), (901, 1, 1, 42, None)]
    broken = tables(spark, patients, [*visits, *extra])
    assert floors.gate(c, reader(broken)) == 4  # vid 1 three times (2 beyond one); patient 999, doctor 42 unknown


def test_gate_floor_on_a_composite_key_counts_a_partly_set_reference(spark: Any) -> None:
    c = parse_contract(COMPOSITE, "beds.yaml")
    beds = spark.createDataFrame([(1, 1), (1, 2), (2, 1)], "ward int, bed int")
    stays = spark.createDataFrame(
        [(1, 1, 1), (2, 2, 1), (3, None, None), (4, None, 1), (5, 2, 2), (6, 1, None)], "sid int, ward int, bed int"
    )
    assert floors.gate(c, reader({"beds": beds, "stays": stays})) == 3  # (NULL, 1), (2, 2) and (1, NULL)


def test_checks_floor_pairs_every_staged_row_with_its_copy_and_counts_staged_orphans(spark: Any) -> None:
    patients, visits = _random_star(4)
    c = marker_contract()
    staged = tables(spark, patients, visits)
    total = sum(df.count() for df in staged.values())
    assert floors.checks(c, reader(staged), reader(staged)) == total
    short = {**staged, "visits": staged["visits"].where("vid <> 5")}
    assert floors.checks(c, reader(staged), reader(short)) == total - 1
    orphaned = tables(spark, patients, [*visits, (900, 999, 1, 1, D(2024, 1, 1))])
    assert floors.checks(c, reader(orphaned), reader(orphaned)) == total + 1 + 1  # one more row, an orphan


def test_full_run_floor_is_the_data_steps_plus_the_writes() -> None:
    parts = {"gate": 1.0, "checks": 2.5, "risk": 3.0}
    assert floors.full_run_floor(parts, 4.0) == 14.5  # anonymize and promote a copy each
    assert floors.full_run_floor(parts, 4.0, promote_seconds=3.0) == 13.5  # promote took less than a copy
    assert floors.full_run_floor(parts, 4.0, promote_seconds=6.0) == 14.5  # never more than a copy
