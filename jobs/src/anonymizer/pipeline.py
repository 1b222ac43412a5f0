"""The job's steps: gate -> anonymize -> check -> promote, plus rollback and recovery.

Each step is callable on its own (one Databricks task each, sharing the job run id) or in one process
(``anonymizer run``). Every step verifies that the step before it succeeded *for the same run id* and that
the staged tables it is about to trust are the very Delta versions that were checked, so a leftover staging
table of a crashed run can never be promoted.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonymizer import __version__, release, retention
from anonymizer.checks import CheckContext, as_dicts, run_checks
from anonymizer.context import Context
from anonymizer.errors import (
    AnonymizerError,
    Busy,
    ChecksFailed,
    ExitCode,
    GateFailed,
    IdentifiersFound,
    KeyMismatch,
    PromotionFailed,
    RolledBack,
    StepFailed,
    UsageError,
)
from anonymizer.gate import GateResult, run_gate
from anonymizer.journal import EventName, Journal, LockBusy
from anonymizer.parallel import in_parallel
from anonymizer.runtime import Commit
from anonymizer.tables import contract_columns, foreign_keys

# Aliases of ExitCode, kept for callers that imported them from here.
EXIT_OK = ExitCode.OK
EXIT_USAGE = ExitCode.USAGE
EXIT_GATE = ExitCode.GATE
EXIT_CHECKS = ExitCode.CHECKS
EXIT_BUSY = ExitCode.BUSY
EXIT_PROMOTE = ExitCode.PROMOTE
EXIT_ROLLED_BACK = ExitCode.ROLLED_BACK
EXIT_KEY = ExitCode.KEY

__all__ = ["StepFailed", "StepLog"]  # StepFailed: the base of every step outcome, re-exported for callers


@dataclass
class StepLog:
    """Progress lines (table, rows, seconds) and timings, shared by all steps of one process."""

    emit: Callable[[str], None] = print
    durations: dict[str, float] = field(default_factory=dict)

    def line(self, text: str) -> None:
        self.emit(text)

    def timed(self, name: str, started: float) -> float:
        took = time.perf_counter() - started
        self.durations[name] = round(self.durations.get(name, 0.0) + took, 3)
        return took


def fault_point(name: str) -> None:
    """Crash-test hook: when ``ANONYMIZER_FAULT_PAUSE`` names this point, signal and wait to be killed.

    The end-to-end tests kill -9 the process here (mid-anonymize, mid-check, between two promoted tables)
    and assert that the next run recovers. Unset in production, where it costs one dict lookup.
    """
    if os.environ.get("ANONYMIZER_FAULT_PAUSE") != name:
        return
    marker = os.environ.get("ANONYMIZER_FAULT_MARKER")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(600)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def journal_for(ctx: Context) -> Journal:
    """The process's journal (one cache of events shared by the steps of ``anonymizer run``)."""
    if ctx.journal is None:
        ctx.journal = Journal(ctx.runtime, ctx.contract)
    return ctx.journal


def recover(ctx: Context, journal: Journal, log: StepLog) -> list[str]:
    """Restore every final table touched by a promotion that never finished. Runs before anything else."""
    recovered = []
    for run_id in journal.interrupted_promotions():
        versions = journal.versions_before(run_id)
        for table, version in versions.items():
            name = ctx.contract.target_name(table)
            if ctx.runtime.exists(name) and ctx.runtime.version(name) != version:
                ctx.runtime.restore(name, version)
                log.line(f"  recovered {name} to version {version} (run {run_id} was interrupted while promoting)")
        journal.record(run_id, EventName.RECOVERED, detail={"tables": versions})
        recovered.append(run_id)
    return recovered


def begin(ctx: Context, run_id: str, log: StepLog) -> Journal:
    """Take the run lock (same run id = a later task of the same run) and recover interrupted runs."""
    journal = journal_for(ctx)
    try:
        taken_over = journal.acquire(run_id)
    except LockBusy as exc:
        raise Busy(f"another anonymization run is in progress: {exc.message}", fix=exc.fix) from None
    if taken_over:
        log.line(f"  run {taken_over} died without releasing the lock; taking over and recovering")
        journal.record(taken_over, EventName.RUN_ABANDONED, detail={"taken_over_by": run_id})
    recover(ctx, journal, log)
    # A later step (maybe another task of the run) reads the source snapshot this run's gate read.
    gated = journal.has(run_id, EventName.GATE_PASSED)
    pinned = gated.detail.get("source_versions", {}) if gated is not None else None
    ctx.source_versions = {t: int(v) for t, v in pinned.items()} if pinned is not None else None
    return journal


