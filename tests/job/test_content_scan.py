"""The content scan stops a run whose kept columns hold identifiers, whatever the contract's labels say.

A ``notes`` column marked ``keep`` is added to the source and seeded with SSNs, emails and phone numbers in
ASCII and non-ASCII digits and with patients' own names inside free text. The run must stop with exit 10
before promotion (published Delta versions unchanged), naming each column, pattern and rate with masked
examples only; an acknowledged finding passes and is listed in the report; a clean run reports zero findings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from anonymizer.contract import load_contract, packaged_contract_path
from anonymizer.errors import ExitCode
from anonymizer.journal import Journal
from anonymizer.keys import generate_key_text
from anonymizer.runtime import LocalRuntime

from .conftest import Lake

ARABIC = "٠١٢٣٤٥٦٧٨٩"
FULLWIDTH = "０１２３４５６７８９"
# notes by patient_id % 10: the seeded identifiers (SQL, evaluated on the source rows).
SEEDED_NOTES = f"""CASE patient_id % 10
  WHEN 0 THEN format_string('SSN %03d-%02d-%04d on file', 100 + patient_id % 500, 10 + patient_id % 80, 1000 + patient_id)
  WHEN 1 THEN format_string('reach her at p%d@example.org', patient_id)
  WHEN 2 THEN format_string('call (415) 555-%04d after 5', 2000 + patient_id)
  WHEN 3 THEN translate(format_string('call (415) 555-%04d', 2000 + patient_id), '0123456789', '{ARABIC}')
  WHEN 4 THEN translate(format_string('SSN %03d-%02d-%04d', 100 + patient_id % 500, 10 + patient_id % 80,
                        1000 + patient_id), '0123456789', '{FULLWIDTH}')
  WHEN 5 THEN concat('Follow-up for ', name, ' next week')
  ELSE format_string('routine check, room %d', patient_id % 40)
