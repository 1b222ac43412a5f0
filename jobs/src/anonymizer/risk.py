"""Re-identification risk of the staged copy under the contract's attacker model, computed in Spark.

Formulation (README "Re-identification risk" explains it for reviewers):

* **Equivalence classes on published values.** A subject's row class is the tuple of the *published* values of
  the declared quasi-identifiers: the subject's own (dob, per-subject aggregates) plus one row's (visit date,
  hospital pseudonym, a column one FK hop away). The class size is the number of *distinct subjects* with a
  row in it (exact: dedupe (subject, class), then a count window; no approximate counting). With
  ``rows_known: 1`` the attacker knows one of the subject's rows, so a subject's k is the minimum over its
  rows; subjects without rows get the size of their subject-level class.
* **Why that is conservative with date shifts.** The attacker knows the true dob and visit date and the shift
  range; the shift is one per subject, so (visit - dob) is exact and each shifted date lies within
  ``max_days`` of the truth. Everyone who shares the target's published values is consistent with what the
  attacker knows (same interval, same window, same hospital), so the true candidate set always *contains*
  the class: the measured k is a lower bound on the attacker's candidates. It treats the shift as if it
  gave no protection, which is what makes the generalizations necessary.
* **Suppression counts as "unknown".** A suppressed subject's suppressible columns carry a public marker
  (NULL or a declared value) in every row. A marker is consistent with anything, so: an unsuppressed row's
  candidates are its exact class plus every suppressed subject that matches it on the columns suppression
  leaves alone (e.g. the hospital); a suppressed row's candidates are every subject matching it on those.
* **Risk numbers.** Prosecutor risk of a subject = 1/k; average and maximum over subjects. The published copy
  holds every subject of the source (no sampling), so the journalist risk (population classes) equals the
  prosecutor risk here; it is lower only if the source itself is a sample of a larger population.
* **l-diversity.** For each declared sensitive attribute: distinct values (NULL is a value) per row class; a
  subject is exposed when one of its classes has fewer than ``l_min``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from anonymizer.privacy import GRAIN_DAYS, Coarsening, Privacy

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

    from anonymizer.contract import Contract

Reader = Callable[[str], "DataFrame"]
HIST_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 9), (10, 19), (20, 49), (50, 99), (100, None))
# The re-measure after suppression aggregates every subject again when more than this share of the subjects
# with rows is reached (see per_subject_suppressed).
REACHED_SHARE_FOR_ALL = 0.5
LADDER: tuple[Coarsening, ...] = (
    Coarsening(to="week"),
    Coarsening(to="month"),
    Coarsening(to="quarter"),
    Coarsening(to="year"),
    Coarsening(years=5),
    Coarsening(years=10),
    Coarsening(years=20),
)


@dataclass(frozen=True)
class QI:
    """One column of the class key: its alias in the frames, the contract column it reads, where it sits."""

    alias: str
    label: str  # table.column (or table.fk.parent_column)
    table: str  # table whose column is published (for hops: the parent table)
    column: str
    level: str  # "subject" or "row"


@dataclass
class Frames:
    subjects: DataFrame  # __s, subject QIs, subject sensitive, __m (all subject suppression columns at marker)
    rows: DataFrame | None  # __s, row QIs, row sensitive, __m (all row suppression columns at marker)
    qis: list[QI]
    sensitive: list[QI]
    suppressible: set[str]  # aliases of QIs suppression sets to the marker
    subject_markers: bool = False  # the subject table has suppression columns
    row_markers: bool = False  # the row table has suppression columns

    @property
    def subject_q(self) -> list[str]:
        return [q.alias for q in self.qis if q.level == "subject"]

    @property
    def row_q(self) -> list[str]:
        return [q.alias for q in self.qis if q.level == "row"]


@dataclass
class Measure:
    """What one risk computation found (counts only: never a value)."""

    subjects: int
    k_min_observed: int | None
    below_k: int
    uniques: int
    suppressed_subjects: int
    average_risk: float
    maximum_risk: float
    histogram: dict[str, int]  # subjects per k bucket
    l_diversity: dict[str, dict[str, Any]] = field(default_factory=dict)

    def share_below_k(self) -> float:
        return self.below_k / self.subjects if self.subjects else 0.0


# ------------------------------------------------------------------------------------------------------
# frames
# ------------------------------------------------------------------------------------------------------


def _project(
    read: Reader, contract: Contract, table: str, paths: dict[str, str], keep: dict[str, SparkColumn]
) -> DataFrame:
    """Rows of ``table`` with ``keep`` expressions and each path (``col`` or ``fk_col.parent_col``) resolved."""
    from pyspark.sql import functions as F

    df = read(table)
    spec = contract.tables[table]
    select = [expr.alias(alias) for alias, expr in keep.items()]
    hops: dict[int, list[tuple[str, str]]] = {}
    for alias, path in paths.items():
        if "." not in path:
            select.append(F.col(path).alias(alias))
            continue
        fk_col, parent_col = path.split(".", 1)
        index = next(i for i, fk in enumerate(spec.foreign_keys) if fk_col in fk.columns)
        hops.setdefault(index, []).append((alias, parent_col))
        select.append(F.col(alias))
    for index, wanted in hops.items():
        fk = spec.foreign_keys[index]
        ref = [f"__j{index}_{c}" for c in fk.references.columns]
        parent = read(fk.references.table).select(
            *[F.col(c).alias(r) for c, r in zip(fk.references.columns, ref, strict=True)],
            *[F.col(pc).alias(alias) for alias, pc in wanted],
        )
        cond = [df[c] == parent[r] for c, r in zip(fk.columns, ref, strict=True)]
        df = df.join(parent, cond, "left")
    return df.select(*select)


def _marker(contract: Contract, table: str, column: str, privacy: Privacy) -> SparkColumn | None:
    from pyspark.sql import functions as F

    if privacy.suppression is None:
        return None
    for s in privacy.suppression.columns:
        if s.column == f"{table}.{column}":
            sql_type = contract.tables[table].columns[column].type
            return F.lit(None).cast(sql_type) if s.set_null else F.lit(s.value).cast(sql_type)
    return None


def _all_markers(contract: Contract, privacy: Privacy, table: str, columns: list[str]) -> SparkColumn:
    """TRUE when every suppression column of ``table`` holds its marker (TRUE when it has none)."""
    from pyspark.sql import functions as F

    conds = []
    for column in columns:
        marker = _marker(contract, table, column, privacy)
        if marker is not None:
            conds.append(F.col(column).eqNullSafe(marker))
    if not conds:
        return F.lit(True)
    out = conds[0]
    for c in conds[1:]:
        out = out & c
    return out


def build_frames(read: Reader, contract: Contract, privacy: Privacy) -> Frames:
    """The subject and row frames the class computation runs on (lazy; one join per FK hop)."""
    from pyspark.sql import functions as F

    subj_table = privacy.subject.table
    qis: list[QI] = []
    sensitive: list[QI] = []

    def qi(prefix: str, i: int, table: str, path: str, level: str, into: list[QI]) -> str:
        alias = f"{prefix}{i}"
        if "." in path:
            fk_col, parent_col = path.split(".", 1)
            ref = contract.foreign_key_of(table, fk_col)
            assert ref is not None
            into.append(QI(alias, f"{table}.{path}", ref[0], parent_col, level))
        else:
            into.append(QI(alias, f"{table}.{path}", table, path, level))
        return alias

    supp_cols = {s.column for s in privacy.suppression.columns} if privacy.suppression else set()
    s_paths = {qi("q", i, subj_table, p, "subject", qis): p for i, p in enumerate(privacy.known)}
    s_paths |= {qi("x", i, subj_table, p, "subject", sensitive): p for i, p in enumerate(privacy.sensitive)}
    subj_supp = [c.split(".", 1)[1] for c in supp_cols if c.split(".", 1)[0] == subj_table]
    subjects = _project(
        read,
        contract,
        subj_table,
        s_paths,
        {"__s": F.col(privacy.subject.key), "__m": _all_markers(contract, privacy, subj_table, subj_supp)},
    )
    rows = None
    if privacy.rows is not None:
        r = privacy.rows
        r_paths = {qi("r", i, r.table, p, "row", qis): p for i, p in enumerate(r.known)}
        r_paths |= {qi("y", i, r.table, p, "row", sensitive): p for i, p in enumerate(r.sensitive)}
        row_supp = [c.split(".", 1)[1] for c in supp_cols if c.split(".", 1)[0] == r.table]
        keep: dict[str, SparkColumn] = {
            "__s": F.col(r.via),
            "__m": _all_markers(contract, privacy, r.table, row_supp),
        }
        for i, agg in enumerate(privacy.aggregates):
            if agg.column:
                keep[f"__a{i}"] = F.col(agg.column)
        full = _project(read, contract, r.table, r_paths, keep)
        if privacy.aggregates:
            from anonymizer.privacy import coarsen

            exprs = []
            for i, agg in enumerate(privacy.aggregates):
                if agg.function == "count":
                    exprs.append(F.count(F.lit(1)).alias(f"g{i}"))
                elif agg.function == "min":
                    exprs.append(F.min(f"__a{i}").alias(f"g{i}"))
                else:
                    exprs.append(F.max(f"__a{i}").alias(f"g{i}"))
            per = full.where(F.col("__s").isNotNull()).groupBy("__s").agg(*exprs)
            subjects = subjects.join(per, "__s", "left")
            for i, agg in enumerate(privacy.aggregates):
                value = F.coalesce(F.col(f"g{i}"), F.lit(0)) if agg.function == "count" else F.col(f"g{i}")
                if agg.generalize is not None:
                    value = coarsen(value, agg.generalize)
                subjects = subjects.withColumn(f"g{i}", value)
                qis.append(
                    QI(f"g{i}", f"{agg.function}({r.table}.{agg.column or '*'}) as {agg.name}", "", "", "subject")
                )
        rows = full.where(F.col("__s").isNotNull()).select(
            "__s", "__m", *[q.alias for q in qis if q.level == "row"], *[x.alias for x in sensitive if x.level == "row"]
        )
    suppressible = {q.alias for q in qis if f"{q.table}.{q.column}" in supp_cols and q.label.count(".") == 1}
    row_table = privacy.rows.table if privacy.rows else None
    return Frames(
        subjects,
        rows,
        qis,
        sensitive,
        suppressible,
        subject_markers=any(c.split(".", 1)[0] == subj_table for c in supp_cols),
        row_markers=any(c.split(".", 1)[0] == row_table for c in supp_cols),
    )


# ------------------------------------------------------------------------------------------------------
# the class computation
# ------------------------------------------------------------------------------------------------------


def _count_window(df: DataFrame, cols: list[str], name: str) -> DataFrame:
    """Rows per group of ``cols`` as a column (over the whole frame when ``cols`` is empty)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    return df.withColumn(name, F.count(F.lit(1)).over(Window.partitionBy(*[F.col(c) for c in cols])))