def gate_step(ctx: Context, run_id: str, log: StepLog, *, allow_empty: bool = False) -> GateResult:
    started = time.perf_counter()
    journal = begin(ctx, run_id, log)
    journal.record(run_id, EventName.RUN_STARTED, contract_sha256=ctx.contract_sha256, code_version=__version__)
    # Timed apart from the gate: the run lock, the recovery of interrupted runs and the first journal commit
    # are the run's start, whatever it checks (two Delta commits and two reads: 3.7-4.3 s of a local run).
    log.timed("start", started)
    started = time.perf_counter()
    result = run_gate(ctx.runtime, ctx.contract, ctx.contract_sha256, allow_empty=allow_empty)
    for finding in result.findings:
        log.line("  " + finding.render())
    if result.patch:
        path = report_dir(ctx) / "contract-patch.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.patch)
        log.line(f"  suggested contract patch written to {path}:")
        for line in result.patch.splitlines():
            log.line("    " + line)
    took = log.timed("gate", started)
    journal.record(run_id, EventName.GATE_PASSED if result.passed else EventName.GATE_FAILED, detail=result.as_dict())
    ctx.source_versions = result.source_versions if result.passed else None
    log.line(f"gate: {'passed' if result.passed else 'FAILED'} ({len(result.findings)} findings) {took:.1f} s")
    if not result.passed:
        journal.release(run_id)
        raise GateFailed(
            "the live source differs from the contract; nothing was written",
            fix="see the findings above (and the suggested contract patch, if any)",
        )
    return result


def _require(journal: Journal, run_id: str, event: EventName, step: str) -> Any:
    found = journal.has(run_id, event)
    if found is None:
        raise UsageError(
            f"{step}: run {run_id} has no '{event.value}' event",
            fix="run the previous step first with the same --run-id",
        )
    return found


def _check_key(ctx: Context, journal: Journal, rotate_key: bool) -> str:
    fingerprint = ctx.keyring.key_id()  # fingerprint+ALGORITHM_VERSION: a new mapping version is a rotation too
    last = journal.last_committed()
    if last and last.key_fingerprint and last.key_fingerprint != fingerprint and not rotate_key:
        raise KeyMismatch(
            f"the key or the anonymization algorithm version differs from the last published run's ({last.run_id}): "
            "every anonymized id would change",
            fix="use the same key and version, or pass --rotate-key to re-key on purpose",
        )
    return fingerprint


def anonymize_step(ctx: Context, run_id: str, log: StepLog) -> dict[str, int]:
    from anonymizer.engine import anonymize_table
    from anonymizer.privacy import generalize_staged

    journal = begin(ctx, run_id, log)
    _require(journal, run_id, EventName.GATE_PASSED, "anonymize")
    fingerprint = _check_key(ctx, journal, ctx.opts.rotate_key)
    versions: dict[str, int] = {}
    staged_rows: dict[str, int] = {}
    done_lock = threading.Lock()
    started = time.perf_counter()
    as_of = release.run_date(ctx.opts.as_of)

    def one(table: str) -> None:
        begun = time.perf_counter()
        name = ctx.contract.staging_name(table)
        columns = contract_columns(ctx.contract, table)
        if ctx.runtime.exists(name) and ctx.runtime.columns(name) != columns:
            ctx.runtime.drop(name)  # staging from an older contract: rebuild it from the contract
        ctx.runtime.create_table(name, columns)
        retention.apply_properties(ctx.runtime, name, ctx.contract.settings.retention)
        source = ctx.read_source(table)
        out = anonymize_table(source, ctx.contract, table, ctx.keyring)
        out = release.publishable(out, ctx.contract, table, as_of)  # withhold events still in the window
        # generalize after the release filter: membership depends on the exact shifted date, never a coarsened one
        out = generalize_staged(out, ctx.contract, table)
        ctx.runtime.overwrite(name, out, [c.name for c in columns])
        commit = ctx.runtime.last_commit(name)
        rows = commit.rows if commit.rows is not None else ctx.runtime.read(name).count()
        log.line(f"  anonymized {table:<24} {rows:>10,} rows {time.perf_counter() - begun:6.1f} s -> {name}")
        with done_lock:
            versions[table] = commit.version
            staged_rows[table] = rows
            finished = len(versions)
        fault_point(f"anonymize:{finished}")

    with ctx.runtime.commit_note(run_id):
        in_parallel(ctx.contract.dependency_order(), one)
    log.timed("anonymize", started)
    release_plan = release.plan(ctx.contract, as_of)
    journal.record(
        run_id,
        EventName.ANONYMIZED,
        key_fingerprint=fingerprint,
        detail={"staging_versions": versions, "staging_rows": staged_rows, "release": release_plan},
    )
    return versions