END"""
EXPECTED = {"ssn": {0, 4}, "email": {1}, "phone": {2, 3}, "source_value": {5}}
REASON = "Synthetic test notes; acknowledged to prove the report lists it."


def notes_contract(path: Path, acknowledge: bool = False) -> Path:
    doc = yaml.safe_load(packaged_contract_path().read_text())
    notes: dict[str, Any] = {
        "type": "string",
        "nullable": True,
        "classification": "non_sensitive",
        "strategy": "keep",
        "params": {"reason": "Free-text notes, believed (wrongly) to hold no identifiers."},
    }
    if acknowledge:
        notes["scan"] = {"acknowledged": [{"pattern": p, "reason": REASON} for p in EXPECTED]}
    doc["tables"]["dim_patients"]["columns"]["notes"] = notes
    # The risk step is not under test here. On 2,000 visits the share of patients whose classes need
    # suppression depends on the random key's date shifts (usually under the shipped 15 % cap; one CI run
    # went above it and the clean run stopped with exit 9), so the cap is raised to keep this test on the scan.
    doc["privacy"]["suppression"]["max_share"] = 0.5
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def notes_lake(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    root = tmp_path_factory.mktemp("notes")
    lake = Lake(root, LocalRuntime(spark, root), generate_key_text())
    assert lake.cli("generate", "--visits", "2000", "--seed", "16") == 0
    ref = lake.runtime.ref(lake.source("dim_patients"))
    lake.runtime.sql(f"ALTER TABLE {ref} ADD COLUMNS (notes STRING)")
    lake.runtime.sql(f"UPDATE {ref} SET notes = format_string('routine check, room %d', patient_id % 40)")
    yield lake


def _journal(lake: Lake) -> Journal:
    return Journal(lake.runtime, load_contract())


def test_scan_stops_leaks_and_passes_acknowledged(
    notes_lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = notes_lake
    contract = str(notes_contract(tmp_path / "notes.yaml"))
    # 1. A clean notes column publishes, with zero findings.
    assert lake.cli("run", "--run-id", "clean", "--contract", contract) == 0
    clean = json.loads((lake.root / "reports" / "run-clean.json").read_text())
    assert clean["status"] == "published"
    assert clean["content_scan"]["findings"] == []
    assert clean["content_scan"]["sampled"]["dim_patients"]["notes"] == 400
    published = lake.final_versions()

    # 2. Seed identifiers: the run stops before promotion with exit 10, final tables untouched.
    ref = lake.runtime.ref(lake.source("dim_patients"))
    lake.runtime.sql(f"UPDATE {ref} SET notes = {SEEDED_NOTES}")
    source = lake.runtime.read(lake.source("dim_patients")).collect()
    raw_values = [r["notes"] for r in source if r["patient_id"] % 10 < 6] + [r["name"] for r in source]
    capsys.readouterr()
    assert lake.cli("run", "--run-id", "leaky", "--contract", contract) == ExitCode.CONTENT
    out = capsys.readouterr()
    assert lake.final_versions() == published
    report_text = (lake.root / "reports" / "run-leaky.json").read_text()
    report = json.loads(report_text)
    assert report["status"] == "identifiers_found"
    found = {(f["table"], f["column"], f["pattern"]): f for f in report["content_scan"]["findings"]}
    n = len(source)
    for pattern, buckets in EXPECTED.items():
        f = found.pop(("dim_patients", "notes", pattern))
        expected_hits = sum(1 for r in source if r["patient_id"] % 10 in buckets)
        assert (f["hits"], f["sampled"]) == (expected_hits, n), pattern
        assert f["rate"] == pytest.approx(expected_hits / n, abs=1e-6)
        assert f["blocking"] and f["acknowledged"] is None
    assert found == {}  # nothing else: the kept specialization column and the clean notes are not flagged
    journal_text = json.dumps([e.detail for e in _journal(lake).events("leaky")], default=str)
    markdown = (lake.root / "reports" / "run-leaky.md").read_text()
    assert "[BLOCKING] dim_patients.notes: ssn" in out.out
    assert "identifiers found" in out.err and "dim_patients.notes" in out.err
    for text in (report_text, journal_text, markdown, out.out, out.err):
        leaked = [v for v in raw_values if v in text]
        assert leaked == [], "a raw value reached an output"
    assert "***-**-" in report_text  # masked SSN example
    assert _journal(lake).lock_holder().get("holder") is None  # the failed run released the lock

    # 3. The same content, acknowledged with a reason, passes and is listed in the report.
    acked = str(notes_contract(tmp_path / "acked.yaml", acknowledge=True))
    assert lake.cli("run", "--run-id", "acked", "--contract", acked) == 0
    report = json.loads((lake.root / "reports" / "run-acked.json").read_text())
    assert report["status"] == "published"
    listed = {f["pattern"]: f for f in report["content_scan"]["findings"]}
    assert set(listed) == set(EXPECTED)
    assert all(f["acknowledged"] == REASON and not f["blocking"] for f in listed.values())
    assert REASON in (lake.root / "reports" / "run-acked.md").read_text()
    assert lake.final_versions() != published


def test_scan_command_on_a_source_table(notes_lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    lake = notes_lake
    ref = lake.runtime.ref(lake.source("dim_patients"))
    lake.runtime.sql(f"UPDATE {ref} SET notes = {SEEDED_NOTES}")
    capsys.readouterr()
    code = lake.cli("scan", "--table", lake.source("dim_patients"), "--columns", "notes,dob")
    out = capsys.readouterr().out
    assert code == ExitCode.CONTENT
    for pattern in EXPECTED:
        assert f"dim_patients.notes: {pattern} in " in out
    # the findings feed the suggested contract entry: mixed identifiers in non-null text -> withheld
    assert "content scan found" in out and "classification: direct_identifier" in out
    assert "strategy: 'null'" in out  # notes is nullable: withheld until reviewed


def test_clean_demo_run_reports_zero_findings(published_template: Lake) -> None:
    report = json.loads((published_template.root / "reports" / "run-first.json").read_text())
    scan = report["content_scan"]
    assert scan["findings"] == [] and scan["blocking"] == 0
    assert scan["sampled"]["dim_doctors"] == {"specialization": 75}
    assert "dim_patients.name" in scan["identifier_columns"]
    assert os.path.exists(published_template.root / "reports" / "run-first.md")
