"""The least Spark work each data step of the run cannot avoid, timed by the bench next to the steps themselves.

Why: the issues set targets against a plain copy (risk step <= 1x, gate <= 0.5x, checks <= 1x, full run <= 3x).
A copy reads and writes rows without moving them between tasks; the gate, the checks and the risk step must
bring rows of different scans or tables together, which on Spark is a shuffle (or a broadcast). Timing only
that irreducible part, in the same session and on the same tables as the copy, says how far a step is from
what any implementation on this engine and machine must pay, and whether a target is below that floor.

Each floor computes deliberately *less* than its step, in the fastest plain Spark formulation we found (a floor
for this engine and machine, not a proof that nothing faster exists; never an estimate of the step):

``gate``
    per table: the rows whose primary key repeats (one aggregation by the key); per foreign key: the child
    rows without a parent (one anti-join). No NULL counts, no schema or tag reads, no bookkeeping.
``pairing``
    per table: the source rows joined with a same-sized Delta copy of themselves on the primary key, counted.
    The check step joins source rows with their *staged* rows, whose keys it must first re-derive through the
    keyed transform; the floor skips that transform and compares no value.
``staged_keys``
    the ``gate`` floor on the staged tables: the checks must prove that the keyed transform kept every primary
    key unique and every foreign key resolvable (one aggregate per table and one per foreign key, issue #15),
    which a correct engine implies but only a check shows. The checks' floor is ``pairing + staged_keys``
    (:func:`check_floor`); value comparisons, formats and overlaps come on top.
``risk``
    each subject's k under the contract's attacker model with one row known (k^1): the subject's known
    columns joined to its rows' known columns, distinct subjects per class, each subject's smallest class,
    counted per k. No l-diversity, no suppression, no re-measure, no report; a column reached through a
    foreign key (``fk.column``) and per-subject aggregates are left out (fewer columns, fewer joins).

``anonymize`` and ``promote`` write every table, so the copy itself is their floor; the full run's data
floor is therefore ``gate + copy + pairing + staged_keys + risk + copy`` (:func:`full_run_floor`), before the
run's fixed costs (session, run lock, journal, VACUUM, report) and its content scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from anonymizer.contract import Contract

Reader = Callable[[str], "DataFrame"]


def _parallel(items: Sequence[Any], work: Callable[[Any], int]) -> int:
    """The job's own driver-thread helper: the steps run their tables side by side, so the floor does too."""
    from anonymizer.parallel import in_parallel

    return sum(in_parallel(list(items), work))


def gate(contract: Contract, read: Reader) -> int:
    """Repeated primary keys plus orphan foreign-key rows over every table (0 on a consistent source)."""
    from pyspark.sql import functions as F

    def repeated(table: str) -> int:
        pk = contract.tables[table].primary_key
        return int(read(table).groupBy(*pk).count().where(F.col("count") > 1).count())

    def orphans(fk: tuple[str, Any]) -> int:
        table, ref = fk
        child = read(table).select(*ref.columns).where(F.coalesce(*[F.col(c).isNotNull() for c in ref.columns]))
        parent = read(ref.references.table).select(
            *[F.col(p).alias(c) for c, p in zip(ref.columns, ref.references.columns, strict=True)]
        )
        return int(child.join(parent, list(ref.columns), "left_anti").count())

    tables = contract.dependency_order()
    fks = [(t, fk) for t in tables for fk in contract.tables[t].foreign_keys]
    return _parallel(tables, repeated) + _parallel(fks, orphans)


def pairing(contract: Contract, read: Reader, read_copy: Reader) -> int:
    """Source rows paired with their rows in a copy on the primary key (= the source's row count)."""

    def paired(table: str) -> int:
        pk = contract.tables[table].primary_key
        return int(read(table).join(read_copy(table).select(*pk), list(pk)).count())

    return _parallel(contract.dependency_order(), paired)


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


def check_floor(parts: dict[str, float]) -> float:
    """The checks' floor: rows paired with their source rows, and the staged keys verified."""
    return parts.get("pairing", 0.0) + parts.get("staged_keys", 0.0)


def full_run_floor(parts: dict[str, float], copy_seconds: float) -> float:
    """The run's data floor: gate, anonymize (a copy), the checks' floor, risk and promote (a copy)."""
    return parts.get("gate", 0.0) + check_floor(parts) + parts.get("risk", 0.0) + 2 * copy_seconds
