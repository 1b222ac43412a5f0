"""Faults end to end: kill -9 mid-anonymize, mid-check and between two promoted tables; leftover staging; a
promotion that fails half-way; rollback. After recovery the final tables are the complete old or the
complete new snapshot, never a mix."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from anonymizer.contract import load_contract
from anonymizer.events import EventName
from anonymizer.journal import Journal
from anonymizer.pipeline import EXIT_CHECKS, EXIT_PROMOTE, EXIT_USAGE, StepFailed, StepLog

from .conftest import RUN_DAY, Lake

if TYPE_CHECKING:
    from anonymizer.context import Context

TABLES = list(load_contract().tables)


def snapshot(lake: Lake) -> dict[str, list[tuple[object, ...]]]:
    return {t: lake.rows(lake.target(t)) for t in TABLES}


def _run_id(point: str) -> str:
    """The killed run's id: fault points hold ':', which run ids may not."""
    return "killed-" + point.replace(":", "-")


def _kill_at(lake: Lake, point: str, tmp_path: Path) -> None:
    """Start `anonymizer run` in a child process, wait until it reaches ``point``, kill -9 it."""
    marker = tmp_path / "reached"
    env = dict(
        os.environ,
        ANONYMIZER_KEY=lake.key,
        ANONYMIZER_FAULT_PAUSE=point,
        ANONYMIZER_FAULT_MARKER=str(marker),
        PYSPARK_PYTHON=sys.executable,
    )
    # The child gets a new source so that, had it finished, the final tables would differ from now.
    child = subprocess.Popen(
        [
            *(sys.executable, "-m", "anonymizer.cli", "run", "--lakehouse", str(lake.root)),
            *("--run-id", _run_id(point), "--as-of", RUN_DAY),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 400
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"child ended before {point}: {child.stdout.read()[-3000:] if child.stdout else ''}")
            if time.monotonic() > deadline:
                pytest.fail(f"child never reached {point}")
            time.sleep(0.5)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        if child.stdout:
            child.stdout.close()


def _change_source(lake: Lake) -> None:
    ref = lake.runtime.ref(lake.source("dim_hospitals"))
    lake.runtime.sql(f"UPDATE {ref} SET address = concat(address, ' (new wing)')")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["anonymize:2", "check", "promote:2"])