def _staging_matches(ctx: Context, run_id: str, versions: dict[str, int]) -> dict[str, Commit]:
    """Every staging table's last commit is the one this run recorded (its Delta logs read concurrently).

    Returns those commits: a step reads the tables at exactly these versions and takes their row counts from
    them instead of reading each history again.
    """

    def last(table: str) -> Commit | None:
        name = ctx.contract.staging_name(table)
        return ctx.runtime.last_commit(name) if ctx.runtime.exists(name) else None

    matched: dict[str, Commit] = {}
    for (table, version), commit in zip(versions.items(), in_parallel(list(versions), last), strict=True):
        if commit is None or commit.note != run_id or commit.version != version:
            raise ChecksFailed(
                f"staging table {ctx.contract.staging_name(table)} is not the one run {run_id} wrote and checked",
                fix="re-run the job from the gate",
            )
        matched[table] = commit
    return matched


def key_aligner(ctx: Context) -> Callable[[Any, str], Any]:
    """Source df -> source df plus ``__anon_<pk>`` columns, using the anonymize step's own key transform."""
    from anonymizer.engine import with_anonymized_keys

    def align(df: Any, table: str) -> Any:
        return with_anonymized_keys(df, ctx.contract, table, ctx.keyring)

    return align


def check_step(ctx: Context, run_id: str, log: StepLog) -> list[dict[str, Any]]:
    started = time.perf_counter()
    journal = begin(ctx, run_id, log)
    anonymized = _require(journal, run_id, EventName.ANONYMIZED, "check")
    versions = {k: int(v) for k, v in anonymized.detail["staging_versions"].items()}
    _staging_matches(ctx, run_id, versions)
    fault_point("check")
    context = check_context(ctx, run_id)
    checks = run_checks(context)
    for check in checks:
        if not check.passed:
            log.line("  " + check.render())
    failed = [c for c in checks if not c.passed]
    took = log.timed("check", started)
    journal.record(
        run_id,
        EventName.CHECK_FAILED if failed else EventName.CHECK_PASSED,
        detail={"staging_versions": versions, "checks": as_dicts(checks), "source_side_from_gate": context.reused},
    )
    log.line(
        f"check: {len(checks) - len(failed)}/{len(checks)} passed "
        f"({len(context.reused)} source-side measurements reused from the gate) {took:.1f} s"
    )
    if failed:
        raise ChecksFailed(
            f"{len(failed)} check(s) failed on staging; nothing was promoted", fix="see the failed checks above"
        )
    return as_dicts(checks)


def _vetted_versions(ctx: Context, journal: Journal, run_id: str, step: str) -> dict[str, int]:
    """Staging versions the run's checks (and, with a privacy section, its risk step) passed.

    Why the risk step's: its suppression rewrites staging after the checks, so the versions to trust are the
    ones it recorded.
    """
    passed = _require(journal, run_id, EventName.CHECK_PASSED, step)
    if ctx.contract.privacy is not None:
        passed = _require(journal, run_id, EventName.RISK_PASSED, step)
    return {k: int(v) for k, v in passed.detail["staging_versions"].items()}


def _vetted_staging(ctx: Context, journal: Journal, run_id: str, step: str) -> dict[str, Commit]:
    """The vetted versions (:func:`_vetted_versions`), each still its staging table's latest commit; refuse any
    other."""
    return _staging_matches(ctx, run_id, _vetted_versions(ctx, journal, run_id, step))


