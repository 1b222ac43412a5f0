"""The bench's wide scenario: its generator keeps every (composite) key and foreign key, its contract loads,
passes the real gate, and a full run publishes it with every relationship intact (real Spark and Delta)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from anonymizer_tools.wide import CONTRACT_PATH, generate_wide, wide_contract, wide_frames

CLAIMS = 300


def test_wide_frames_keys_and_foreign_keys_hold() -> None:
    """Every composite primary key unique, every non-null foreign key (composite ones too) found in its parent."""
    contract = wide_contract()
    frames = wide_frames(CLAIMS, seed=7)
    assert set(frames) == set(contract.tables) and len(frames) >= 8
    for table, spec in contract.tables.items():
        frame = frames[table]
        assert list(frame.columns) == list(spec.columns), table
        assert not frame.duplicated(list(spec.primary_key)).any(), f"{table}: duplicate primary key"
        for fk in spec.foreign_keys:
            child = frame[list(fk.columns)].dropna()
            parent = frames[fk.references.table][list(fk.references.columns)]
            parent.columns = list(fk.columns)
            joined = child.merge(parent.drop_duplicates(), how="left", indicator=True)
            assert (joined["_merge"] == "both").all(), f"{table}{fk.columns}: orphan rows"
    composite = [t for t, s in contract.tables.items() if len(s.primary_key) >= 2]
    assert len(composite) >= 4 and any(len(contract.tables[t].primary_key) == 3 for t in composite)
    again = wide_frames(CLAIMS, seed=7)
    for table in frames:
        pd.testing.assert_frame_equal(frames[table], again[table])


def test_wide_schema_passes_gate_and_publishes(spark: Any, tmp_path: Path) -> None:
    """Generated source -> gate passes -> full run publishes; composite FK joins survive anonymization."""
    from anonymizer.cli import run_pipeline
    from anonymizer.context import Options, build_context
    from anonymizer.gate import run_gate
    from anonymizer.keys import generate_key_text
    from anonymizer.pipeline import StepLog, new_run_id
    from anonymizer.runtime import LocalRuntime

    contract = wide_contract()
    lake = tmp_path / "lake"
    runtime = LocalRuntime(spark, lake)
    counts = generate_wide(runtime, contract, CLAIMS, seed=3, scratch=tmp_path / "scratch", progress=lambda _t: None)
    gate = run_gate(runtime, contract, contract.digest())
    assert gate.passed, [f.message for f in gate.findings if f.blocking]
    assert gate.row_counts == counts

    key_file = tmp_path / "run.key"
    key_file.write_text(generate_key_text() + "\n")
    key_file.chmod(0o600)
    ctx = build_context(
        Options(
            contract=str(CONTRACT_PATH), lakehouse=str(lake), key_file=str(key_file), report_dir=str(tmp_path / "r")
        )
    )
    log = StepLog(lambda _t: None)
    report = run_pipeline(ctx, new_run_id(), log)
    assert report["status"] == "published"
    assert {"gate", "anonymize", "check", "promote"} <= set(log.durations)
    assert "risk" not in log.durations or log.durations["risk"] < 5  # no privacy section: nothing to measure

    def published(table: str) -> Any:
        return runtime.read(contract.target_name(table))

    claims = published("fact_claims")
    assert claims.count() == counts["fact_claims"]
    # the two-column FK claim -> policy and the three-column FK provider -> clinic still join every row
    assert claims.join(published("dim_policy"), ["member_id", "policy_no"]).count() == counts["fact_claims"]
    providers = published("dim_provider")
    clinic_key = ["country_id", "region_id", "clinic_no"]
    assert providers.join(published("dim_clinic"), clinic_key).count() == counts["dim_provider"]
    # and the keys were really transformed, not copied
    source_ids = {r.claim_id for r in runtime.read(contract.source_name("fact_claims")).select("claim_id").collect()}
    assert not source_ids & {r.claim_id for r in claims.select("claim_id").collect()}


@pytest.mark.parametrize("claims", [1, 17])
def test_wide_frames_tiny_sizes(claims: int) -> None:
    """Degenerate sizes still give every table at least its dimension rows and consistent keys."""
    frames = wide_frames(claims, seed=1)
    assert len(frames["fact_claims"]) == claims and len(frames["dim_member"]) >= 1
    assert len(frames["fact_claim_lines"]) >= claims
