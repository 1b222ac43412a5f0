"""The bench's floors compute what they claim: a floor that measured less work than it says would understate
what a step must pay, and a target judged against it would look unreachable when it is not."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from anonymizer_tools import floors
from tests.risk.test_risk import SPECIALIZATION, D, _oracle, marker_contract, reader, tables


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


def test_gate_floor_counts_repeated_keys_and_orphans_not_null_references(spark: Any) -> None:
    patients, visits = _random_star(3)
    c = marker_contract()
    clean = tables(spark, patients, visits)
    assert floors.gate(c, reader(clean)) == 0  # NULL doctor_ids are in the data and are not orphans
    broken = tables(spark, patients, [*visits, visits[0], (900, 999, 1, 1, D(2024, 1, 1)), (901, 1, 1, 42, None)])
    assert floors.gate(c, reader(broken)) == 3  # vid 1 twice; patient 999 and doctor 42 have no parent row


def test_pairing_floor_pairs_every_source_row_with_its_copy_once(spark: Any) -> None:
    patients, visits = _random_star(4)
    c = marker_contract()
    source = tables(spark, patients, visits)
    total = sum(df.count() for df in source.values())
    assert floors.pairing(c, reader(source), reader(source)) == total
    short = {**source, "visits": source["visits"].where("vid <> 5")}
    assert floors.pairing(c, reader(source), reader(short)) == total - 1


def test_full_run_floor_is_the_data_steps_plus_two_writes() -> None:
    parts = {"gate": 1.0, "pairing": 2.0, "staged_keys": 0.5, "risk": 3.0}
    assert floors.check_floor(parts) == 2.5
    assert floors.full_run_floor(parts, 4.0) == 14.5  # gate + checks + risk + anonymize and promote (a copy each)