def _nobody_marked(frames: Frames) -> bool:
    """TRUE when no subject can count as suppressed, from one cheap filtered count.

    A suppressed subject carries the markers on its own row when the subject table has suppression columns,
    else on its rows: no marker there means no suppressed subject, and every ``__sup`` below is FALSE.
    """
    from pyspark.sql import functions as F

    if frames.subject_markers:
        return frames.subjects.where(F.col("__m")).limit(1).count() == 0
    if frames.row_markers and frames.rows is not None:
        return frames.rows.where(F.col("__m")).limit(1).count() == 0
    return True


def _kept(frames: Frames) -> list[str]:
    """The quasi-identifiers suppression leaves alone (empty when it touches none of them)."""
    return [c for c in frames.subject_q + frames.row_q if c not in frames.suppressible] if frames.suppressible else []


def _row_k(frames: Frames, subj: DataFrame, marked: bool, *, carry: bool = False) -> DataFrame:
    """Row-level ``__s, k, __sup, __l_*``: one exchange and one sort for the classes, suppressed or not.

    ``carry`` adds the class key (every quasi-identifier) and the row's sensitive values for
    :func:`per_subject_suppressed`, which reuses these rows.

    ``marked=False`` (nobody carries every marker, the usual run) needs only the exact class: distinct subjects
    per published value tuple. With markers a suppressed subject is a candidate of every class it matches on
    the columns suppression leaves alone (``kept``): a suppressed row's k is everyone matching it there, an
    unsuppressed row's k its exact class *among unsuppressed subjects* plus the suppressed subjects matching its
    kept values (counting a suppressed subject in both would overstate k where real values equal the marker).

    How it stays cheap: distinct subjects per class are ``size(collect_set(...))`` over the class window (no
    per-subject de-duplication first; the sensitive values' distinct counts ride along). Per kept tuple, a
    set would be carried by every row (20 s of 34 s at 10M visits), so the first row of each (subject, kept
    tuple) is flagged and summed instead. The class key is ordered kept-first and the kept window ordered by
    the rest, so one exchange by ``kept`` and one sort serve the kept and the class windows.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    sq, rq = frames.subject_q, frames.row_q
    xs = row_sensitive(frames)
    any_markers = frames.subject_markers or frames.row_markers
    split = marked and bool(frames.suppressible)
    kept = _kept(frames) if split else []
    keys = kept + [c for c in sq + rq if c not in kept]
    s = F.col("__s")
    if frames.rows is None:
        d = subj.select("__s", (F.col("__ms") & F.lit(any_markers)).alias("__sup"), *keys)
        first = F.lit(1).cast("long")  # one row per subject
    else:
        d = frames.rows.join(subj, "__s")
        # A subject is suppressed when its own row and every one of its rows carry the markers. The join leaves
        # d partitioned by __s, so the per-subject windows add a local sort, no exchange. Both use one spec
        # (by subject, ordered by the kept values): the marker minimum over the whole subject, and the first
        # row of each (subject, kept tuple), flagged where the previous row's kept tuple differs. One sort
        # serves both (a row_number over (subject, kept) needed a second sort of every row).
        by_subject = Window.partitionBy("__s").orderBy(*([F.col(c) for c in kept] or [F.lit(1)]))
        whole = by_subject.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
        sup = F.col("__ms") & F.min("__m").over(whole) & F.lit(any_markers)
        d = d.select("__s", (sup if marked else F.lit(False)).alias("__sup"), *keys, *xs)
        kept_tuple = F.struct(F.lit(1), *kept)  # never NULL itself, so only a subject's first row has no lag
        first = (~F.lag(kept_tuple).over(by_subject).eqNullSafe(kept_tuple)).cast("long")
    if split:
        d = d.withColumn("__first", first)
        rest = [F.col(c) for c in keys if c not in kept]
        wk = Window.partitionBy(*[F.col(c) for c in kept])
        wk = (wk.orderBy(*rest) if rest else wk).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
        d = d.withColumn("__all", F.sum("__first").over(wk))
        d = d.withColumn("__supn", F.sum(F.col("__first") * F.col("__sup").cast("long")).over(wk))
    wkeys = Window.partitionBy(*[F.col(c) for c in keys])
    members = F.when(~F.col("__sup"), s) if split else s
    d = d.withColumn("__exact", F.size(F.collect_set(members).over(wkeys)))
    for x in xs:
        value = F.coalesce(F.col(x).cast("string"), F.lit("\u0000null"))
        d = d.withColumn(f"__l_{x}", F.size(F.collect_set(value).over(wkeys)))
    k = (
        F.when(F.col("__sup"), F.col("__all")).otherwise(F.col("__exact") + F.col("__supn"))
        if split
        else F.col("__exact")
    )
    return d.select(
        "__s",
        k.cast("long").alias("k"),
        F.col("__sup").cast("int").alias("__sup"),
        *[F.col(f"__l_{x}").cast("int").alias(f"__l_{x}") for x in xs],
        *([*keys, *xs] if carry else []),
    )


def _subject_frame(frames: Frames) -> DataFrame:
    from pyspark.sql import functions as F

    return frames.subjects.select("__s", F.col("__m").alias("__ms"), *frames.subject_q)


def row_k(frames: Frames, *, carry: bool = False) -> DataFrame:
    """Each row's ``__s, k, __sup, __l_*`` (and its class key with ``carry``): what a subject's k is the minimum of."""
    marked = frames.rows is None or not _nobody_marked(frames)
    return _row_k(frames, _subject_frame(frames), marked=marked, carry=carry)


def per_subject_k(frames: Frames, rows: DataFrame | None = None) -> DataFrame:
    """``__s, k, __sup, __l_*, __rows``: each subject's smallest candidate set under the model (module docstring).

    ``__rows`` is 1 when the subject has rows on the row path (its k is their minimum), else 0.

    Subjects without rows take the size of their subject-level class. Their row-level and subject-level values
    meet in one aggregation by subject (a union, not an anti-join that would read the rows a second time).
    ``rows``: the row-level values when the caller already has them (:func:`row_k`, :func:`measure_suppressed`).
    """
    from pyspark.sql import functions as F

    subj = _subject_frame(frames)
    if rows is None:
        rows = row_k(frames)
    xs = row_sensitive(frames)
    ls = [F.min(f"__l_{x}").alias(f"__l_{x}") for x in xs]
    if frames.rows is None:
        return rows.groupBy("__s").agg(
            F.min("k").alias("k"), F.max("__sup").alias("__sup"), *ls, F.lit(0).alias("__rows")
        )
    # subjects without rows: their subject-level class (``__ka``), used only when the subject has no row
    alone = _count_window(subj, frames.subject_q, "__ka").select(
        "__s",
        F.lit(None).cast("long").alias("k"),
        F.lit(None).cast("int").alias("__sup"),
        *[F.lit(None).cast("int").alias(f"__l_{x}") for x in xs],
        "__ka",
        (F.col("__ms") & F.lit(frames.subject_markers)).cast("int").alias("__sup_a"),
    )
    both = rows.select(
        "__s",
        F.col("k").cast("long").alias("k"),
        "__sup",
        *[f"__l_{x}" for x in xs],
        F.lit(None).cast("long").alias("__ka"),
        F.lit(None).cast("int").alias("__sup_a"),
    ).unionByName(alone)
    has_rows = F.min("k").isNotNull()
    return both.groupBy("__s").agg(
        F.coalesce(F.min("k"), F.min("__ka")).alias("k"),
        F.when(has_rows, F.max("__sup")).otherwise(F.max("__sup_a")).alias("__sup"),
        *ls,
        has_rows.cast("int").alias("__rows"),
    )


def row_sensitive(frames: Frames) -> list[str]:
    """Aliases of the sensitive attributes read from the row path (computed inside :func:`per_subject_k`)."""
    return [x.alias for x in frames.sensitive if x.level == "row"] if frames.rows is not None else []


def _bucket(k: int) -> str:
    for lo, hi in HIST_BUCKETS:
        if hi is None and k >= lo:
            return f"{lo}+"
        if hi is not None and lo <= k <= hi:
            return str(lo) if lo == hi else f"{lo}-{hi}"
    return "0"


def summarize(per: DataFrame, k_min: int) -> Measure:
    """Collect the per-subject k distribution (a few hundred rows at most) and derive the numbers."""
    from pyspark.sql import functions as F

    hist = per.groupBy("k").agg(F.count(F.lit(1)).alias("n"), F.sum("__sup").alias("sup")).collect()
    counts = {int(r["k"]): int(r["n"]) for r in hist}
    subjects = sum(counts.values())
    suppressed = sum(int(r["sup"] or 0) for r in hist)
    buckets: dict[str, int] = {}
    for lo, hi in HIST_BUCKETS:
        label = _bucket(lo)
        buckets[label] = sum(n for k, n in counts.items() if k >= lo and (hi is None or k <= hi))
    lowest = min(counts) if counts else None
    return Measure(
        subjects=subjects,
        k_min_observed=lowest,
        below_k=sum(n for k, n in counts.items() if k < k_min),
        uniques=counts.get(1, 0),
        suppressed_subjects=suppressed,
        average_risk=round(sum(n / k for k, n in counts.items()) / subjects, 6) if subjects else 0.0,
        maximum_risk=round(1 / lowest, 6) if lowest else 0.0,
        histogram=buckets,
    )


def l_diversity(frames: Frames, per: DataFrame, l_min: int) -> dict[str, dict[str, Any]]:
    """Per sensitive attribute: subjects whose class (with one of its rows) holds fewer than l_min values.

    Row-level attributes were counted in :func:`per_subject_k`'s class window (``__l_<alias>`` in ``per``);
    subject-level ones take one window over the subjects here.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    out: dict[str, dict[str, Any]] = {}
    sq = frames.subject_q
    for x in frames.sensitive:
        if x.alias in row_sensitive(frames):
            lcol = per.select(F.col(f"__l_{x.alias}").alias("l")).where(F.col("l").isNotNull())
        else:
            value = F.coalesce(F.col(x.alias).cast("string"), F.lit("\u0000null"))
            w = Window.partitionBy(*[F.col(c) for c in sq])
            lcol = frames.subjects.select(F.size(F.collect_set(value).over(w)).alias("l"))
        row = lcol.agg(
            F.count(F.lit(1)).alias("n"),
            F.sum((F.col("l") < l_min).cast("long")).alias("below"),
            F.min("l").alias("lowest"),
        ).collect()[0]
        n = int(row["n"] or 0)
        below = int(row["below"] or 0)
        out[x.label] = {
            "subjects": n,
            "below_l": below,
            "share_below_l": round(below / n, 6) if n else 0.0,
            "l_min_observed": row["lowest"],
        }
    return out


