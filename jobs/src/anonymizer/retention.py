"""History and erasure: how long an old version of the dev copy stays readable, and the VACUUM that ends it.

Why: every published snapshot is readable through Delta time travel. A patient erased in production (right
to erasure) disappears from the *current* dev copy at the next run, but the versions before it still hold
that patient's pseudonymized rows until their data files are physically removed. So every staging and
published table carries two Delta properties from the contract (``settings.retention``):

- ``delta.deletedFileRetentionDuration``: how long a file that a newer version no longer references is kept.
  The job VACUUMs every table after each successful promotion, so such files are deleted at the first run
  after they are older than this.
- ``delta.logRetentionDuration``: how long commit entries (which carry per-file min/max statistics) are kept;
  Delta removes expired log files when it writes a checkpoint (every 10 commits by default).

Rollback needs the data files of the version before the run it undoes. A run's "before" versions stop being
referenced when that run promotes, so rollback works for every run promoted within the deleted-file
retention: the journal keeps every run's versions, and :func:`rollback_problem` refuses (with the reason) a
rollback whose files a VACUUM has already removed.

Delta's safety check (``spark.databricks.delta.retentionDurationCheck.enabled``) refuses a VACUUM horizon
shorter than the table's *own* ``delta.deletedFileRetentionDuration`` (168 h when unset). The job sets that
property from the contract before it vacuums, so a short contract retention needs no change to the check
(measured on Delta 4.0.1: property 0 hours + ``VACUUM RETAIN 0 HOURS`` passes with the check enabled; the same
VACUUM on a table left at the default fails). The job never disables the check; a platform that enforces its
own minimum makes the vacuum fail, which the journal (``vacuum_failed``) and the report show.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from anonymizer.errors import UsageError, first_line
from anonymizer.events import EventName

if TYPE_CHECKING:
    from anonymizer.contract import Contract
    from anonymizer.journal import Event, Journal
    from anonymizer.runtime import Runtime

DELTA_SAFETY_HOURS = 168  # Delta refuses VACUUM below this unless retentionDurationCheck is disabled
LOG_RETENTION = "delta.logRetentionDuration"
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
SAFETY_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"


class Retention(BaseModel):
    """``settings.retention`` of the contract (hours, so tests can use 0)."""

    model_config = ConfigDict(extra="forbid")
    deleted_file_retention_hours: int = Field(
        default=168, ge=0, le=24 * 3650, description="delta.deletedFileRetentionDuration and the VACUUM horizon"
    )
    log_retention_hours: int = Field(
        default=168, ge=0, le=24 * 3650, description="delta.logRetentionDuration (time-travel history)"
    )


class RollbackUnavailable(UsageError):
    """The run to undo is older than the retention window: its data files were vacuumed."""


def properties(retention: Retention) -> dict[str, str]:
    return {
        LOG_RETENTION: f"interval {retention.log_retention_hours} hours",
        DELETED_FILE_RETENTION: f"interval {retention.deleted_file_retention_hours} hours",
    }


def apply_properties(runtime: Runtime, uc_name: str, retention: Retention) -> bool:
    """Set the retention properties when they differ (one commit only then). Returns True when it changed.

    Call it before the table's data commit of the step: the staging check compares the *last* commit.
    """
    wanted = properties(retention)
    current = runtime.properties(uc_name)
    if all(current.get(k) == v for k, v in wanted.items()):
        return False
    runtime.set_properties(uc_name, wanted)
    return True


def vacuum(runtime: Runtime, uc_name: str, retention: Retention) -> None:
    """Physically delete data files unreferenced for longer than the deleted-file retention."""
    runtime.sql(f"VACUUM {runtime.ref(uc_name)} RETAIN {retention.deleted_file_retention_hours} HOURS").collect()


def vacuum_all(runtime: Runtime, contract: Contract, retention: Retention) -> dict[str, Any]:
    """VACUUM every published and staging table of the contract; returns numbers for the journal.

    A failure is returned, not raised: the run is already published; the report states that this run did
    not shorten history and the next successful run retries.
    """
    from anonymizer.parallel import in_parallel

    started = time.perf_counter()
    names = [
        n
        for t in contract.dependency_order()
        for n in (contract.target_name(t), contract.staging_name(t))
        if runtime.exists(n)
    ]

    def one(name: str) -> str | None:
        try:
            vacuum(runtime, name, retention)
            return None
        except Exception as exc:  # reported, never fatal for an already published run
            return first_line(exc)

    # Threads: each VACUUM is a few small Spark jobs (listing, anti-join); their fixed costs overlap.
    outcomes = in_parallel(names, one)
    tables = [n for n, err in zip(names, outcomes, strict=True) if err is None]
    failed = {n: err for n, err in zip(names, outcomes, strict=True) if err is not None}
    return {
        "retain_hours": retention.deleted_file_retention_hours,
        "log_retention_hours": retention.log_retention_hours,
        "vacuumed": tables,
        "failed": failed,
        "seconds": round(time.perf_counter() - started, 3),
    }


def guarantee(retention: Retention) -> str:
    """The erasure guarantee as one sentence for the report and README."""
    days = retention.deleted_file_retention_hours / 24
    return (
        "A row deleted in production is gone from every readable version of the dev copy (published and staging "
        f"tables) within {days:g} days ({retention.deleted_file_retention_hours} h) after the first run that no "
        "longer reads it, plus the time to the next successful run, which vacuums; transaction-log entries, "
        f"which hold per-file min/max statistics, expire after {retention.log_retention_hours} h and are removed "
        "at the next Delta checkpoint. Rollback works for runs promoted within the deleted-file retention."
    )


def rollback_problem(events: list[Event], run_id: str, retention: Retention) -> str | None:
    """Why rolling back ``run_id`` cannot work any more, or None.

    The files of the versions before ``run_id`` stopped being referenced when ``run_id`` promoted; a later
    VACUUM whose horizon (its time minus the retention) passed that moment deleted them.
    """
    commits = [e for e in events if e.run_id == run_id and e.event == EventName.PROMOTE_COMMIT]
    if not commits:
        return None
    promoted = commits[-1].ts
    horizon = dt.timedelta(hours=retention.deleted_file_retention_hours)
    for e in events:
        if e.event in (EventName.VACUUMED, EventName.VACUUM_FAILED) and e.ts >= promoted and e.ts - horizon > promoted:
            return (
                f"run {run_id} was promoted at {promoted:%Y-%m-%d %H:%M} and a vacuum at {e.ts:%Y-%m-%d %H:%M} "
                f"removed the files of the versions before it (deleted-file retention "
                f"{retention.deleted_file_retention_hours} h)"
            )
    return None


def ensure_rollback_possible(events: list[Event], run_id: str, retention: Retention) -> None:
    problem = rollback_problem(events, run_id, retention)
    if problem:
        raise RollbackUnavailable(
            problem,
            fix="roll back only runs promoted within settings.retention.deleted_file_retention_hours, or re-run "
            "the job on the source you want published",
        )


def vacuum_after_promote(
    runtime: Runtime, contract: Contract, journal: Journal, run_id: str, emit: Callable[[str], None]
) -> dict[str, Any]:
    """The promote step's last act: VACUUM, journaled (``vacuumed`` or ``vacuum_failed``) for report and rollback.

    The journal's own maintenance (:meth:`Journal.compact`) runs beside the VACUUMs, on another thread; like
    them it never fails an already published run: an error is journaled and the next run retries.
    """
    from anonymizer.parallel import in_parallel

    def compact_journal() -> dict[str, Any]:
        try:
            return journal.compact()
        except Exception as exc:
            return {"error": first_line(exc)}

    detail: dict[str, Any]
    compaction: dict[str, Any]
    detail, compaction = in_parallel(
        [lambda: vacuum_all(runtime, contract, contract.settings.retention), compact_journal], lambda work: work()
    )
    detail["journal"] = compaction
    journal.record(run_id, EventName.VACUUM_FAILED if detail["failed"] else EventName.VACUUMED, detail=detail)
    emit(
        f"  vacuumed {len(detail['vacuumed'])} tables (retain {detail['retain_hours']} h) {detail['seconds']:.1f} s"
        + (f"; FAILED on {', '.join(detail['failed'])}" if detail["failed"] else "")
        + (f"; journal compacted ({compaction['files']} files)" if compaction.get("compacted") else "")
        + (f"; journal compaction FAILED: {compaction['error']}" if "error" in compaction else "")
    )
    return detail


def report_section(contract: Contract, events: list[Any]) -> dict[str, Any]:
    r = contract.settings.retention
    vac = next((e for e in reversed(events) if e.event in (EventName.VACUUMED, EventName.VACUUM_FAILED)), None)
    return {
        "properties": properties(r),
        "deleted_file_retention_hours": r.deleted_file_retention_hours,
        "log_retention_hours": r.log_retention_hours,
        "guarantee": guarantee(r),
        "vacuum": None
        if vac is None
        else {"ok": vac.event == EventName.VACUUMED, "tables": len(vac.detail.get("vacuumed", [])), **vac.detail},
    }


def markdown(section: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    vac = section.get("vacuum")
    if vac is None:
        done = "no VACUUM in this run (it runs after a successful promotion)"
    elif vac["ok"]:
        done = f"VACUUM ran on {vac['tables']} tables (RETAIN {vac['retain_hours']} HOURS) in {vac['seconds']} s"
    else:
        done = f"VACUUM FAILED on {', '.join(vac['failed'])}: this run did not shorten history; the next run retries"
    props = ", ".join(f"`{k}` = `{v}`" for k, v in section["properties"].items())
    lines = ["", "## History and erasure", "", f"- {section['guarantee']}", f"- table properties: {props}", f"- {done}"]
    journal = (vac or {}).get("journal") or {}
    if "error" in journal:
        lines.append(f"- run journal compaction FAILED ({journal['error']}); the next run retries")
    elif journal.get("compacted"):
        lines.append(f"- run journal compacted: {journal['files']} files -> {journal['files_after']}")
    return lines


def summary(section: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    vac = section.get("vacuum") or {}
    return [
        f"retention: {section['deleted_file_retention_hours']} h deleted files / {section['log_retention_hours']} h "
        f"log; vacuum {'ok' if vac.get('ok') else 'not run or failed'}",
        "erasure: " + section["guarantee"],
    ]