def test_kill_9_then_next_run_recovers(
    lake: Lake, tmp_path: Path, point: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old = snapshot(lake)
    old_versions = lake.final_versions()
    _change_source(lake)
    _kill_at(lake, point, tmp_path)
    journal = Journal(lake.runtime, load_contract())
    assert journal.lock_holder()["holder"] == _run_id(point), "the killed run should still hold the lock"
    if point.startswith("promote"):
        # Two tables were overwritten, two were not: exactly the mixed state recovery must undo.
        now = lake.final_versions()
        assert sum(now[t] != old_versions[t] for t in TABLES) == 2
    # The next run takes over the dead run's lock, restores, and publishes the new snapshot.
    assert lake.cli("gate", "--run-id", "after-crash") == 0
    out = capsys.readouterr().out
    assert "died without releasing the lock" in out
    assert snapshot(lake) == old, "after recovery the final tables must be the complete old snapshot"
    if point.startswith("promote"):
        assert "recovered medical_anonymized.visits" in out
    for step in ("anonymize", "check", "risk", "promote"):  # the rest of the same run, as later job tasks would
        assert lake.cli(step, "--run-id", "after-crash") == 0, step
    new = snapshot(lake)
    changed = [t for t in TABLES if new[t] != old[t]]
    assert changed == ["dim_hospitals"], "the new snapshot is complete: only the changed table differs"


@contextlib.contextmanager
def _vetted_run(lake: Lake, run_id: str) -> Iterator[tuple[Context, StepLog, dict[str, Any]]]:
    """A run of a changed source through gate, anonymize, checks and risk, in this process with the lake's key
    (unset again afterwards): yields its context, log and the risk step's journal detail."""
    from anonymizer.context import Options, build_context
    from anonymizer.pipeline import anonymize_step, check_step, gate_step
    from anonymizer.risk_step import risk_step

    _change_source(lake)
    os.environ["ANONYMIZER_KEY"] = lake.key
    try:
        ctx = build_context(Options(lakehouse=str(lake.root), as_of=RUN_DAY))
        log = StepLog(lambda _: None)
        gate_step(ctx, run_id, log)
        anonymize_step(ctx, run_id, log)
        check_step(ctx, run_id, log)
        yield ctx, log, risk_step(ctx, run_id, log)
    finally:
        os.environ.pop("ANONYMIZER_KEY", None)


def test_promotion_failing_half_way_restores_every_table(lake: Lake) -> None:
    from anonymizer.pipeline import promote_step

    old = snapshot(lake)
    versions = lake.final_versions()
    with _vetted_run(lake, "half") as (ctx, log, _), pytest.raises(StepFailed) as info:
        promote_step(ctx, "half", log, fail_after=2)
    assert info.value.code == EXIT_PROMOTE and "restored" in str(info.value)
    assert snapshot(lake) == old
    assert all(lake.final_versions()[t] >= versions[t] for t in TABLES)
    assert Journal(lake.runtime, load_contract()).lock_holder()["holder"] is None


def test_scan_reads_the_vetted_staging_and_promote_refuses_a_later_change(lake: Lake) -> None:
    """The scan step reads the staging versions the checks and the risk step passed (no history re-read); a
    change to staging after them is never scanned in their place, and the promote step refuses it."""
    from anonymizer.content_scan import scan_staging
    from anonymizer.pipeline import promote_step, scan_step

    old = snapshot(lake)
    with _vetted_run(lake, "moved") as (ctx, log, risk):
        vetted = {k: int(v) for k, v in risk["staging_versions"].items()}
        # After vetting, staging's scanned kept column is rewritten with SSNs (a later writer, or a bug).
        ref = lake.runtime.ref(ctx.contract.staging_name("dim_doctors"))
        lake.runtime.sql(f"UPDATE {ref} SET specialization = 'SSN 212-34-5678 on file'")
        later = scan_staging(ctx.runtime, ctx.contract)  # staging's latest version: the SSNs are there ...
        assert [(f.table, f.column, f.pattern) for f in later.findings] == [("dim_doctors", "specialization", "ssn")]
        scanned = scan_step(ctx, "moved", log)  # ... the run's scan read what was vetted, not them
        assert scanned["findings"] == [] and scanned["sampled"]["dim_doctors"]["specialization"] > 0
        event = Journal(lake.runtime, ctx.contract).has("moved", EventName.SCAN_PASSED)
        assert event is not None and {k: int(v) for k, v in event.detail["staging_versions"].items()} == vetted
        with pytest.raises(StepFailed) as info:
            promote_step(ctx, "moved", log)
    assert info.value.code == EXIT_CHECKS and "is not the one run moved wrote and checked" in str(info.value)
    assert snapshot(lake) == old


def test_leftover_staging_is_never_promoted(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    c = load_contract()
    # A crashed run left junk in staging; a promote for a run that never checked it must refuse ...
    lake.runtime.sql(f"DELETE FROM {lake.runtime.ref(c.staging_name('dim_patients'))} WHERE patient_id % 2 = 0")
    before = lake.final_versions()
    assert lake.cli("promote", "--run-id", "never-checked") == EXIT_USAGE
    assert "no 'check_passed' event" in capsys.readouterr().err
    # ... and so must a promote of a checked run whose staging changed after the check.
    assert lake.cli("promote", "--run-id", "first") == EXIT_CHECKS
    assert "is not the one run first wrote and checked" in capsys.readouterr().err
    assert lake.final_versions() == before
    # A new run rebuilds staging from scratch and publishes complete tables.
    assert lake.cli("run") == 0
    assert (
        lake.runtime.read(c.target_name("dim_patients")).count()
        == lake.runtime.read(c.source_name("dim_patients")).count()
    )


def test_steps_as_separate_invocations_share_the_run_id(lake: Lake) -> None:
    for step in ("gate", "anonymize", "check", "risk", "promote", "report"):
        assert lake.cli(step, "--run-id", "tasks") == 0, step
    assert (lake.root / "reports" / "run-tasks.md").exists()


def test_rollback_restores_the_previous_run(lake: Lake) -> None:
    old = snapshot(lake)
    _change_source(lake)
    assert lake.cli("run", "--run-id", "second") == 0
    assert snapshot(lake) != old
    assert lake.cli("rollback") == 0
    assert snapshot(lake) == old


def test_rollback_task_restores_then_fails_the_job_run(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    from anonymizer.context import Options, build_context
    from anonymizer.pipeline import EXIT_ROLLED_BACK, rollback_after_failure

    old = snapshot(lake)
    c = load_contract()
    journal = Journal(lake.runtime, c)
    journal.acquire("job-7")
    versions = lake.final_versions()
    journal.record_many(
        [dict(run_id="job-7", event="promote_table_begin", table=t, before=v) for t, v in versions.items()]
        + [dict(run_id="job-7", event="promote_begin")]
    )
    lake.runtime.sql(f"DELETE FROM {lake.runtime.ref(c.target_name('fact_visits'))}")  # half-promoted garbage
    ctx = build_context(Options(lakehouse=str(lake.root)))
    with pytest.raises(StepFailed) as info:
        rollback_after_failure(ctx, "job-7", StepLog(lambda _: None))
    assert info.value.code == EXIT_ROLLED_BACK
    assert snapshot(lake) == old
    assert Journal(lake.runtime, c).lock_holder()["holder"] is None
