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

VARIANT_KEYS = ("copy", "seed_baseline", "udf_baseline", "anonymize", "risk", "content_scan", "full_run")
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
    report = {
        **small,
        "synth_seconds": 7.0,
        "synth_note": "x",
        "scaling": bench.scaling(small, large),
        "scales": [small, large],
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
        "scan_vs_copy": False,  # 2 s of scan for 1 s of copy
        "scaling": False,
        "generation_rows_per_s": False,
        "synth_seconds": True,
    }
    text = bench.markdown(report)
    assert "| target | value | met |" in text and "MISS" in text and "Scaling 10 -> 100" in text


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
    hands it: a fresh run id per repeat and the same key every time.
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
    assert len(calls) == 1 and report["results"]["full_run"]["parts"]["check"] > 0
    assert report["results"]["full_run"]["parts"]["scan"] > 0  # the run scans before it promotes
