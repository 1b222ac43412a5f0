"""Checks of the staged (anonymized) tables against the source, on every run, before anyone sees data.

Every check produces numbers for the report and a pass/fail. Rows are aligned between source and staging by
re-deriving the anonymized primary key of each source row with the same keyed permutation the anonymize step
used (no mapping table is ever written: it would be a re-identification table), which lets the checks
compare each row with its own source row: date shifts in bounds, PII never passed through unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from anonymizer.contract import Contract
from anonymizer.errors import first_line
from anonymizer.parallel import in_parallel
from anonymizer.privacy import shift_bounds_violation
from anonymizer.runtime import Runtime
from anonymizer.source_numbers import SEED_JOIN, SEED_TABLES, count_aggregations, fk_numbers, seed_products
from anonymizer.strategies import STRATEGIES, CheckInput
from anonymizer.tables import read_source

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PII_CLASSES = ("direct_identifier", "quasi_identifier", "sensitive")


@dataclass
class Check:
    name: str
    table: str
    column: str | None
    passed: bool
    numbers: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def render(self) -> str:
        where = ".".join(p for p in (self.table, self.column) if p)
        nums = ", ".join(f"{k}={v}" for k, v in self.numbers.items())
        return f"{'PASS' if self.passed else 'FAIL'} {self.name:<24} {where:<32} {nums} {self.message}".rstrip()


def allowed_chance(rows: int, p: float, tail: float = 1e-9) -> int:
    """How many rows may equal their source value by chance: the Poisson(rows*p) quantile at ``1 - tail``.

    Capped below ``rows`` so that a column passed through whole always fails, however small the table.
    """
    if p <= 0 or rows <= 0:
        return 0
    mean = rows * p
    k, term = 0, math.exp(-mean)
    cdf = term
    while 1.0 - cdf > tail and k < rows:
        k += 1
        term *= mean / k
        cdf += term
    return min(k, rows - 1)


@dataclass
class CheckContext:
    runtime: Runtime
    contract: Contract
    anonymize_keys: Callable[[DataFrame, str], DataFrame]  # source df -> source df + anonymized PK columns
    results: list[Check] = field(default_factory=list)
    # Source df -> the rows staging should hold (release windows withhold recent events); None = all rows.
    source_filter: Callable[[DataFrame, str], DataFrame] | None = None
    # Further checks run after the built-in ones (e.g. anonymizer.release.check_release).
    extra_checks: list[Callable[[CheckContext], None]] = field(default_factory=list)
    # What run_checks' aggregations measured, keyed (kind, table): later checks reuse it instead of re-reading.
    measured: dict[tuple[str, str], Any] = field(default_factory=dict)
    # The source snapshot the run's gate read, per table (None: the current versions).
    source_versions: dict[str, int] | None = None
    # Source-side numbers the gate measured on that same snapshot, keyed ("src" | "fk_src", table): reused
    # instead of scanning the source again (see anonymizer.source_numbers).
    gate_numbers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Tables whose source rows ``source_filter`` narrows: numbers of all their rows do not apply to them
    # (empty with a filter set: every table counts as narrowed).
    filtered_tables: frozenset[str] = frozenset()
    # Which of ``measured`` came from the gate (for the journal): "src:<table>" / "fk_src:<table>".
    reused: list[str] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.results.append(check)


def source_rows(ctx: CheckContext, table: str) -> DataFrame:
    """Every row of the source table, at the run's pinned version."""
    return read_source(ctx.runtime, ctx.contract, table, ctx.source_versions)


def _src(ctx: CheckContext, table: str) -> DataFrame:
    df = source_rows(ctx, table)
    return ctx.source_filter(df, table) if ctx.source_filter else df


def _stg(ctx: CheckContext, table: str) -> DataFrame:
    return ctx.runtime.read(ctx.contract.staging_name(table))