def measure(frames: Frames, privacy: Privacy, per: DataFrame | None = None) -> Measure:
    """Summary and l-diversity of ``per`` (:func:`per_subject_k` of ``frames`` when not given), read once."""
    per = (per_subject_k(frames) if per is None else per).persist()
    try:
        result = summarize(per, privacy.thresholds.k_min)
        if frames.sensitive:
            result.l_diversity = l_diversity(frames, per, privacy.thresholds.l_min)
        return result
    finally:
        per.unpersist()


def measure_suppressed(
    frames: Frames, privacy: Privacy, before: DataFrame, per_before: DataFrame, suppressed: DataFrame
) -> Measure:
    """The measure of the suppressed copy (``frames``): :func:`per_subject_suppressed`, summarized."""
    per, cached = _per_suppressed(frames, before, per_before, suppressed)
    try:
        return measure(frames, privacy, per)
    finally:
        for df in cached:
            df.unpersist()


def per_subject_suppressed(
    frames: Frames, before: DataFrame, per_before: DataFrame, suppressed: DataFrame
) -> DataFrame:
    """:func:`per_subject_k` of the suppressed copy, from the first measure and the suppressed subjects' rows.

    ``before``: the first measure's :func:`row_k` with ``carry`` (each row's k, l and class key), on the copy
    before suppression; ``per_before``: its :func:`per_subject_k`. Why it is exact: suppression changes the
    published values of the suppressed subjects (S) only, and nobody was suppressed before (``assess`` refuses
    markers already in the copy), so a row's k before is the number of subjects in its class. Under the model of
    the module docstring, after suppression:

    * a row of a subject outside S: k = k before - the S subjects that were in its class + the S subjects with
      a row of its kept tuple (the quasi-identifiers suppression leaves alone); its l changes only where S rows
      left or joined its class;
    * a row of S: k = every subject with a row of its kept tuple.

    Every class S left or joined has the kept tuple of an S row, so a subject none of whose rows share a kept
    tuple with an S row keeps its k and l from ``per_before``: only the rows of the other subjects (at 10M
    visits, 177k of 2M patients for 7 suppressed, by hospital) are aggregated again, and of those only the rows
    of the classes S left or joined are measured again (from ``before`` and S's rows; the copy's other rows are
    not read again). Subjects without rows take their subject-level class on the suppressed copy. When more than
    ``REACHED_SHARE_FOR_ALL`` of the subjects with rows are reached, all of them are aggregated again: they are
    then too many to broadcast, and the filter would be a sort-merge join of every row (not timed). Why: at 10M
    visits re-measuring every row took ~31 s, and aggregating every subject's rows again ~10 s of the 13-15 s the
    re-measure took. When suppression leaves no quasi-identifier alone, or a subject of S is not fully marked
    after all, every row is measured again.
    """
    return _per_suppressed(frames, before, per_before, suppressed)[0]


