"""Bad input end to end (local Spark + Delta): each case exits non-zero with a message naming the table/column
and the fix, and leaves the published tables at their Delta versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from anonymizer import keys
from anonymizer.contract import packaged_contract_path
from anonymizer.keys import generate_key_text
from anonymizer.pipeline import EXIT_BUSY, EXIT_GATE, EXIT_KEY, EXIT_USAGE

from .conftest import Lake


def _rewrite_source(lake: Lake, table: str, sql_select: str) -> None:
    """Replace a source table's schema and rows (as an upstream team might), via a path-based Delta write."""
    df = lake.runtime.spark.sql(sql_select.format(src=lake.runtime.ref(lake.source(table))))
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        str(lake.runtime.path(lake.source(table)))
    )


def _gate_fails(lake: Lake, capsys: pytest.CaptureFixture[str], *needles: str, code: int = EXIT_GATE) -> str:
    before = lake.final_versions()
    assert lake.cli("run") == code
    out = capsys.readouterr()
    text = out.out + out.err
    for needle in needles:
        assert needle in text, f"{needle!r} not in output:\n{text[-3000:]}"
    assert lake.final_versions() == before, "published tables changed"
    return text


def test_column_added_is_unclassified_and_gets_a_patch(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    lake.runtime.sql(f"ALTER TABLE {lake.runtime.ref(lake.source('dim_patients'))} ADD COLUMNS (email STRING)")
    text = _gate_fails(lake, capsys, "[column_added] dim_patients.email", "Fix: classify it in the contract")
    assert "Traceback" not in text  # a clean finding, never a stack trace
    patch = (lake.root / "reports" / "contract-patch.yaml").read_text()
    suggested = yaml.safe_load(patch)["tables"]["dim_patients"]["columns"]["email"]
    assert suggested["strategy"] == "email" and suggested["classification"] == "direct_identifier"
    assert "REVIEW" in patch


def test_column_removed(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite_source(lake, "dim_hospitals", "SELECT hospital_id, name, address FROM {src}")
    _gate_fails(lake, capsys, "[column_removed] dim_hospitals.phone", "remove it from the contract")


def test_column_retyped(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite_source(
        lake,
        "fact_visits",
        "SELECT visit_id, patient_id, hospital_id, doctor_id, CAST(visit_date AS TIMESTAMP) AS visit_date FROM {src}",
    )
    _gate_fails(lake, capsys, "[column_retyped] fact_visits.visit_date", "type is timestamp in the source but date")


def test_column_renamed_is_hinted(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite_source(lake, "dim_hospitals", "SELECT hospital_id, name, address, phone AS phone_number FROM {src}")
    text = _gate_fails(lake, capsys, "[column_added] dim_hospitals.phone_number", "renamed from phone?")
    assert "[column_removed] dim_hospitals.phone" in text


def test_missing_table(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    lake.runtime.drop(lake.source("dim_doctors"))
    _gate_fails(lake, capsys, "[table_missing] dim_doctors", "restore the table, or remove it from the contract")


def test_duplicate_primary_key(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    ref = lake.runtime.ref(lake.source("dim_hospitals"))
    lake.runtime.sql(f"INSERT INTO {ref} SELECT * FROM {ref} LIMIT 1")
    _gate_fails(lake, capsys, "[duplicate_primary_key] dim_hospitals.hospital_id", "1 duplicate primary key")


def test_null_primary_key(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite_source(
        lake,
        "dim_hospitals",
        "SELECT CASE WHEN hospital_id = 1 THEN NULL ELSE hospital_id END AS hospital_id, name, address, phone FROM {src}",
    )
    _gate_fails(lake, capsys, "[null_primary_key] dim_hospitals.hospital_id", "1 rows have a NULL primary key")


def test_empty_table_fails_unless_allowed(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    lake.runtime.sql(f"DELETE FROM {lake.runtime.ref(lake.source('fact_visits'))}")
    _gate_fails(lake, capsys, "[table_empty] fact_visits", "--allow-empty")
    assert lake.cli("run", "--allow-empty") == 0
    assert lake.runtime.read(lake.target("fact_visits")).count() == 0


def test_source_orphans_reported_and_fail_only_when_the_contract_says(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = lake.runtime.ref(lake.source("fact_visits"))
    lake.runtime.sql(f"INSERT INTO {ref} VALUES (999999, 999999, 1, NULL, DATE'2024-01-01')")
    assert lake.cli("run", "--run-id", "orphans") == 0
    report = json.loads((lake.root / "reports" / "run-orphans.json").read_text())
    assert report["gate"]["source_orphans"]["fact_visits(patient_id)->dim_patients"] == 1
    fk = next(c for c in report["checks"] if c["name"] == "foreign_key_integrity" and c["column"] == "patient_id")
    assert fk["numbers"]["source_orphans"] == fk["numbers"]["staging_orphans"] == 1
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        packaged_contract_path().read_text().replace("fail_on_source_orphans: false", "fail_on_source_orphans: true")
    )
    capsys.readouterr()
    before = lake.final_versions()
    assert lake.cli("run", "--contract", str(strict)) == EXIT_GATE
    assert "[source_orphans] fact_visits.patient_id" in capsys.readouterr().out
    assert lake.final_versions() == before


def test_missing_short_and_malformed_key(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    before = lake.final_versions()
    assert lake.cli("run", key=None) == EXIT_USAGE
    assert "anonymizer.key" in capsys.readouterr().err
    assert lake.cli("run", key="00" * 16) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "32" in err and "00" * 16 not in err
    assert lake.cli("run", key="not a key!") == EXIT_USAGE
    assert lake.final_versions() == before


def test_a_different_key_is_refused_unless_rotating(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    other = generate_key_text()
    before = lake.final_versions()
    assert lake.cli("run", key=other) == EXIT_KEY
    assert "--rotate-key" in capsys.readouterr().err
    assert lake.final_versions() == before
    old_ids = {r[0] for r in lake.rows(lake.target("dim_hospitals"))}
    assert lake.cli("run", "--rotate-key", key=other) == 0
    assert not old_ids & {r[0] for r in lake.rows(lake.target("dim_hospitals"))}


def test_a_new_algorithm_version_is_refused_like_a_new_key(
    lake: Lake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: the journal stores fingerprint+ALGORITHM_VERSION; a changed mapping needs --rotate-key."""
    before = lake.final_versions()
    monkeypatch.setattr(keys, "ALGORITHM_VERSION", "test-next")
    assert lake.cli("run") == EXIT_KEY
    assert "algorithm version" in capsys.readouterr().err
    assert lake.final_versions() == before


def test_corrupt_contract(lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(packaged_contract_path().read_text().replace("strategy: phone", "strategy: phone_number"))
    before = lake.final_versions()
    assert lake.cli("run", "--contract", str(bad)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "dim_hospitals.phone" in err and "unknown strategy 'phone_number'" in err
    bad.write_text("tables: [\n")
    assert lake.cli("run", "--contract", str(bad)) == EXIT_USAGE
    assert "not valid YAML" in capsys.readouterr().err
    assert lake.final_versions() == before


def test_concurrent_run_is_refused_while_the_holder_lives(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    from anonymizer.contract import load_contract
    from anonymizer.journal import Journal

    journal = Journal(lake.runtime, load_contract())
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        journal.acquire("other-run")
        lake.runtime.sql(f"UPDATE {lake.runtime.ref(journal.lock_table)} SET pid = {holder.pid}")
        before = lake.final_versions()
        assert lake.cli("run") == EXIT_BUSY
        err = capsys.readouterr().err
        assert "another anonymization run is in progress" in err and "other-run" in err
        assert lake.final_versions() == before
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: the next run takes over the stale lock and publishes.
    assert lake.cli("run") == 0
    assert "died without releasing the lock" in capsys.readouterr().out