def check_structure(ctx: CheckContext, table: str) -> None:
    """Types and nullability of staging equal the contract (hence the source)."""
    live = {c.name: c for c in ctx.runtime.columns(ctx.contract.staging_name(table))}
    spec = ctx.contract.tables[table].columns
    bad = [
        f"{n}: {live[n].type if n in live else 'missing'}/{'null' if n in live and live[n].nullable else 'not null'}"
        for n, c in spec.items()
        if n not in live or live[n].type != c.sql_type.name or live[n].nullable != c.nullable
    ]
    extra = [n for n in live if n not in spec]
    ctx.add(
        Check(
            "schema_equals_contract",
            table,
            None,
            not bad and not extra,
            {"columns": len(spec), "mismatched": len(bad) + len(extra)},
            "; ".join(bad + extra),
        )
    )


def _source_numbers(ctx: CheckContext, table: str) -> dict[str, Any]:
    """One aggregation over the source rows staging should hold: rows and NULLs per column.

    When the run pinned no snapshot of the table, the gate's proof that its key is unique does not cover the
    rows read here, so the distinct keys are counted too (``__distinct_pk``): the staged numbers rest on it.
    """
    spec = ctx.contract.tables[table]
    aggs = count_aggregations(list(spec.columns))
    if ctx.source_versions is None or table not in ctx.source_versions:
        aggs.append(F.count_distinct(*[F.col(c) for c in spec.primary_key]).alias("__distinct_pk"))
    return _src(ctx, table).agg(*aggs).collect()[0].asDict()


def _judge_counts(ctx: CheckContext, table: str, src: dict[str, Any], stg: dict[str, Any]) -> None:
    """Row counts and per-column NULL counts equal; primary key unique and non-null."""
    spec = ctx.contract.tables[table]
    cols = list(spec.columns)
    ctx.add(
        Check(
            "row_count_equal",
            table,
            None,
            src["__rows"] == stg["__rows"],
            {"source": src["__rows"], "staging": stg["__rows"]},
        )
    )
    # A `null`-strategy column must be NULL in every staged row, whatever the source held (a value there leaks).
    expected = {c: src["__rows"] if STRATEGIES[spec.columns[c].strategy].all_null else (src[c] or 0) for c in cols}
    diffs = {c: (expected[c], stg[c] or 0) for c in cols if expected[c] != (stg[c] or 0)}
    ctx.add(
        Check(
            "null_counts_equal",
            table,
            None,
            not diffs,
            {"columns": len(cols), "differing": len(diffs)},
            "; ".join(f"{c}: expected {a} vs staging {b}" for c, (a, b) in diffs.items()),
        )
    )
    pk = spec.primary_key
    pk_nulls = sum(stg[c] or 0 for c in pk)
    duplicates, unpaired = stg["__duplicates"], stg["__unpaired"]
    source_unique = src.get("__distinct_pk", src["__rows"]) == src["__rows"]
    message = ""
    if not source_unique:
        message = "the source key is not unique in the rows read (no gated snapshot pinned): staging not measured"
    elif unpaired:
        message = f"{unpaired} staged row(s) have no source row: uniqueness is measured on paired keys only"
    ctx.add(
        Check(
            "primary_key_unique",
            table,
            ",".join(pk),
            source_unique and duplicates == 0 and unpaired == 0 and pk_nulls == 0,
            {"rows": stg["__rows"], "duplicates": duplicates, "unpaired": unpaired, "nulls": pk_nulls},
            message,
        )
    )


def _judge_foreign_keys(ctx: CheckContext, table: str, src: dict[str, int], stg: dict[str, int]) -> None:
    """Orphans and join cardinality of every FK equal the source's."""
    for i, fk in enumerate(ctx.contract.tables[table].foreign_keys):
        s_orph, s_join = src[f"orphans{i}"], src[f"joined{i}"]
        t_orph, t_join = stg[f"orphans{i}"], stg[f"joined{i}"]
        ctx.add(
            Check(
                "foreign_key_integrity",
                table,
                ",".join(fk.columns),
                s_orph == t_orph and s_join == t_join,
                {
                    "parent": fk.references.table,
                    "source_orphans": s_orph,
                    "staging_orphans": t_orph,
                    "source_joined": s_join,
                    "staging_joined": t_join,
                },
            )
        )