def _on(left: DataFrame, right: DataFrame, cols: list[str], how: str) -> DataFrame:
    """``left`` joined with a broadcast of the small ``right`` on ``cols``, NULL matching NULL (a value here)."""
    from pyspark.sql import functions as F

    r = right.select(*[F.col(c).alias(f"__j_{c}") for c in cols], *[c for c in right.columns if c not in cols])
    out = left.join(F.broadcast(r), [left[c].eqNullSafe(r[f"__j_{c}"]) for c in cols], how)
    return out if how in ("left_semi", "left_anti") else out.drop(*[f"__j_{c}" for c in cols])


def _per_suppressed(
    frames: Frames, before: DataFrame, per_before: DataFrame, suppressed: DataFrame
) -> tuple[DataFrame, list[DataFrame]]:
    """Per-subject values of the suppressed copy (see :func:`per_subject_suppressed`), and the frames cached."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    kept = _kept(frames)
    if frames.rows is None or not kept:
        return per_subject_k(frames), []
    keys = [*frames.subject_q, *frames.row_q]
    xs = row_sensitive(frames)
    ids = F.broadcast(suppressed.select("__s").distinct())
    subj = _subject_frame(frames)
    # S's rows as published now; each S subject with rows must carry the markers on its own row and all of them
    now = (
        frames.rows.join(ids, "__s", "left_semi")
        .join(subj.join(ids, "__s", "left_semi"), "__s")
        .withColumn("__sup", F.col("__ms") & F.min("__m").over(Window.partitionBy("__s")))
        .select("__s", "__sup", *keys, *xs)
        .persist()
    )
    if now.where(~F.col("__sup")).limit(1).count():
        now.unpersist()
        return per_subject_k(frames), []
    touched = now.select(*kept).distinct()  # the kept tuples of S's rows (suppression leaves them as they were)
    # the subjects with a row of such a tuple: every other subject keeps its k and l from the first measure
    affected = _on(before, touched, kept, "left_semi").select("__s").distinct().persist()
    # materialized, so the joins below see its real size (broadcast when it is small)
    reached = affected.count()
    with_rows = per_before.where(F.col("__rows") == 1).count()
    # When most subjects are reached (heavy suppressed subjects, rows in most hospitals), filtering the rows by
    # them costs a shuffle and saves little: every subject with rows is aggregated again, as before this change.
    all_reached = reached > with_rows * REACHED_SHARE_FOR_ALL
    mine = before if all_reached else before.join(affected, "__s", "left_semi")
    was = before.join(ids, "__s", "left_semi").select("__s", *keys).distinct()
    classes = now.select(*keys).unionByName(was.select(*keys)).distinct().persist()
    count = F.count(F.lit(1))
    removed = was.groupBy(*keys).agg(count.alias("__r"))  # S subjects per class before
    supn = now.select("__s", *kept).distinct().groupBy(*kept).agg(count.alias("__supn"))
    others = _on(before.join(ids, "__s", "left_anti"), touched, kept, "left_semi")
    at_kept = (
        others.select("__s", *kept)
        .unionByName(now.select("__s", *kept))
        .distinct()
        .groupBy(*kept)
        .agg(count.alias("__all"))
    )
    ls = [f"__l_{x}" for x in xs]
    columns = ["__s", "k", "__sup", *ls]
    # the affected subjects' rows of unchanged classes: k from before plus the suppressed subjects of their kept tuple
    same = _on(_on(mine, classes, keys, "left_anti"), supn, kept, "left")
    same = same.withColumn("k", (F.col("k") + F.coalesce(F.col("__supn"), F.lit(0))).cast("long"))
    # rows of the classes S left or joined, as published now: S's from ``now``, the other subjects' from
    # ``before`` (their values did not change), so the copy is not read again
    d = (
        _on(before.join(ids, "__s", "left_anti"), classes, keys, "left_semi")
        .select("__s", *keys, *xs, F.lit(False).alias("__in"))
        .unionByName(now.select("__s", *keys, *xs, F.lit(True).alias("__in")))
    )
    wkeys = Window.partitionBy(*[F.col(c) for c in keys])
    for x in xs:
        value = F.coalesce(F.col(x).cast("string"), F.lit("\u0000null"))
        d = d.withColumn(f"__l_{x}", F.size(F.collect_set(value).over(wkeys)))
    before_k = _on(before, classes, keys, "left_semi").select(*keys, F.col("k").alias("__kb")).distinct()
    for table, on in ((before_k, keys), (removed, keys), (supn, kept), (at_kept, kept)):
        d = _on(d, table, on, "left")
    zero = F.lit(0)
    inside = F.col("__in")
    k = F.when(inside, F.col("__all")).otherwise(
        F.col("__kb") - F.coalesce(F.col("__r"), zero) + F.coalesce(F.col("__supn"), zero)
    )
    fresh = d.select("__s", k.cast("long").alias("k"), inside.cast("int").alias("__sup"), *ls)
    again = (
        fresh.select(*columns)
        .unionByName(same.select(*columns))
        .groupBy("__s")
        .agg(
            F.min("k").alias("k"),
            F.max("__sup").alias("__sup"),
            *[F.min(c).alias(c) for c in ls],
            F.lit(1).alias("__rows"),
        )
    )
    kept_as_before = per_before.where(F.col("__rows") == 1).join(affected, "__s", "left_anti")
    # subjects without rows: their subject-level class on the suppressed copy (S may have left it)
    alone = (
        _count_window(subj, frames.subject_q, "__ka")
        .join(per_before.where(F.col("__rows") == 0).select("__s"), "__s", "left_semi")
        .select(
            "__s",
            F.col("__ka").cast("long").alias("k"),
            (F.col("__ms") & F.lit(frames.subject_markers)).cast("int").alias("__sup"),
            *[F.lit(None).cast("int").alias(c) for c in ls],
            F.lit(0).alias("__rows"),
        )
    )
    out = [*columns, "__rows"]
    per = again.select(*out).unionByName(alone.select(*out))
    if not all_reached:
        per = per.unionByName(kept_as_before.select(*out))
    return per, [now, affected, classes]


# ------------------------------------------------------------------------------------------------------
# suppression
# ------------------------------------------------------------------------------------------------------


@dataclass
class Suppressed:
    """The staged tables with the at-risk subjects' suppression columns set to their markers (lazy)."""

    tables: dict[str, DataFrame]
    ids: DataFrame  # __s: the suppressed subjects' keys (a local relation)
    subjects: int
    cells: int
    quasi_identifier_cells: int


