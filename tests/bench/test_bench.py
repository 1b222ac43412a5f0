"""Smoke test of ``anonymizer bench`` at a tiny scale, plus the pieces whose correctness the numbers rest on.

Timings are never asserted (a timed unit test is not a performance claim); the structure of the report, the
sanity of its numbers and the seed baseline's collision counter are.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from anonymizer_tools import bench

VARIANT_KEYS = ("copy", "seed_baseline", "udf_baseline", "anonymize", "risk", "content_scan", "floors", "full_run")
RATIO_KEYS = ("anonymize_vs_copy", "anonymize_vs_seed", "anonymize_vs_udf", "full_run_vs_copy", "scan_vs_copy")


@pytest.mark.spark
def test_seed_transform_is_the_seed_jobs_per_type_transform(spark: Any) -> None:
    """Strings -> 64 hex chars, dates shifted back 1..729 days, ints into 1..999,999; untagged unchanged."""
    from pyspark.sql import Row

    df = spark.createDataFrame(
        [Row(id=i, name=f"n{i}", day=dt.date(2020, 1, 1), spec="Cardiology") for i in range(200)]
    )
    df = df.select(df.id.cast("int").alias("id"), "name", "day", "spec")
    out = bench.seed_anonymize(df, ["id", "name", "day"], salt="s").collect()
    assert all(len(r.name) == 64 and int(r.name, 16) >= 0 for r in out)
    assert all(-729 <= (r.day - dt.date(2020, 1, 1)).days <= -1 for r in out)
    assert all(1 <= r.id <= 999_999 for r in out)
    assert {r.spec for r in out} == {"Cardiology"}
    again = bench.seed_anonymize(df, ["id", "name", "day"], salt="s").collect()
    assert [tuple(r) for r in again] == [tuple(r) for r in out]  # deterministic for a salt


@pytest.mark.spark
def test_collision_counter_on_murmur_mod(spark: Any) -> None:
    """100k distinct keys into ~1M values (signed Murmur3 mod 500k, shifted): ~4.8k collide; the identity none."""
    from pyspark.sql import functions as F

    keys = spark.range(1, 100_001).select(F.col("id").cast("int").alias("patient_id"))
    assert bench.pk_collisions(keys, ["patient_id"]) == 0
    hashed = bench.seed_anonymize(keys, ["patient_id"], salt="0123456789abcdef")
    collisions = bench.pk_collisions(hashed, ["patient_id"])
    # expected n - m(1 - exp(-n/m)) ~ 4,837 for n=100k, m=999,999 (sd ~ 70); far from 0 for any salt
    assert 4_000 < collisions < 5_700


def test_targets_and_markdown_from_a_report() -> None:
    results = {
        name: {
            "seconds": 2.0,
            "runs": [2.0],
            "rows": 1000,
            "rows_per_s": 500.0,
            "peak_rss_mb": 1.0,
            "peak_tree_rss_mb": 2.0,
        }
        for name in bench.VARIANTS
    }
    results["copy"]["seconds"] = 1.0
    results["udf_baseline"]["seconds"] = 100.0
    results["full_run"]["parts"] = {"gate": 0.4, "anonymize": 0.8, "check": 1.5, "promote": 0.2}
    results["floors"]["parts"] = {"gate": 0.2, "checks": 1.25, "risk": 0.5}
    small = {
        "visits": 10,
        "rows": {"total": 1000},
        "results": results,
        "generation": {"seconds": 1.0, "rows": 1000, "rows_per_s": 1000.0},
        "seed_pk_collisions": 3,
        "seed_pk_collisions_by_table": {"fact_visits": 3},
        "ratios": bench.ratios(results),
    }
    large = json.loads(json.dumps(small))
    large.update(visits=100, rows={"total": 10_000})
    for name in bench.VARIANTS:
        large["results"][name]["seconds"] = results[name]["seconds"] * 12
    large["results"]["full_run"]["parts"] = {"gate": 4.0, "anonymize": 8.0, "check": 15.0, "promote": 2.6}
    wide = {**json.loads(json.dumps(small)), "scenario": "wide", "rows": {"t1": 500, "t2": 500, "total": 1000}}
    wide["results"]["full_run"]["parts"] = {"gate": 0.5, "anonymize": 0.8, "check": 0.9, "promote": 0.2}
    wide["ratios"] = bench.ratios(wide["results"])
    startup = {
        "runs": 2,
        "delta_jars": "spark.jars (local paths)",
        "import_s": 0.5,
        "session_s": 5.0,
        "first_delta_read_s": 3.0,
        "to_first_read_s": 8.5,
        "process_wall_s": 9.5,
    }
    report = {
        **small,
        "synth_seconds": 7.0,
        "synth_note": "x",
        "scaling": bench.scaling(small, large),
        "scales": [small, large],
        "startup": startup,
        "wide": wide,
        "repeats": 1,
        "command": "anonymizer bench",
        "machine": {
            k: "?"
            for k in (
                "nproc",
                "ram_gib",
                "platform",
                "python",
                "java",
                "spark",
                "spark_master",
                "shuffle_partitions",
                "driver_memory",
                "delta-spark",
                "pandas",
                "pyarrow",
                "numpy",
                "Faker",
            )
        },
    }
    assert report["ratios"]["anonymize_vs_copy"] == 2.0
    assert report["ratios"]["anonymize_vs_udf"] == 50.0
    # full-run steps against the copy of the same tables (copy 1 s): gate 0.4 s -> 0.4, check 1.5 s -> 1.5
    assert report["ratios"]["gate_vs_copy"] == 0.4 and report["ratios"]["checks_vs_copy"] == 1.5
    assert report["ratios"]["step_promote_vs_copy"] == 0.2
    # floors against the copy, steps against their floors; the run's data floor is gate 0.2 + anonymize (a copy,
    # 1 s) + checks 1.25 + risk 0.5 + promote (its own 0.2 s, less than a copy) = 3.15 s
    assert report["ratios"]["floor_checks_vs_copy"] == 1.25 and report["ratios"]["floor_risk_vs_copy"] == 0.5
    assert report["ratios"]["step_gate_vs_floor"] == 2.0 and report["ratios"]["step_check_vs_floor"] == 1.2
    assert report["ratios"]["full_run_floor_vs_copy"] == 3.15 and report["ratios"]["full_run_vs_floor"] == 0.635
    assert "step_risk_vs_floor" not in report["ratios"]  # the full run's parts have no risk step here
    assert report["scaling"]["step_time_ratios"] == {"gate": 10.0, "anonymize": 10.0, "check": 10.0, "promote": 13.0}
    report["targets"] = bench.evaluate_targets(report)
    targets = {t["target"]: t["met"] for t in report["targets"]}
    scaling = next(t for t in report["targets"] if t["target"] == "scaling")
    assert scaling["value"] == 12.0 and scaling["threshold"] == "<= 11"  # x12 time for x10 rows: a miss
    assert targets == {
        "anonymize_vs_copy": True,
        "anonymize_vs_copy_stretch": False,
        "anonymize_vs_seed": False,
        "anonymize_vs_udf": True,
        "risk_vs_copy": False,
        "full_run_vs_copy": True,  # 2 s of full run for 1 s of copy
        "full_run_vs_copy_stretch": True,
        "gate_vs_copy": True,
        "checks_vs_copy": False,  # 1.5 x copy
        "wide_full_run_vs_copy": True,
        "wide_gate_vs_copy": True,  # exactly 0.5
        "wide_checks_vs_copy": True,
        "scan_vs_copy": False,  # 2 s of scan for 1 s of copy
        "scaling": False,
        "scaling_full_run": False,  # x12 for x10 rows
        "scaling_steps": False,  # the worst step (promote x13) decides
        "generation_rows_per_s": False,
        "synth_seconds": True,
    }
    text = bench.markdown(report)
    assert "| target | value | met |" in text and "MISS" in text and "Scaling 10 -> 100" in text
    assert "## Start-up (fresh process, outside every step)" in text and "Spark session 5.00 s" in text
    assert "## Wide schema: 10 claims (1,000 rows in 2 tables)" in text
    assert "| check | 1.50 | 1.500 | 1.20 |" in text and "Full run per step: gate x10" in text
    assert "| promote | 0.20 | 0.200 | n/a |" in text  # no floor of its own (the copy is)
    assert "| full_run_floor_vs_copy | 3.15 |" in text


def test_run_facts_keep_what_the_risk_step_did() -> None:
    """Suppression counts only when it was applied; a report without a risk section gives empty facts."""
    risk = {
        "seconds": {"measure": 20.0, "suppress": 9.0, "total": 29.0},
        "after": {"k_min_observed": 5},
        "suppression": {"applied": True, "subjects": 7, "cells": 65},
    }
    assert bench.run_facts({"risk": risk}) == {
        "risk_seconds": {"measure": 20.0, "suppress": 9.0, "total": 29.0},
        "k_min_observed": 5,
        "suppressed_subjects": 7,
        "suppressed_cells": 65,
    }
    risk["suppression"] = {"applied": False, "subjects": 7, "cells": 65}  # needed, not applied (the run failed)
    assert bench.run_facts({"risk": risk})["suppressed_subjects"] == 0
    assert bench.run_facts({}) == {
        "risk_seconds": None,
        "k_min_observed": None,
        "suppressed_subjects": 0,
        "suppressed_cells": 0,
    }


def test_memory_probe_reports_this_process() -> None:
    probe = bench.MemoryProbe()
    if not probe.enabled:
        pytest.skip("no /proc on this platform")
    with probe.measure() as mem:
        block = bytearray(64 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
    assert mem["peak_rss_mb"] is not None and mem["peak_rss_mb"] >= 64
    assert mem["peak_tree_rss_mb"] is not None and mem["peak_tree_rss_mb"] >= 64


@pytest.mark.spark
@pytest.mark.slow
def test_bench_smoke(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole harness end to end at 2,000 visits in the shared session: report complete and sane.

    Every variant runs for real, the full pipeline included; a spy on ``run_pipeline`` checks what the bench
    hands it: a fresh run id per repeat and the same key every time. Also the start-up line (one fresh process)
    and the wide scenario at 40 claims.
    """
    from anonymizer import cli
    from anonymizer.cli import main

    calls: list[tuple[str, str]] = []
    real_run_pipeline = cli.run_pipeline

    def run_pipeline(ctx: Any, run_id: str, log: Any, *, allow_empty: bool = False) -> dict[str, object]:
        calls.append((run_id, ctx.keyring.fingerprint()))
        return real_run_pipeline(ctx, run_id, log, allow_empty=allow_empty)

    monkeypatch.setattr(cli, "run_pipeline", run_pipeline)
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--visits",
            "2000",
            "--repeats",
            "1",
            "--udf-rows",
            "300",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--skip-synth",
            "--no-warmup",
            "--startup-runs",
            "1",
            "--wide-rows",
            "40",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["visits"] == 2000
    assert (tmp_path / "bench.md").read_text().startswith("# Anonymization benchmark")
    for name in VARIANT_KEYS:
        res = report["results"][name]
        assert res["seconds"] > 0 and res["rows_per_s"] > 0 and res["rows"] > 0, name
        assert res["peak_rss_mb"] is None or res["peak_rss_mb"] > 0
    assert report["results"]["udf_baseline"]["rows"] == 300
    assert report["results"]["copy"]["rows"] == sum(v for k, v in report["scales"][0]["rows"].items() if k != "total")
    assert set(RATIO_KEYS) <= set(report["ratios"]) and all(report["ratios"][k] > 0 for k in RATIO_KEYS)
    assert isinstance(report["seed_pk_collisions"], int) and report["seed_pk_collisions"] >= 0
    assert set(report["seed_pk_collisions_by_table"]) == {"dim_patients", "dim_hospitals", "dim_doctors", "fact_visits"}
    assert report["generation"]["seconds"] > 0 and report["generation"]["rows_per_s"] > 0
    assert report["synth_seconds"] is None and report["scaling"] is None
    assert {t["target"] for t in report["targets"]} == {t[0] for t in bench.TARGETS}
    assert report["machine"]["nproc"] and report["machine"]["spark"].startswith("4.")
    # warm-up skipped and one repeat: one full run, published (the bench raises otherwise)
    # one full run of the medical schema, then one of the wide schema: fresh run ids, the same key
    assert len(calls) == 2 and len({run_id for run_id, _ in calls}) == 2 and len({fp for _, fp in calls}) == 1
    assert report["results"]["full_run"]["parts"]["check"] > 0
    # the floors ran as parts; the full run kept its risk facts per run, outside the parts that add up to it
    floor_parts, run_parts = report["results"]["floors"]["parts"], report["results"]["full_run"]["parts"]
    assert all(floor_parts[p] > 0 for p in ("gate", "checks", "risk")) and report["ratios"]["step_risk_vs_floor"] > 0
    copy_s = report["results"]["copy"]["seconds"]
    run_floor = floor_parts["gate"] + copy_s + floor_parts["checks"] + floor_parts["risk"]
    run_floor += min(copy_s, run_parts["promote"])
    assert report["ratios"]["full_run_floor_vs_copy"] == round(run_floor / copy_s, 3)
    (facts,) = report["results"]["full_run"]["facts"]
    assert facts["k_min_observed"] >= 1 and facts["risk_seconds"]["total"] > 0 and facts["suppressed_subjects"] >= 0
    assert report["results"]["full_run"]["parts"]["scan"] > 0  # the run scans before it promotes
    # the parts add up to the run: the start (lock, recovery) and what no step times are parts of their own
    parts = report["results"]["full_run"]["parts"]
    assert parts["start"] > 0 and parts["outside_steps"] >= 0
    assert abs(sum(parts.values()) - report["results"]["full_run"]["seconds"]) < 1.0
    # start-up: one fresh process, reported on its own and not inside any step
    startup = report["startup"]
    assert startup["runs"] == 1 and startup["delta_jars"] in ("spark.jars (local paths)", "spark.jars.packages (Ivy)")
    assert 0 < startup["session_s"] < startup["to_first_read_s"] <= startup["process_wall_s"]
    md = (tmp_path / "bench.md").read_text()
    assert "## Start-up (fresh process, outside every step)" in md
    # every step of the full run against the copy of the same tables
    for step in ("gate", "anonymize", "check", "promote"):
        assert report["ratios"][f"step_{step}_vs_copy"] > 0, step
    assert report["ratios"]["gate_vs_copy"] == report["ratios"]["step_gate_vs_copy"]
    # the wide scenario: nine tables, copy / anonymize / full run, the run's steps against its copy
    wide = report["wide"]
    assert wide["scenario"] == "wide" and len(wide["rows"]) - 1 >= 8
    assert set(wide["results"]) == set(bench.WIDE_VARIANTS)
    assert wide["ratios"]["gate_vs_copy"] > 0 and wide["ratios"]["checks_vs_copy"] > 0
    assert "## Wide schema: 40 claims" in md
    wide_target = next(t for t in report["targets"] if t["target"] == "wide_gate_vs_copy")
    assert wide_target["value"] == wide["ratios"]["gate_vs_copy"] and wide_target["met"] is not None