def _aligned(ctx: CheckContext, table: str) -> DataFrame:
    """Source rows full-outer-joined with their own staged rows via the re-derived anonymized PK.

    Columns ``s__<c>`` and ``t__<c>``; ``__s`` / ``__t`` are TRUE where the row has that side (NULL where not).
    Why outer: the same join then also measures the staged table itself (rows, NULLs, key uniqueness), so
    staging is not scanned and its key counted distinct in a job of its own (~4.5 s at 10M visits).
    """
    pk = ctx.contract.tables[table].primary_key
    return _pair(ctx.anonymize_keys(_src(ctx, table), table), _stg(ctx, table), pk)


def _pair(src: DataFrame, stg: DataFrame, pk: list[str]) -> DataFrame:
    """``src`` (with its ``__anon_<pk>`` columns) full-outer-joined with ``stg`` on them; see :func:`_aligned`."""
    src = src.select(*[F.col(c).alias(f"s__{c}") for c in src.columns], F.lit(True).alias("__s"))
    stg = stg.select(*[F.col(c).alias(f"t__{c}") for c in stg.columns], F.lit(True).alias("__t"))
    cond = [src[f"s____anon_{c}"] == stg[f"t__{c}"] for c in pk]
    return src.join(stg, cond, "full_outer")


def _unchanged_chance(col: Any) -> float | None:
    """P(a replacement equals its source value) for PII columns whose strategy declares one, else None."""
    if col.classification not in PII_CLASSES:
        return None
    return STRATEGIES[col.strategy].unchanged_chance


@dataclass
class _RowNumbers:
    """What the aligned aggregation measured, and which columns each number is about."""

    stats: dict[str, Any]
    pii: list[str]
    shifts: dict[str, int]


def _staged_aggregations(columns: list[str]) -> list[Any]:
    """The outer join's counts that give the staged table's own numbers (see :func:`_staged_numbers`)."""
    staged = F.col("__t").isNotNull()
    nulls = [F.count(F.when(staged & F.col(f"t__{c}").isNull(), 1)).alias(f"null__{c}") for c in columns]
    return [
        F.count(F.col("__t")).alias("__stg_rows"),
        F.count(F.when(F.col("__t").isNull(), 1)).alias("__src_only"),
        F.count(F.when(F.col("__s").isNull(), 1)).alias("__stg_only"),
        *nulls,
    ]


def _staged_numbers(stats: dict[str, Any], columns: list[str], source_rows: int) -> dict[str, Any]:
    """Rows (``__rows``), NULLs (by column name) and key uniqueness of the staged table, from the outer join.

    Premise: the source key is unique in the rows read. The gate proved it for the snapshot the run pinned,
    and the keyed map is a bijection; :func:`_source_numbers` measures it when no snapshot is pinned. Then
    every staged row is in the join exactly once, which makes rows and NULLs exact. Uniqueness without a
    distinct count: a paired key whose staged image has m rows gives m pairs, so the pairs minus the source
    rows that found a partner (``__duplicates``) is the sum of m - 1, zero exactly when no paired staged key
    repeats. Staged rows with no source row (``__unpaired``, NULL keys among them) are not measured for
    uniqueness and fail the check.
    """
    return {
        "__rows": stats["__stg_rows"],
        **{c: stats[f"null__{c}"] for c in columns},
        "__duplicates": stats["__aligned"] - (source_rows - stats["__src_only"]),
        "__unpaired": stats["__stg_only"],
    }


