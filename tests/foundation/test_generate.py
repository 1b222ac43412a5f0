"""Synthetic production data: exact schema, keys, zero orphans, determinism, plausible distributions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anonymizer.contract import load_contract
from anonymizer.runtime import LocalRuntime
from anonymizer_tools.generate import DEFAULT_AS_OF, Sizes, generate, generate_frames

SIZES = Sizes.for_visits(20_000)


@pytest.fixture(scope="module")
def generated(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> LocalRuntime:
    root = tmp_path_factory.mktemp("lake")
    runtime = LocalRuntime(spark, root)
    generate(runtime, load_contract(), SIZES, seed=7, scratch=root / "_scratch", progress=lambda _: None)
    return runtime


def test_exact_schema_including_nullability(generated: LocalRuntime) -> None:
    contract = load_contract()
    for table, spec in contract.tables.items():
        live = generated.columns(contract.source_name(table))
        assert [(c.name, c.type, c.nullable) for c in live] == [
            (n, c.sql_type.name, c.nullable) for n, c in spec.columns.items()
        ], table


def test_row_counts_and_unique_keys(generated: LocalRuntime) -> None:
    contract = load_contract()
    expected = {
        "dim_patients": SIZES.patients,
        "dim_hospitals": SIZES.hospitals,
        "dim_doctors": SIZES.doctors,
        "fact_visits": SIZES.visits,
    }
    for table, rows in expected.items():
        df = generated.read(contract.source_name(table))
        pk = contract.tables[table].primary_key
        assert df.count() == rows
        assert df.select(*pk).distinct().count() == rows
        assert df.where(" OR ".join(f"{c} IS NULL" for c in pk)).count() == 0


def test_zero_orphan_foreign_keys(generated: LocalRuntime) -> None:
    contract = load_contract()
    for table, spec in contract.tables.items():
        child = generated.read(contract.source_name(table))
        for fk in spec.foreign_keys:
            parent = generated.read(contract.source_name(fk.references.table))
            (col,), (ref,) = fk.columns, fk.references.columns
            orphans = child.where(f"{col} IS NOT NULL").join(parent, child[col] == parent[ref], "left_anti").count()
            assert orphans == 0, f"{table}.{col}"


def test_doctor_works_at_the_visits_hospital_and_some_visits_have_none(generated: LocalRuntime) -> None:
    c = load_contract()
    visits = generated.read(c.source_name("fact_visits")).alias("v")
    doctors = generated.read(c.source_name("dim_doctors")).alias("d")
    joined = visits.join(doctors, "doctor_id")
    assert joined.where("v.hospital_id != d.hospital_id").count() == 0
    no_doctor = visits.where("doctor_id IS NULL").count()
    assert 0.04 * SIZES.visits < no_doctor < 0.12 * SIZES.visits


def test_key_metadata_recorded_like_constraints(generated: LocalRuntime) -> None:
    c = load_contract()
    keys = generated.key_metadata(c.source_name("fact_visits"))
    assert keys.primary_key == ("visit_id",)
    assert (("doctor_id",), "medical.visits.dim_doctors", ("doctor_id",)) in keys.foreign_keys


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, other = (generate_frames(Sizes.for_visits(3_000), s) for s in (5, 5, 6))
    for table in a:
        assert a[table].equals(b[table]), table
    assert not a["dim_patients"].equals(other["dim_patients"])


def test_distributions_are_plausible() -> None:
    frames = generate_frames(Sizes.for_visits(50_000), 11)
    patients, visits = frames["dim_patients"], frames["fact_visits"]
    dob = patients["dob"].dt.date
    assert dob.min() >= dt.date(1935, 1, 1) and dob.max() <= dt.date(2007, 12, 31)
    merged = visits.merge(patients, on="patient_id")
    assert (merged["visit_date"] >= merged["dob"]).all(), "a visit before the patient's birth"
    assert merged["visit_date"].dt.date.max() <= DEFAULT_AS_OF
    assert merged["visit_date"].dt.date.min() >= DEFAULT_AS_OF - dt.timedelta(days=5 * 365)
    per_patient = visits.groupby("patient_id").size().to_numpy()
    # A long tail: the busiest 1% of patients account for far more than 1% of visits.
    top = np.sort(per_patient)[::-1][: max(1, len(per_patient) // 100)].sum()
    assert top / len(visits) > 0.05
    assert patients["ssn"].str.fullmatch(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}").all()


def test_generate_cli_progress_lines(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "anonymizer.cli",
            "generate",
            "--lakehouse",
            str(tmp_path),
            "--visits",
            "2000",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if "generated medical.visits." in line]
    assert len(lines) == 4 and all(line.rstrip().endswith(" s") and "rows" in line for line in lines)


def test_a_failed_table_load_raises_and_declares_no_keys(spark: Any, tmp_path: Path) -> None:
    """Tables load on threads: the error of any one of them reaches the caller and no key is declared.

    The broken table is not the last one drawn, so an error read only from the final load would be missed.
    """
    from anonymizer_tools.generate import write_source

    contract = load_contract()
    runtime = LocalRuntime(spark, tmp_path)
    frames = generate_frames(Sizes.for_visits(500), 3)
    frames["dim_hospitals"].loc[0, "name"] = None  # NOT NULL in the contract
    with pytest.raises(Exception, match=r"(?i)null"):
        write_source(runtime, contract, frames.items(), tmp_path / "_scratch", progress=lambda _: None)
    assert runtime.exists(contract.source_name("fact_visits")), "the other loads ran to their end"
    for table in contract.tables:
        if runtime.exists(contract.source_name(table)):
            assert runtime.key_metadata(contract.source_name(table)).primary_key == (), table