def suppress(read: Reader, contract: Contract, privacy: Privacy, at_risk: DataFrame) -> Suppressed:
    """Marker values for every suppression column of the at-risk subjects' own row and of all their rows."""
    from pyspark.sql import functions as F

    assert privacy.suppression is not None
    # Materialize the (at most max_share of) subject keys: the suppressed tables are written over the very
    # staging tables they are read from, so they must not depend on a lazy plan over those tables.
    key_type = at_risk.schema["__s"].dataType
    ids = [(r["__s"],) for r in at_risk.collect()]
    spark = at_risk.sparkSession
    from pyspark.sql.types import StructField, StructType

    keys = spark.createDataFrame(ids, StructType([StructField("__s", key_type)]))
    flagged = F.broadcast(keys.select(F.col("__s").alias("__flag_s"), F.lit(True).alias("__flag")))
    by_table: dict[str, list[str]] = {}
    for s in privacy.suppression.columns:
        table, _, column = s.column.partition(".")
        by_table.setdefault(table, []).append(column)
    tables: dict[str, DataFrame] = {}
    cells = 0
    total = 0
    subj = privacy.subject
    link = {subj.table: subj.key}
    if privacy.rows is not None:
        link[privacy.rows.table] = privacy.rows.via
    for table, columns in by_table.items():
        df = read(table)
        joined = df.join(flagged, df[link[table]] == flagged["__flag_s"], "left")
        hit = F.coalesce(F.col("__flag"), F.lit(False))
        out = []
        for f in df.schema.fields:
            marker = _marker(contract, table, f.name, privacy) if f.name in columns else None
            expr = F.when(hit, marker).otherwise(F.col(f.name)) if marker is not None else F.col(f.name)
            out.append(expr.cast(f.dataType).alias(f.name, metadata=dict(f.metadata or {})))
        tables[table] = joined.select(*out)
        stats = joined.agg(F.count(F.lit(1)).alias("n"), F.sum(hit.cast("long")).alias("hit")).collect()[0]
        cells += int(stats["hit"] or 0) * len(columns)
        known = privacy.known if table == subj.table else privacy.rows.known if privacy.rows else []
        total += int(stats["n"]) * max(1, len(known))
    return Suppressed(tables, keys, len(ids), cells, total)