def _row_numbers(ctx: CheckContext, table: str) -> _RowNumbers:
    """One aggregation over source rows joined with their own staged rows: PII unchanged, shifts, formats, and
    the staged table's own numbers (rows, NULLs, key uniqueness).

    The per-row numbers count paired rows only (an unpaired row has no counterpart to compare with; it fails
    ``rows_aligned`` instead).
    """
    spec = ctx.contract.tables[table]
    settings = ctx.contract.settings
    paired = F.col("__s").isNotNull() & F.col("__t").isNotNull()

    def on_pairs(value: Any) -> Any:
        return F.when(paired, value)

    aggs = [F.count(on_pairs(F.lit(1))).alias("__aligned"), *_staged_aggregations(list(spec.columns))]
    pii = [c for c, col in spec.columns.items() if _unchanged_chance(col) is not None]
    for c in pii:
        aggs.append(F.sum(on_pairs((F.col(f"s__{c}") == F.col(f"t__{c}")).cast("long"))).alias(f"same__{c}"))
    shifts = {}
    generalized_shift: dict[str, Any] = {}
    for c, col in spec.columns.items():
        shift_days = STRATEGIES[col.strategy].shift_days
        if shift_days is not None:
            max_days = shift_days(col.strategy_params(), settings)
            shifts[c] = max_days
            diff = on_pairs(F.datediff(F.col(f"t__{c}").cast("date"), F.col(f"s__{c}").cast("date")))
            aggs += [F.min(diff).alias(f"min__{c}"), F.max(diff).alias(f"max__{c}")]
            # generalized after the shift (privacy section): the staged value must be G(source - [1, max_days])
            outside = shift_bounds_violation(ctx.contract, table, c, F.col(f"t__{c}"), F.col(f"s__{c}"), max_days)
            aggs.append(
                F.sum(on_pairs(outside.cast("long")) if outside is not None else F.lit(None)).alias(f"out__{c}")
            )
            if outside is not None:
                generalized_shift[c] = outside
    privacy = ctx.contract.privacy
    for c, col in spec.columns.items():
        if c in generalized_shift:  # shifted, then coarsened by the privacy section: G(source - [1, max_days])
            invalid = generalized_shift[c]
        elif privacy is not None and privacy.generalization_of(table, c) is not None:
            continue  # coarsened after the strategy: its own output rule no longer applies (the risk step owns it)
        else:
            check = CheckInput(F.col(f"s__{c}"), F.col(f"t__{c}"), col.sql_type, col.strategy_params(), settings)
            invalid = F.coalesce(STRATEGIES[col.strategy].output_check(check), F.lit(False))
        aggs.append(F.sum(on_pairs(invalid.cast("long"))).alias(f"badfmt__{c}"))
    return _RowNumbers(_aligned(ctx, table).agg(*aggs).collect()[0].asDict(), pii, shifts)


def _judge_rows(ctx: CheckContext, table: str, rows: int, measured: _RowNumbers) -> None:
    """Per-row checks on aligned rows: PII changed, date shifts within bounds, every output valid for its strategy."""
    spec = ctx.contract.tables[table]
    stats, pii, shifts = measured.stats, measured.pii, measured.shifts
    ctx.add(
        Check(
            "rows_aligned",
            table,
            None,
            stats["__aligned"] == rows,
            {
                "aligned": stats["__aligned"],
                "rows": rows,
                "staged_without_source": stats["__stg_only"],
                "source_without_staged": stats["__src_only"],
            },
            "" if stats["__aligned"] == rows else "staged keys are not the keyed permutation of the source keys",
        )
    )
    for c in pii:
        same = int(stats[f"same__{c}"] or 0)
        bound = allowed_chance(rows, _unchanged_chance(spec.columns[c]) or 0.0)
        ctx.add(Check("pii_changed", table, c, same <= bound, {"unchanged_rows": same, "chance_bound": bound}))
    for c, max_days in shifts.items():
        lo, hi = stats[f"min__{c}"], stats[f"max__{c}"]
        ok = lo is None or (lo >= -max_days and hi <= -1)
        numbers = {"min_days": lo, "max_days": hi, "allowed": f"[-{max_days}, -1]"}
        if stats[f"out__{c}"] is not None:  # generalized: shift then coarsen, checked as one monotone range
            ok = int(stats[f"out__{c}"]) == 0
            numbers.update(allowed=f"G(source - [1, {max_days}])", outside_rows=int(stats[f"out__{c}"]))
        ctx.add(Check("date_shift_in_bounds", table, c, ok, numbers))
    for key in [k for k in stats if k.startswith("badfmt__")]:
        c = key.split("__", 1)[1]
        bad = int(stats[key] or 0)
        strategy = spec.columns[c].strategy
        numbers = {"strategy": strategy, "invalid_rows": bad}
        ctx.add(
            Check("format_valid", table, c, bad == 0, numbers, "" if bad == 0 else STRATEGIES[strategy].output_rule)
        )


