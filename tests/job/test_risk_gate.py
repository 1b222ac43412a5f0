"""The risk step inside ``anonymizer run``: the shipped contract passes its own gate; a utility-favouring
contract fails it with exit 9, a suggested fix, and the published tables at their Delta versions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from anonymizer.contract import packaged_contract_path
from anonymizer.errors import ExitCode
from tests.job.conftest import Lake

UTILITY = packaged_contract_path().parent / "examples" / "medical_visits_utility.yaml"


def test_shipped_contract_passes_its_own_risk_gate(published_template: Lake) -> None:
    report = json.loads((published_template.root / "reports" / "run-first.json").read_text())
    assert report["status"] == "published"
    risk = report["risk"]
    assert risk["passed"] and risk["thresholds"]["k_min"] >= 5
    assert risk["after"]["k_min_observed"] >= 5 and risk["after"]["below_k"] == 0
    # the source at full precision is far riskier than what was published
    assert risk["before"]["below_k"] > risk["after"]["below_k"]
    assert risk["model"]["quasi_identifiers"] == [
        "dim_patients.dob",
        "fact_visits.visit_date",
        "fact_visits.hospital_id",
    ]
    md = (published_template.root / "reports" / "run-first.md").read_text()
    assert "## Re-identification risk" in md
    assert f"]({risk['histogram_png']})" in md
    png = published_template.root / "reports" / risk["histogram_png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # What the risk step suppressed is what was published (the rewritten staging tables, not the ones it
    # measured first): exactly its subjects carry the marker dob, their visits and no others the marker date.
    marker = dt.date(1900, 1, 1)
    read = published_template.runtime.read
    dobs = read(published_template.target("dim_patients")).select("patient_id", "dob").collect()
    marked = {r["patient_id"] for r in dobs if r["dob"] == marker}
    assert len(marked) == (risk["suppression"]["subjects"] if risk["suppression"]["applied"] else 0)
    visits = read(published_template.target("fact_visits")).select("patient_id", "visit_date").collect()
    assert all((v["visit_date"] == marker) == (v["patient_id"] in marked) for v in visits)


def test_risk_above_threshold_fails_the_run_and_promotes_nothing(lake: Lake, tmp_path: Path) -> None:
    before = lake.final_versions()
    code = lake.cli("run", "--run-id", "utility", "--contract", str(UTILITY), "--report-dir", str(tmp_path))
    assert code == ExitCode.RISK == 9
    assert lake.final_versions() == before
    report = json.loads((tmp_path / "run-utility.json").read_text())
    assert report["status"] == "risk_failed"
    risk = report["risk"]
    assert not risk["passed"] and risk["after"]["below_k"] > 0
    assert any("fact_visits.visit_date" in s or "dim_patients.dob" in s for s in risk["suggestions"])
    assert "Suggested fixes:" in (tmp_path / "run-utility.md").read_text()
    # another contract: its own "before" measure, not the shipped contract's from run "first"
    assert risk["before_from"] is None and risk["before"]["subjects"] > 0
    # the next run with the shipped contract is not blocked by the failed one
    assert lake.cli("run", "--run-id", "second") == 0
    # ... and, its contract unchanged, shows the "before" measure of run "first" instead of reading the source again
    first = json.loads((lake.root / "reports" / "run-first.json").read_text())["risk"]
    second = json.loads((lake.root / "reports" / "run-second.json").read_text())["risk"]
    assert first["before_from"] is None and second["before_from"]["run_id"] == "first"
    assert second["before"] == first["before"] and "before" not in second["seconds"]
    assert "measured in run first" in (lake.root / "reports" / "run-second.md").read_text()