def scan_step(ctx: Context, run_id: str, log: StepLog) -> dict[str, Any]:
    """Content scan of the checked staging tables (see :mod:`anonymizer.content_scan`); stops before promotion.

    Raises :class:`IdentifiersFound` (exit 10) when a column's rate of a pattern is above its threshold and the
    contract does not acknowledge it. Findings are journaled with masked examples only.
    """
    from anonymizer.content_scan import scan_staging

    started = time.perf_counter()
    journal = begin(ctx, run_id, log)
    # The scan reads the vetted versions themselves (a Delta version never changes), so it sees exactly what
    # the checks and the risk step passed; the promote step then refuses staging that moved past them. So
    # no history is re-read here (four reads cost 0.3-0.4 s at 1M visits); the anonymize step's row counts
    # size the sample (suppression rewrites values, never rows).
    versions = _vetted_versions(ctx, journal, run_id, "scan")
    anonymized = journal.has(run_id, EventName.ANONYMIZED)
    rows = {k: int(v) for k, v in (anonymized.detail.get("staging_rows") or {}).items()} if anonymized else {}
    result = scan_staging(ctx.runtime, ctx.contract, ctx.source_versions, versions, rows)
    for finding in result.findings:
        log.line("  " + finding.render())
    blocking = result.blocking
    took = log.timed("scan", started)
    journal.record(
        run_id,
        EventName.SCAN_FAILED if blocking else EventName.SCAN_PASSED,
        detail={"staging_versions": versions, **result.as_dict()},
    )
    columns = sum(len(c) for c in result.sampled.values())
    log.line(
        f"scan: {len(result.findings)} finding(s), {len(blocking)} blocking, {columns} column(s) sampled {took:.1f} s"
    )
    if blocking:
        journal.release(run_id)
        first = blocking[0]
        raise IdentifiersFound(
            f"identifiers found in {len(blocking)} column/pattern(s) about to be published, e.g. "
            f"{first.table}.{first.column}: {first.pattern} at rate {first.rate:.4%} (example {first.example}); "
            "nothing was promoted",
            fix="anonymize the column in the contract (or fix its classification); if the content is intended, "
            f"acknowledge it under tables.{first.table}.columns.{first.column}.scan.acknowledged with a reason",
        )
    return result.as_dict()


def check_context(ctx: Context, run_id: str) -> CheckContext:
    """The checks' context for a run: source rows compared per the release plan its anonymize step recorded."""
    journal = journal_for(ctx)
    anonymized = journal.has(run_id, EventName.ANONYMIZED)
    plan = anonymized.detail.get("release") if anonymized else None
    checks = CheckContext(
        ctx.runtime,
        ctx.contract,
        key_aligner(ctx),
        source_versions=ctx.source_versions,
        gate_numbers=_gate_numbers(ctx, journal.has(run_id, EventName.GATE_PASSED)),
    )
    return release.attach(checks, ctx.keyring, plan)