# ------------------------------------------------------------------------------------------------------
# the whole assessment
# ------------------------------------------------------------------------------------------------------


@dataclass
class Assessment:
    passed: bool
    thresholds: dict[str, Any]
    model: dict[str, Any]
    before: Measure | None
    generalized: Measure
    after: Measure
    generalizations: list[dict[str, Any]]
    suppression: dict[str, Any]
    drivers: list[dict[str, Any]]
    suggestions: list[str]
    reasons: list[str]
    seconds: dict[str, float]
    before_from: dict[str, Any] | None = None  # run id and time of the measure, when an earlier run's is shown
    suppressed_tables: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts and rules (the lazy suppressed DataFrames are left out)."""
        tables, self.suppressed_tables = self.suppressed_tables, {}
        try:
            return asdict(self)
        finally:
            self.suppressed_tables = tables


def _model_summary(privacy: Privacy, frames: Frames) -> dict[str, Any]:
    return {
        "subject": f"{privacy.subject.table}.{privacy.subject.key}",
        "quasi_identifiers": [q.label for q in frames.qis],
        "rows_known": privacy.rows.rows_known if privacy.rows else 0,
        "sensitive": [x.label for x in frames.sensitive],
        "formulation": "classes on published values; attacker assumed to undo the date shift (conservative)",
        "journalist_equals_prosecutor": True,
    }


def _failures(m: Measure, privacy: Privacy) -> list[str]:
    t = privacy.thresholds
    reasons = []
    if m.share_below_k() > t.max_share_below_k:
        reasons.append(
            f"{m.below_k} of {m.subjects} subjects ({m.share_below_k():.2%}) share their published quasi-identifiers "
            f"with fewer than {t.k_min - 1} others (k_min {t.k_min}, allowed share {t.max_share_below_k:.2%}; "
            f"smallest class {m.k_min_observed})"
        )
    for label, info in m.l_diversity.items():
        if info["share_below_l"] > t.max_share_below_l:
            reasons.append(
                f"{info['below_l']} subjects ({info['share_below_l']:.2%}) are in classes with fewer than "
                f"{t.l_min} distinct {label} values (allowed share {t.max_share_below_l:.2%})"
            )
    return reasons


def _variant(frames: Frames, alias: str, fn: Callable[[SparkColumn], SparkColumn]) -> Frames:
    from pyspark.sql import functions as F

    level = next(q.level for q in frames.qis if q.alias == alias)
    if level == "subject":
        return replace(frames, subjects=frames.subjects.withColumn(alias, fn(F.col(alias))))
    assert frames.rows is not None
    return replace(frames, rows=frames.rows.withColumn(alias, fn(F.col(alias))))


def _current_rule(privacy: Privacy, q: QI) -> Coarsening | None:
    return privacy.generalization_of(q.table, q.column) if q.column else None


def _next_rung(rule: Coarsening | None) -> Coarsening | None:
    order = [r.to or f"years:{r.years}" for r in LADDER]
    if rule is None or (rule.to is None and rule.years is None):
        return LADDER[0]
    current = rule.to or f"years:{rule.years}"
    if current in order:
        i = order.index(current)
        return LADDER[i + 1] if i + 1 < len(LADDER) else None
    bigger = [r for r in LADDER if r.years and rule.years and r.years > rule.years]
    return bigger[0] if bigger else None


def explain(
    frames: Frames, privacy: Privacy, contract: Contract, base: Measure
) -> tuple[list[dict[str, Any]], list[str]]:
    """Which quasi-identifiers drive the risk (subjects below k without each one) and what to coarsen."""
    from pyspark.sql import functions as F

    drivers: list[dict[str, Any]] = []
    tries: list[tuple[int, str]] = []
    k_min = privacy.thresholds.k_min
    for q in frames.qis:
        dropped = summarize(per_subject_k(_variant(frames, q.alias, lambda _c: F.lit("*"))), k_min)
        drivers.append({"quasi_identifier": q.label, "below_k_without_it": dropped.below_k, "below_k": base.below_k})
        if not q.column:
            continue
        family = contract.tables[q.table].columns[q.column].sql_type.family
        if family not in ("date", "timestamp"):
            continue
        rung = _next_rung(_current_rule(privacy, q))
        if rung is None:
            continue
        rule = rung.model_copy(update={"earliest": (_current_rule(privacy, q) or rung).earliest})
        coarser = summarize(per_subject_k(_variant(frames, q.alias, partial(_coarsen, rule=rule))), k_min)
        spelled = f"to: {rung.to}" if rung.to else f"years: {rung.years}"
        tries.append(
            (
                coarser.below_k,
                f"generalize {q.table}.{q.column} one level coarser ({{column: {q.table}.{q.column}, {spelled}}}): "
                f"{coarser.below_k} subjects below k_min instead of {base.below_k}",
            )
        )
    drivers.sort(key=lambda d: d["below_k_without_it"])
    suggestions = [text for _, text in sorted(tries)]
    top = drivers[0] if drivers else None
    if top is not None and top["below_k_without_it"] < base.below_k:
        suggestions.append(
            f"{top['quasi_identifier']} drives the risk most: without it {top['below_k_without_it']} subjects stay "
            f"below k_min; coarsen it first"
        )
    if privacy.suppression is None:
        suggestions.append("or declare privacy.suppression (marker values) with a max_share above the share below k")
    return drivers, suggestions


def _coarsen(c: SparkColumn, rule: Coarsening) -> SparkColumn:
    from anonymizer.privacy import coarsen

    return coarsen(c, rule)


def assess(
    contract: Contract,
    staged: Reader,
    source: Reader | None = None,
    *,
    log: Callable[[str], None] = print,
) -> Assessment:
    """Measure the staged tables; suppress when declared and needed; say whether the thresholds hold.

    ``source`` (optional) adds the "before generalization" measure: the same model on the source values at
    full precision, i.e. what an ungeneralized copy would expose under the conservative formulation.
    Nothing is written here: the caller writes ``suppressed_tables`` when the assessment passed.
    """
    from pyspark.sql import functions as F

    privacy = contract.privacy
    assert privacy is not None
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    frames = build_frames(staged, contract, privacy)
    before = None
    if source is not None:
        plain = privacy.model_copy(update={"suppression": None})
        before = summarize(per_subject_k(build_frames(source, contract, plain)), privacy.thresholds.k_min)
        seconds["before"] = round(time.perf_counter() - started, 3)
    begun = time.perf_counter()
    # With suppression declared, each row's k is kept (in memory) for the re-measure after suppression
    # (per_subject_suppressed), which then reads again only the classes the suppressed subjects left or joined.
    rows = row_k(frames, carry=True).persist() if privacy.suppression and frames.rows is not None else None
    per = per_subject_k(frames, rows).persist()
    generalized = summarize(per, privacy.thresholds.k_min)
    if frames.sensitive:
        generalized.l_diversity = l_diversity(frames, per, privacy.thresholds.l_min)
    seconds["measure"] = round(time.perf_counter() - begun, 3)
    after = generalized
    supp_info: dict[str, Any] = {"declared": privacy.suppression is not None}
    suppressed_tables: dict[str, Any] = {}
    sup = privacy.suppression
    if sup is not None:
        supp_info.update(max_share=sup.max_share, columns=[s.column for s in sup.columns], applied=False)
        collisions = generalized.suppressed_subjects
        if collisions:
            per.unpersist()
            if rows is not None:
                rows.unpersist()
            from anonymizer.errors import UsageError

            raise UsageError(
                f"{collisions} subjects already carry the suppression marker values in the staged copy, so the "
                "marker would not read as 'unknown'",
                fix="choose suppression values outside the published range of those columns",
            )
    if sup is not None and generalized.below_k:
        share = generalized.below_k / generalized.subjects
        supp_info["needed_subjects"] = generalized.below_k
        supp_info["needed_share"] = round(share, 6)
        if share <= sup.max_share:
            begun = time.perf_counter()
            at_risk = per.where(F.col("k") < privacy.thresholds.k_min).select("__s")
            done = suppress(staged, contract, privacy, at_risk)
            suppressed_tables = done.tables

            def read_suppressed(table: str) -> DataFrame:
                return done.tables[table] if table in done.tables else staged(table)

            frames = build_frames(read_suppressed, contract, privacy)
            after = (
                measure_suppressed(frames, privacy, rows, per, done.ids)
                if rows is not None
                else measure(frames, privacy)
            )
            supp_info.update(
                applied=True,
                subjects=done.subjects,
                share_subjects=round(done.subjects / generalized.subjects, 6) if generalized.subjects else 0.0,
                cells=done.cells,
                share_quasi_identifier_cells=round(done.cells / done.quasi_identifier_cells, 6)
                if done.quasi_identifier_cells
                else 0.0,
            )
            seconds["suppress"] = round(time.perf_counter() - begun, 3)
        else:
            supp_info["refused"] = (
                f"{share:.2%} of subjects would need suppression, above the cap max_share {sup.max_share:.2%}"
            )
    per.unpersist()
    if rows is not None:
        rows.unpersist()
    reasons = _failures(after, privacy)
    if "refused" in supp_info and reasons:
        reasons.append("suppression not applied: " + supp_info["refused"])
    drivers: list[dict[str, Any]] = []
    suggestions: list[str] = []
    if reasons:
        begun = time.perf_counter()
        drivers, suggestions = explain(frames, privacy, contract, after)
        seconds["explain"] = round(time.perf_counter() - begun, 3)
    seconds["total"] = round(time.perf_counter() - started, 3)
    return Assessment(
        passed=not reasons,
        thresholds=privacy.thresholds.model_dump(),
        model=_model_summary(privacy, frames),
        before=before,
        generalized=generalized,
        after=after,
        generalizations=[{"column": g.column, "rule": g.describe(), **_displacement(g)} for g in privacy.generalize],
        suppression=supp_info,
        drivers=drivers,
        suggestions=suggestions,
        reasons=reasons,
        seconds=seconds,
        suppressed_tables=suppressed_tables,
    )


def _displacement(rule: Coarsening) -> dict[str, Any]:
    """Utility cost of a date rule, from the rule alone: how far a published date can be from the shifted one."""
    if rule.to:
        return {"max_days_moved": GRAIN_DAYS[rule.to], "intervals_exact": False}
    if rule.years:
        return {"max_days_moved": 366 * rule.years - 1, "intervals_exact": False}
    return {}
