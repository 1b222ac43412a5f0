"""The checks catch broken staging (each failure with its numbers), and the report carries numbers only."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import functions as F

from anonymizer.checks import run_checks
from anonymizer.context import Context, Options, build_context
from anonymizer.contract import load_contract, packaged_contract_path
from anonymizer.pipeline import StepLog, anonymize_step, check_context, gate_step, key_aligner

from .conftest import Lake


@pytest.fixture
def staged(lake: Lake) -> Iterator[Context]:
    os.environ["ANONYMIZER_KEY"] = lake.key
    try:
        ctx = build_context(Options(lakehouse=str(lake.root)))
        gate_step(ctx, "staged", StepLog(lambda _: None))
        anonymize_step(ctx, "staged", StepLog(lambda _: None))
        yield ctx
    finally:
        os.environ.pop("ANONYMIZER_KEY", None)


def _failed(ctx: Context, every: dict[tuple[str, str, str | None], dict[str, Any]] | None = None) -> dict[Any, Any]:
    """Numbers of the failed checks (and of all of them into ``every``, when given)."""
    checks = run_checks(check_context(ctx, "staged"))  # as the check step builds it (release plan included)
    if every is not None:
        every.update({(c.name, c.table, c.column): c.numbers for c in checks})
    return {(c.name, c.table, c.column): c.numbers for c in checks if not c.passed}


def test_clean_staging_passes_every_check(staged: Context) -> None:
    assert _failed(staged) == {}


def test_checks_catch_broken_staging(staged: Context) -> None:
    c, rt = staged.contract, staged.runtime
    # 1. The engine "forgot" to anonymize dim_hospitals' PII: staged rows carry their own source values.
    aligned = key_aligner(staged)(rt.read(c.source_name("dim_hospitals")), "dim_hospitals")
    leaked = aligned.select(F.col("__anon_hospital_id").alias("hospital_id"), "name", "address", "phone")
    rt.overwrite(c.staging_name("dim_hospitals"), leaked, ["hospital_id", "name", "address", "phone"])
    # 2. A lost fact row, 3. a broken foreign key, 4. a date shifted forward, 5. an invalid SSN.
    visits = rt.ref(c.staging_name("fact_visits"))
    lo, hi = rt.sql(f"SELECT min(visit_id), max(visit_id) FROM {visits}").collect()[0]
    rt.sql(f"DELETE FROM {visits} WHERE visit_id = {lo}")
    rt.sql(f"UPDATE {visits} SET patient_id = -5 WHERE visit_id = {hi}")
    patients = rt.ref(c.staging_name("dim_patients"))
    first = rt.sql(f"SELECT min(patient_id) FROM {patients}").collect()[0][0]
    rt.sql(f"UPDATE {patients} SET dob = date_add(dob, 4000), ssn = '666-12-3456' WHERE patient_id = {first}")
    # 6. Two other patients show one real SSN (someone else's): the overlap counts it once (values, not rows).
    real = rt.read(c.source_name("dim_patients")).agg(F.max("ssn")).collect()[0][0]
    two = rt.sql(f"SELECT patient_id FROM {patients} WHERE patient_id > {first} ORDER BY patient_id LIMIT 2").collect()
    rt.sql(f"UPDATE {patients} SET ssn = :real WHERE patient_id IN ({two[0][0]}, {two[1][0]})", {"real": real})
    # 7. A real value of one column in another column (a real name as an address) is no overlap of either.
    name = rt.read(c.source_name("dim_patients")).agg(F.max("name")).collect()[0][0]
    last = rt.sql(f"SELECT max(patient_id) FROM {patients}").collect()[0][0]
    rt.sql(f"UPDATE {patients} SET address = :name WHERE patient_id = {last}", {"name": name})
    # 8. A doctor staged twice (same key). 9. Two doctor_ids set to NULL (two: the deleted fact row may have
    # had a NULL one, and one more NULL would then leave the column's count unchanged).
    doctors = rt.ref(c.staging_name("dim_doctors"))
    rt.sql(f"INSERT INTO {doctors} SELECT * FROM {doctors} ORDER BY doctor_id LIMIT 1")
    two_visits = rt.sql(
        f"SELECT visit_id FROM {visits} WHERE doctor_id IS NOT NULL ORDER BY visit_id LIMIT 2"
    ).collect()
    rt.sql(f"UPDATE {visits} SET doctor_id = NULL WHERE visit_id IN ({two_visits[0][0]}, {two_visits[1][0]})")
    every: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    failed = _failed(staged, every)
    doubled = failed[("primary_key_unique", "dim_doctors", "doctor_id")]
    assert doubled["duplicates"] == 1 and doubled["unpaired"] == 0 and doubled["nulls"] == 0
    doctor_rows = failed[("row_count_equal", "dim_doctors", None)]
    assert doctor_rows["staging"] == doctor_rows["source"] + 1
    assert failed[("null_counts_equal", "fact_visits", None)]["differing"] == 1  # doctor_id only
    assert every[("pii_value_overlap", "dim_hospitals", "phone")]["overlapping_values"] == 3
    assert every[("pii_value_overlap", "dim_patients", "ssn")]["overlapping_values"] == 1
    assert every[("pii_value_overlap", "dim_patients", "address")]["overlapping_values"] == 0
    assert failed[("pii_changed", "dim_hospitals", "address")]["unchanged_rows"] == 3
    assert ("pii_changed", "dim_hospitals", "phone") in failed
    assert (
        failed[("row_count_equal", "fact_visits", None)]["staging"]
        == failed[("row_count_equal", "fact_visits", None)]["source"] - 1
    )
    fk = failed[("foreign_key_integrity", "fact_visits", "patient_id")]
    assert fk["staging_orphans"] == fk["source_orphans"] + 1
    assert failed[("date_shift_in_bounds", "dim_patients", "dob")]["max_days"] > 0
    # dob is generalized after the shift (privacy section): the row is outside G(source - [1, max_days])
    assert failed[("date_shift_in_bounds", "dim_patients", "dob")]["outside_rows"] == 1
    # 666-12-3456 and the two real SSNs: a real number is outside the ssn strategy's output range
    assert failed[("format_valid", "dim_patients", "ssn")]["invalid_rows"] == 3
    assert ("seed_validate_results", "*", None) in failed


def test_interval_check_catches_a_changed_age_at_visit(lake: Lake, tmp_path: Path) -> None:
    """Without the privacy section's coarsening, visit_date - dob over the FK join keeps its multiset; one staged
    visit moved by a day changes the counts of exactly two interval values."""
    doc = yaml.safe_load(packaged_contract_path().read_text())
    del doc["privacy"]
    path = tmp_path / "no-privacy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.environ["ANONYMIZER_KEY"] = lake.key
    try:
        ctx = build_context(Options(contract=str(path), lakehouse=str(lake.root)))
        gate_step(ctx, "iv", StepLog(lambda _: None))
        anonymize_step(ctx, "iv", StepLog(lambda _: None))

        def intervals() -> dict[str | None, Any]:
            return {c.column: c for c in run_checks(check_context(ctx, "iv")) if c.name == "interval_preserved"}

        label = "visit_date-dim_patients.dob"
        clean = intervals()
        assert clean[label].passed and clean[label].numbers["differing_intervals"] == 0
        rt, c = ctx.runtime, ctx.contract
        visits, patients = rt.ref(c.staging_name("fact_visits")), rt.ref(c.staging_name("dim_patients"))
        visit = rt.sql(
            f"SELECT min(v.visit_id) FROM {visits} v JOIN {patients} p ON v.patient_id = p.patient_id "
            "WHERE v.visit_date IS NOT NULL AND p.dob IS NOT NULL"
        ).collect()[0][0]
        rt.sql(f"UPDATE {visits} SET visit_date = date_add(visit_date, -1) WHERE visit_id = {visit}")
        broken = intervals()[label]
        assert not broken.passed and broken.numbers["differing_intervals"] == 2
    finally:
        os.environ.pop("ANONYMIZER_KEY", None)


def test_report_has_numbers_and_no_key_or_pii(published_template: Lake) -> None:
    lake = published_template
    report_text = (lake.root / "reports" / "run-first.json").read_text()
    md = (lake.root / "reports" / "run-first.md").read_text()
    report = json.loads(report_text)
    assert report["status"] == "published"
    assert report["contract"]["sha256"] == load_contract().digest()
    assert report["checks"] and all(c["passed"] for c in report["checks"])
    assert {c["name"] for c in report["checks"]} >= {
        "row_count_equal",
        "null_counts_equal",
        "primary_key_unique",
        "foreign_key_integrity",
        "pii_changed",
        "format_valid",
        "date_shift_in_bounds",
        "schema_equals_contract",
        "seed_validate_results",
    }
    for table, info in report["tables"].items():
        assert info["rows"] > 0 and info["delta_versions"]["after"] > info["delta_versions"]["before"], table
    assert set(report["durations_seconds"]) == {
        "start",
        "gate",
        "anonymize",
        "check",
        "risk",
        "scan",
        "promote",
        "vacuum",
    }
    assert "erDiagram" in md and "dim_patients ||--o{ fact_visits" in md
    assert lake.key not in report_text and lake.key not in md
    source = lake.runtime.read(lake.source("dim_patients")).limit(200).collect()
    for row in source:
        for value in (row["name"], row["ssn"], row["address"]):
            assert value not in report_text and value not in md