def _gate_numbers(ctx: Context, gated: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The source-side numbers the run's gate measured, if they are of the snapshot this step reads."""
    if gated is None or ctx.source_versions is None:
        return {}
    if {t: int(v) for t, v in gated.detail.get("source_versions", {}).items()} != ctx.source_versions:
        return {}
    measured = gated.detail.get("source_numbers", {})
    return {(kind, t): numbers for t, by_kind in measured.items() for kind, numbers in by_kind.items()}


def _ensure_final(ctx: Context, table: str) -> str:
    name = ctx.contract.target_name(table)
    if not ctx.runtime.exists(name):
        ctx.runtime.create_table(name, contract_columns(ctx.contract, table))
        ctx.runtime.declare_keys(
            name, ctx.contract.tables[table].primary_key, foreign_keys(ctx.contract, table, "target")
        )
    return name


def promote_step(
    ctx: Context, run_id: str, log: StepLog, *, fail_after: int | None = None
) -> dict[str, tuple[int, int]]:
    """Staging -> final, all tables or none. ``fail_after`` (tests) raises after that many tables."""
    journal = begin(ctx, run_id, log)
    vetted = {table: commit.version for table, commit in _vetted_staging(ctx, journal, run_id, "promote").items()}
    scanned = journal.has(run_id, EventName.SCAN_PASSED)
    if scanned is None or {k: int(v) for k, v in scanned.detail["staging_versions"].items()} != vetted:
        scan_step(ctx, run_id, log)  # a job without a scan task still never promotes unscanned staging
    tables = ctx.contract.dependency_order()

    names = {t: _ensure_final(ctx, t) for t in tables}  # in dependency order: a foreign key needs its parent

    def prepare(name: str) -> int:
        """The contract's retention on the final table, then its version before this run."""
        retention.apply_properties(ctx.runtime, name, ctx.contract.settings.retention)
        return ctx.runtime.version(name)

    before = dict(zip(tables, in_parallel([names[t] for t in tables], prepare), strict=True))
    # One commit: the versions to restore become durable together with the intent to promote.
    journal.record_many(
        [dict(run_id=run_id, event=EventName.PROMOTE_TABLE_BEGIN, table=t, before=v) for t, v in before.items()]
        + [dict(run_id=run_id, event=EventName.PROMOTE_BEGIN, detail={"versions_before": before})]
    )
    done: dict[str, tuple[int, int]] = {}
    try:
        # Sequential on purpose: each table is one Delta commit, and the crash tests stop between two of them.
        for i, table in enumerate(tables):
            if fail_after is not None and i == fail_after:
                raise RuntimeError(f"injected failure after {i} promoted table(s)")
            fault_point(f"promote:{i}")
            started = time.perf_counter()
            cols = [c.name for c in contract_columns(ctx.contract, table)]
            ctx.runtime.overwrite(names[table], ctx.runtime.read(ctx.contract.staging_name(table)), cols)
            after = ctx.runtime.version(names[table])
            done[table] = (before[table], after)
            log.line(
                f"  promoted {names[table]:<40} v{before[table]} -> v{after} {log.timed('promote', started):6.1f} s"
            )
    except Exception as exc:
        restore_tables(ctx, before, log)
        reason = exc.message if isinstance(exc, AnonymizerError) else type(exc).__name__
        journal.record(run_id, EventName.ROLLED_BACK, detail={"reason": reason[:500], "versions": before})
        journal.release(run_id)
        raise PromotionFailed(
            f"promotion failed ({reason}); every final table was restored to its version before this run",
            fix="rerun the job; rerun with --debug for the cause if it fails again",
        ) from exc
    journal.record_many(
        [dict(run_id=run_id, event=EventName.PROMOTE_TABLE, table=t, before=b, after=a) for t, (b, a) in done.items()]
        + [
            dict(
                run_id=run_id,
                event=EventName.PROMOTE_COMMIT,
                key_fingerprint=ctx.keyring.key_id(),
                contract_sha256=ctx.contract_sha256,
                code_version=__version__,
                detail={"versions": {t: list(v) for t, v in done.items()}},
            )
        ]
    )
    started = time.perf_counter()
    retention.vacuum_after_promote(ctx.runtime, ctx.contract, journal, run_id, log.line)
    log.timed("vacuum", started)
    journal.release(run_id)
    return done


def restore_tables(ctx: Context, versions: dict[str, int], log: StepLog) -> None:
    for table, version in versions.items():
        name = ctx.contract.target_name(table)
        if ctx.runtime.exists(name) and ctx.runtime.version(name) != version:
            ctx.runtime.restore(name, version)
            log.line(f"  restored {name} to version {version}")


def rollback_after_failure(ctx: Context, run_id: str, log: StepLog) -> None:
    """The job's failure handler: undo this run's partial promotion, free the lock, then fail the run.

    A job run whose last task succeeds is reported as 'Succeeded with failures' and may not send the
    on-failure notification, so this always raises after cleaning up.
    """
    journal = journal_for(ctx)
    journal.ensure()
    versions = journal.versions_before(run_id)
    if versions and not journal.has(run_id, EventName.PROMOTE_COMMIT):
        restore_tables(ctx, versions, log)
        journal.record(run_id, EventName.ROLLED_BACK, detail={"versions": versions, "by": "rollback task"})
    if journal.lock_holder().get("holder") == run_id:
        journal.force_release()
    raise RolledBack(
        f"run {run_id} failed; final tables are at their versions before the run",
        fix="see the failed task's error, fix its cause and run the job again",
    )


def rollback_to_run(ctx: Context, run_id: str | None, log: StepLog) -> dict[str, int]:
    """Manual rollback: restore final tables to their versions before ``run_id`` (default: the last run)."""
    journal = journal_for(ctx)
    last = journal.last_committed()
    target = run_id or (last.run_id if last else None)
    if target is None:
        raise UsageError("no published run to roll back", fix="nothing to do: no run was ever published")
    versions = journal.versions_before(target)
    if not versions:
        raise UsageError(
            f"run {target} has no recorded promotion; nothing to roll back", fix="pass --to-run with a published run id"
        )
    retention.ensure_rollback_possible(journal.events(), target, ctx.contract.settings.retention)
    lock_id = f"rollback-{new_run_id()}"
    try:
        journal.acquire(lock_id)
    except LockBusy as exc:
        raise Busy(f"cannot roll back while a run is in progress: {exc.message}", fix=exc.fix) from None
    try:
        restore_tables(ctx, versions, log)
        journal.record(target, EventName.ROLLED_BACK, detail={"versions": versions, "by": "manual rollback"})
    finally:
        journal.release(lock_id)
    return versions


def report_dir(ctx: Context) -> Path:
    return Path(ctx.opts.report_dir) if ctx.opts.report_dir else ctx.lakehouse / "reports"