def _overlap_columns(ctx: CheckContext, table: str) -> list[str]:
    spec = ctx.contract.tables[table]
    return [
        c
        for c, col in spec.columns.items()
        if col.classification == "direct_identifier" and STRATEGIES[col.strategy].unchanged_chance is not None
    ]


def _value_hash(value: Any) -> Any:
    """A value's 64-bit hash (NULL stays NULL), the key the overlap count aggregates on.

    Why: grouping 8-byte longs instead of strings made the dim_patients overlap at 10M visits 6.4 s instead of
    8.4-8.8 s (medians of 3, same counts). Equal values have equal hashes, so a value found on both sides is
    always counted: a blocking column with any overlap still fails. A collision can only merge two overlapping
    values into one or add one false overlap; with n values per side that happens with probability about
    n^2 / 2^64 (2e-7 for 2M patients). Not a keyed or secret hash: it never leaves the aggregation.
    """
    return F.when(value.isNotNull(), F.xxhash64(value))


def _overlap_numbers(ctx: CheckContext, table: str) -> dict[str, int]:
    """Distinct staged values found anywhere in the same source column, for every direct identifier.

    One job per column type instead of one per column: each side is read once and its (column, value) pairs
    exploded, tagged with their side (1 staging, 2 source) and unioned; one hash aggregation per (column,
    value) ORs the tags, and the values tagged by both sides are counted per column. Why not a semi-join
    followed by a distinct count: that sorted both sides and shuffled the matches a second time (dim_patients
    at 10M visits, warm: 11.4-11.5 s against 7.3-7.6 s this way, same counts). Why no de-duplication before:
    identifiers are mostly unique, so a distinct on each side removed almost nothing.

    Values are aggregated by their 64-bit hash (:func:`_value_hash`), not by the strings themselves.
    """
    columns = _overlap_columns(ctx, table)
    src_df, stg_df = _src(ctx, table), _stg(ctx, table)
    by_type: dict[str, list[str]] = {}
    for c in columns:  # an array holds one element type: columns of different types go in different jobs
        by_type.setdefault(stg_df.schema[c].dataType.simpleString(), []).append(c)
    out = dict.fromkeys(columns, 0)
    for group in by_type.values():

        def pairs(df: DataFrame, side: int, group: list[str] = group) -> DataFrame:
            cells = F.array(
                *[F.struct(F.lit(i).alias("c"), _value_hash(F.col(c)).alias("v")) for i, c in enumerate(group)]
            )
            exploded = df.select(F.explode(cells).alias("x")).select("x.c", "x.v", F.lit(side).alias("side"))
            return exploded.where(F.col("v").isNotNull())

        tagged = pairs(stg_df, 1).unionByName(pairs(src_df, 2)).groupBy("c", "v").agg(F.bit_or("side").alias("on"))
        rows = tagged.where(F.col("on") == 3).groupBy("c").agg(F.count(F.lit(1)).alias("n")).collect()
        out.update({group[int(r["c"])]: int(r["n"]) for r in rows})
    return out


def _judge_pii_overlap(ctx: CheckContext, table: str, overlaps: dict[str, int]) -> None:
    """How many staged values of each direct identifier exist anywhere in the source column.

    Blocking only for strategies whose output space cannot meet real values (hash, email at reserved
    domains); for names, addresses, SSNs and phones a coincidental overlap with *another* person's real value
    is expected and is reported, while the per-row check above catches a value passed through.
    """
    spec = ctx.contract.tables[table]
    for c in _overlap_columns(ctx, table):
        overlap = overlaps[c]
        blocking = STRATEGIES[spec.columns[c].strategy].overlap_blocking
        ctx.add(
            Check(
                "pii_value_overlap",
                table,
                c,
                not (blocking and overlap),
                {"overlapping_values": overlap, "blocking": blocking},
            )
        )


