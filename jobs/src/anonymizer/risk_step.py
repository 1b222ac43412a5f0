"""The ``risk`` step: measure re-identification risk on staging, suppress if declared, gate promotion.

Runs after ``check`` and before ``promote`` (inside ``anonymizer run``, or alone as ``anonymizer risk`` /
the ``anonymizer-risk`` wheel entry with the run's id). It reads only the staged tables the check step
verified (same run id, same Delta versions) and, for the "before generalization" histogram, the source.
When the thresholds hold and suppression was needed, it rewrites the affected staging tables (stamped with
the run id) and records their new versions in ``risk_passed``: promote trusts exactly those versions. When
they do not hold it records ``risk_failed`` and raises :class:`RiskAboveThreshold` (exit 9): nothing is
promoted and the published tables keep their Delta versions.
"""

from __future__ import annotations

import time
from typing import Any

from anonymizer.context import Context
from anonymizer.errors import RiskAboveThreshold
from anonymizer.journal import EventName, Journal
from anonymizer.parallel import in_parallel
from anonymizer.pipeline import StepLog, _require, _staging_matches, begin, report_dir
from anonymizer.risk import Assessment, Measure, assess


def earlier_before(journal: Journal, basis: dict[str, str]) -> tuple[Measure, dict[str, Any]] | None:
    """The newest "before generalization" measure a run of the same contract and source recorded, and its origin.

    Why: that measure reads the source at full precision, a second pass about as costly as the staged measure,
    and it only feeds the report (the before/after picture); nothing is decided on it. It changes when the
    contract's rules change, which a new SHA-256 says, so a scheduled run of an unchanged contract shows the
    last one, named by run id and time, instead of paying for it every night.
    """
    for event in reversed(journal.events()):
        if event.event not in (EventName.RISK_PASSED, EventName.RISK_FAILED):
            continue
        detail = event.detail
        if detail.get("before") and detail.get("before_basis") == basis:
            origin = detail.get("before_from") or {"run_id": event.run_id, "measured_at": event.ts.isoformat()}
            return Measure(**detail["before"]), origin
    return None


def risk_step(ctx: Context, run_id: str, log: StepLog, *, before: bool = True) -> dict[str, Any] | None:
    """Assess staging; return the recorded detail (None when the contract declares no privacy section)."""
    contract = ctx.contract
    if contract.privacy is None:
        return None
    started = time.perf_counter()
    journal = begin(ctx, run_id, log)
    done = journal.has(run_id, EventName.RISK_PASSED)
    if done is not None:  # a retried task of the same run: staging may already hold the suppressed rows
        log.line("risk: already passed for this run")
        return dict(done.detail)
    checked = _require(journal, run_id, EventName.CHECK_PASSED, "risk")
    versions = {k: int(v) for k, v in checked.detail["staging_versions"].items()}
    _staging_matches(ctx, run_id, versions)
    runtime = ctx.runtime

    def staged(table: str) -> Any:
        return runtime.read(contract.staging_name(table))

    def source(table: str) -> Any:
        return ctx.read_source(table)

    privacy = contract.privacy
    basis = {"contract_sha256": ctx.contract_sha256, "source": contract.source_name(privacy.subject.table)}
    reused = earlier_before(journal, basis) if before and privacy.measure_before == "when_contract_changes" else None
    result = assess(contract, staged, source if before and reused is None else None, log=log.line)
    if reused is not None:
        result.before, result.before_from = reused
        log.line(
            f"  before generalization: shown from run {reused[1]['run_id']} (same contract; "
            "privacy.measure_before: every_run measures it in each run)"
        )
    if result.passed and result.suppressed_tables:
        from anonymizer.tables import contract_columns

        def write(item: tuple[str, Any]) -> int:
            table, df = item
            name = contract.staging_name(table)
            runtime.overwrite(name, df, [c.name for c in contract_columns(contract, table)])
            log.line(f"  suppressed {result.suppression.get('subjects')} subjects' quasi-identifiers in {name}")
            return runtime.last_commit(name).version

        # The tables are written side by side, as the anonymize step writes them (at 10M: 3.1 s + 3.2 s in a row).
        with runtime.commit_note(run_id):
            written = in_parallel(list(result.suppressed_tables.items()), write)
        versions.update(zip(result.suppressed_tables, written, strict=True))
    detail = result.as_dict()
    detail["staging_versions"] = versions
    detail["before_basis"] = basis
    chart = _chart(ctx, run_id, result, log)
    if chart:
        detail["histogram_png"] = chart
    took = log.timed("risk", started)
    a = result.after
    log.line(
        f"risk: {'passed' if result.passed else 'FAILED'}: k={a.k_min_observed} (k_min {result.thresholds['k_min']}), "
        f"{a.below_k}/{a.subjects} subjects below, average risk {a.average_risk:.4f}, "
        f"suppressed {a.suppressed_subjects} {took:.1f} s"
    )
    if not result.passed:
        journal.record(run_id, EventName.RISK_FAILED, detail=detail)
        journal.release(run_id)
        for reason in result.reasons:
            log.line("  " + reason)
        for suggestion in result.suggestions:
            log.line("  suggested: " + suggestion)
        raise RiskAboveThreshold(
            "re-identification risk above the contract's threshold: "
            + "; ".join(result.reasons)
            + "; nothing was promoted",
            fix=(result.suggestions[0] if result.suggestions else "coarsen the quasi-identifiers in privacy.generalize")
            + " (full list in the run report)",
        )
    journal.record(run_id, EventName.RISK_PASSED, detail=detail)
    return detail


def _chart(ctx: Context, run_id: str, result: Assessment, log: StepLog) -> str | None:
    from anonymizer.risk_report import write_histogram

    folder = report_dir(ctx)
    try:
        path = write_histogram(result.as_dict(), folder / f"risk-{run_id}.png")
    except OSError as exc:
        log.line(f"  risk histogram not written ({exc.strerror})")
        return None
    if path is None:
        log.line("  risk histogram skipped: matplotlib is not installed (pip install matplotlib)")
        return None
    return path.name
