"""Floors: a part of what each data step of the run must compute, timed by the bench next to the steps themselves.

Why: the issues set targets against a plain copy (risk step <= 1x, gate <= 0.5x, checks <= 1x, full run <= 3x).
A copy reads and writes rows without moving them between tasks; the gate, the checks and the risk step must
bring rows of different scans or tables together, which on Spark is a shuffle (or a broadcast). Timing only
that part, in the same session and on the same tables as the copy, says how far a step is above it, and
whether a target is below it.

Each floor computes deliberately *less* than its step, in the fastest plain Spark formulation we found (a floor
for this engine and machine, not a proof that nothing faster exists; never an estimate of the step):

``gate``
    per table, in one aggregation over one read of it (as the gate's data pass): the rows beyond one per primary
    key (a distinct count) and the child rows with a foreign key set and no parent (each parent's distinct keys
    left-joined in). No NULL counts, no source numbers for the checks, no schema or tag reads, no bookkeeping.
``checks``
    all at once, on driver threads as the check step runs its jobs: each staged table joined with a same-sized
    Delta copy of itself on the primary key, counted (the pairing the row checks need: the step pairs the same
    number of rows, but re-derives the staged key from the source through the keyed transform first), and per
    staged table with foreign keys its orphans in one job (the staged keys the checks must prove resolvable).
    No value is compared, no NULL, format or overlap counted.
``risk``
    each subject's k under the contract's attacker model with one row known (k^1): the subject's known
    columns joined to its rows' known columns, distinct subjects per class, each subject's smallest class,
    counted per k. No l-diversity, no suppression, no re-measure, no report; subjects without rows, columns
    reached through a foreign key (``fk.column``) and per-subject aggregates are left out.

``anonymize`` writes every table, so the copy is its floor; ``promote`` is a plain ``INSERT OVERWRITE`` from
staging, so its own time is. The full run's data floor is therefore ``gate + copy + checks + risk + promote``
(:func:`full_run_floor`), before the run's fixed costs (session, run lock, journal, VACUUM, report) and its
content scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from anonymizer.contract import Contract

Reader = Callable[[str], "DataFrame"]


def _parallel(items: Sequence[Any], work: Callable[[Any], int]) -> int:
    """The job's own driver-thread helper: the steps run their tables side by side, so the floor does too."""
    from anonymizer.parallel import in_parallel

    return sum(in_parallel(list(items), work))


def _keys_pass(contract: Contract, read: Reader, table: str, *, primary_key: bool) -> int:
    """One aggregation over one read of ``table``: rows beyond one per primary key (``primary_key``) + orphans.

    An orphan is a row with any column of a foreign key set whose parent key is missing (the gate's rule).
    """
    from pyspark.sql import functions as F

    spec = contract.tables[table]
    df = read(table)
    aggs = [(F.count(F.lit(1)) - F.count_distinct(*[F.col(c) for c in spec.primary_key]))] if primary_key else []
    for i, fk in enumerate(spec.foreign_keys):
        names = [f"__p{i}_{j}" for j in range(len(fk.columns))]
        parent = read(fk.references.table).select(
            *[F.col(c).alias(n) for c, n in zip(fk.references.columns, names, strict=True)]
        )
        parent = parent.distinct().withColumn(f"__hit{i}", F.lit(True))
        on = [F.col(c) == F.col(n) for c, n in zip(fk.columns, names, strict=True)]
        df = df.join(parent, on, "left")
        any_set = F.lit(False)
        for c in fk.columns:
            any_set = any_set | F.col(c).isNotNull()
        aggs.append(F.sum((any_set & F.col(f"__hit{i}").isNull()).cast("long")))
    if not aggs:
        return 0
    return sum(int(v or 0) for v in df.agg(*aggs).collect()[0])


def gate(contract: Contract, read: Reader) -> int:
    """Rows beyond one per primary key plus orphan foreign-key rows, over every table (0 on a sound source)."""
    return _parallel(contract.dependency_order(), lambda t: _keys_pass(contract, read, t, primary_key=True))


def checks(contract: Contract, read_staged: Reader, read_copy: Reader) -> int:
    """Staged rows paired with their copy (= the staged row count) plus staged orphans, all jobs side by side."""

    def paired(table: str) -> int:
        pk = contract.tables[table].primary_key
        return int(read_staged(table).join(read_copy(table).select(*pk), list(pk)).count())

    def orphans(table: str) -> int:
        return _keys_pass(contract, read_staged, table, primary_key=False)

    tables = contract.dependency_order()
    jobs = [partial(paired, t) for t in tables] + [
        partial(orphans, t) for t in tables if contract.tables[t].foreign_keys
    ]
    return _parallel(jobs, lambda job: job())


def risk(contract: Contract, read: Reader) -> dict[int, int]:
    """Subjects per k (k^1 on the direct known columns): the class computation and nothing else.

    Distinct subjects per class as ``size(collect_set)`` over a window (NULL is a value, as in the risk step),
    then each subject's minimum. At 10M visits this was the fastest of four formulations tried (warm, on one
    staged lakehouse: 14.5-16.6 s; distinct-then-count 17.7-18.6 s, a broadcast class table 14.5-16.7 s, a
    shuffled class table 21.9-25.3 s).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    privacy = contract.privacy
    if privacy is None:
        return {}
    known = [c for c in privacy.known if "." not in c]
    d = read(privacy.subject.table).select(F.col(privacy.subject.key).alias("__s"), *known)
    cls = known
    if privacy.rows is not None:
        rows_known = [c for c in privacy.rows.known if "." not in c]
        rows = read(privacy.rows.table).where(F.col(privacy.rows.via).isNotNull())
        d = rows.select(F.col(privacy.rows.via).alias("__s"), *rows_known).join(d, "__s")
        cls = [*known, *rows_known]
    k = F.size(F.collect_set("__s").over(Window.partitionBy(*[F.col(c) for c in cls])))
    per = d.select("__s", k.alias("k")).groupBy("__s").agg(F.min("k").alias("k"))
    return {int(r["k"]): int(r["count"]) for r in per.groupBy("k").count().collect()}


def full_run_floor(parts: dict[str, float], copy_seconds: float, promote_seconds: float | None = None) -> float:
    """The run's data floor: gate, anonymize (a copy), checks, risk and promote (its own time when measured)."""
    promote = copy_seconds if promote_seconds is None else min(copy_seconds, promote_seconds)
    return parts.get("gate", 0.0) + copy_seconds + parts.get("checks", 0.0) + parts.get("risk", 0.0) + promote