@dataclass(frozen=True)
class _Interval:
    """A date_shift column of a child and one of its FK parent's, shifted per the same entity (visit_date, dob)."""

    table: str
    fk: Any
    column: str
    parent: str
    parent_column: str

    @property
    def label(self) -> str:
        return f"{self.column}-{self.parent}.{self.parent_column}"

    @property
    def job(self) -> tuple[str, str]:
        """Its key among the check jobs' numbers."""
        return ("interval", f"{self.table}:{self.label}")


def _intervals(ctx: CheckContext) -> list[_Interval]:
    """Every child/parent date pair whose intervals the shift must keep (coarsened ones are left out)."""
    c = ctx.contract
    found = []
    for table, spec in c.tables.items():
        for fk in spec.foreign_keys:
            parent = fk.references.table
            for cc, ccol in spec.columns.items():
                if STRATEGIES[ccol.strategy].shift_days is None:
                    continue
                for pc, pcol in c.tables[parent].columns.items():
                    shifted = STRATEGIES[pcol.strategy].shift_days is not None
                    if not shifted or c.entity_domain(table, cc) != c.entity_domain(parent, pc):
                        continue
                    if c.privacy and (
                        c.privacy.generalization_of(table, cc) or c.privacy.generalization_of(parent, pc)
                    ):
                        continue  # coarsened on purpose after the shift: the risk report states the utility cost
                    found.append(_Interval(table, fk, cc, parent, pc))
    return found


def _interval_mismatches(ctx: CheckContext, pair: _Interval) -> int:
    """Interval values (child date - parent date over the FK join) counted differently in source and staging.

    One Spark job per pair, run with the other check jobs (it used to run after them, one pair at a time:
    2-3 s of the wide schema's check step for three pairs).
    """
    counts = []
    for read in (_src, _stg):
        ch, pa = read(ctx, pair.table), read(ctx, pair.parent)
        pa = pa.select(*[F.col(x).alias(f"__p_{x}") for x in pa.columns])
        cond = [ch[a] == pa[f"__p_{b}"] for a, b in zip(pair.fk.columns, pair.fk.references.columns, strict=True)]
        j = ch.join(pa, cond).select(
            F.datediff(F.col(pair.column).cast("date"), F.col(f"__p_{pair.parent_column}").cast("date")).alias("d")
        )
        counts.append(j.groupBy("d").count())
    s, t = counts
    return (
        s.join(t.withColumnRenamed("count", "t"), "d", "full_outer")
        .where(F.coalesce(F.col("count"), F.lit(0)) != F.coalesce(F.col("t"), F.lit(0)))
        .count()
    )


def _judge_intervals(ctx: CheckContext, measured: dict[tuple[str, str], Any]) -> None:
    """For date_shift columns of one entity in a child and its parent (visit_date vs dob): the multiset of
    intervals over the FK join is identical in source and staging (age at visit preserved)."""
    for pair in _intervals(ctx):
        mism = measured[pair.job]
        ctx.add(Check("interval_preserved", pair.table, pair.label, mism == 0, {"differing_intervals": mism}))


# The seed project's two assertions, evaluated on numbers the aggregations above measured.
SEED_VALIDATION = """
SELECT assert_true(:counts_equal, 'row counts differ between source and staging') AS counts_ok,
assert_true(:joins_equal, 'fact_visits joined on all dimensions differs between source and staging') AS joins_ok
"""


def _judge_seed_validation(ctx: CheckContext, measured: dict[tuple[str, str], Any]) -> None:
    """The seed project's validation assertions (counts, joined count), with Spark SQL's assert_true.

    The numbers are the ones the per-table aggregations measured (row counts; the chained join's row count
    is the sum of the product of parent-key multiplicities over the fact rows), not four more counts and
    two more three-way joins.
    """
    child = SEED_JOIN[0]
    if not all(t in ctx.contract.tables for t in SEED_TABLES.values()) or not seed_products(ctx.contract, child):
        return
    counts_equal = all(measured[("src", t)]["__rows"] == measured[("stg", t)]["__rows"] for t in SEED_TABLES.values())
    joins_equal = measured[("fk_src", child)]["product0"] == measured[("fk_stg", child)]["product0"]
    try:
        ctx.runtime.sql(SEED_VALIDATION, {"counts_equal": counts_equal, "joins_equal": joins_equal}).collect()
        ctx.add(Check("seed_validate_results", "*", None, True, {"assertions": 2}))
    except Exception as exc:
        ctx.add(Check("seed_validate_results", "*", None, False, {"assertions": 2}, first_line(exc)))


def run_checks(ctx: CheckContext) -> list[Check]:
    """All checks, with as few Spark jobs as the checks allow, run concurrently; reported in table order.

    Per table: one aggregation over source rows outer-joined with their own staged rows (PII, shifts, formats,
    and the staged table's rows, NULLs and key uniqueness), one over the source rows staging should hold, one
    per side for all its foreign keys, and one for the direct identifiers' value overlap; one per entity
    interval pair. The seed validation and the release checks reuse these numbers.
    """
    order = ctx.contract.dependency_order()
    spec = ctx.contract.tables
    jobs: list[tuple[tuple[str, str], Callable[[], Any]]] = []

    def fk_job(side: str, table: str) -> Callable[[], Any]:
        read = _src if side == "src" else _stg
        fks = spec[table].foreign_keys
        return lambda: fk_numbers(
            read(ctx, table), [read(ctx, fk.references.table) for fk in fks], fks, seed_products(ctx.contract, table)
        )

    filtered = ctx.filtered_tables or (frozenset(spec) if ctx.source_filter else frozenset())

    def reusable(key: tuple[str, str]) -> bool:
        touched = {key[1]} | (
            {fk.references.table for fk in spec[key[1]].foreign_keys} if key[0] == "fk_src" else set()
        )
        return key in ctx.gate_numbers and not touched & filtered

    for t in order:
        jobs += [
            (("aligned", t), partial(_row_numbers, ctx, t)),
            (("src", t), partial(_source_numbers, ctx, t)),
        ]
        if spec[t].foreign_keys:
            jobs += [(("fk_stg", t), fk_job("stg", t)), (("fk_src", t), fk_job("src", t))]
        if _overlap_columns(ctx, t):
            jobs.append((("overlap", t), partial(_overlap_numbers, ctx, t)))
    jobs += [(p.job, partial(_interval_mismatches, ctx, p)) for p in _intervals(ctx)]
    reused = {k: ctx.gate_numbers[k] for k, _ in jobs if reusable(k)}
    jobs = [(k, fn) for k, fn in jobs if k not in reused]
    measured = dict(zip([k for k, _ in jobs], in_parallel([fn for _, fn in jobs], lambda fn: fn()), strict=True))
    measured.update(reused)
    for t in order:
        rows = int(measured[("src", t)]["__rows"])
        measured[("stg", t)] = _staged_numbers(measured[("aligned", t)].stats, list(spec[t].columns), rows)
    ctx.measured = measured
    ctx.reused = [f"{kind}:{table}" for kind, table in reused]
    for t in order:
        check_structure(ctx, t)
        _judge_counts(ctx, t, measured[("src", t)], measured[("stg", t)])
        if spec[t].foreign_keys:
            _judge_foreign_keys(ctx, t, measured[("fk_src", t)], measured[("fk_stg", t)])
        _judge_rows(ctx, t, int(measured[("stg", t)]["__rows"]), measured[("aligned", t)])
        if ("overlap", t) in measured:
            _judge_pii_overlap(ctx, t, measured[("overlap", t)])
    _judge_intervals(ctx, measured)
    _judge_seed_validation(ctx, measured)
    for extra in ctx.extra_checks:
        extra(ctx)
    return ctx.results


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
