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
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from anonymizer.contract import Contract
from anonymizer.privacy import shift_bounds_violation
from anonymizer.runtime import Runtime
from anonymizer.strategies import STRATEGIES, CheckInput

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

    def add(self, check: Check) -> None:
        self.results.append(check)


def _src(ctx: CheckContext, table: str) -> DataFrame:
    df = ctx.runtime.read(ctx.contract.source_name(table))
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


def check_counts(ctx: CheckContext, table: str) -> dict[str, int]:
    """Row counts and per-column NULL counts equal; primary key unique and non-null."""
    spec = ctx.contract.tables[table]
    cols = list(spec.columns)
    aggs = [F.count(F.lit(1)).alias("__rows")] + [F.sum(F.col(c).isNull().cast("long")).alias(c) for c in cols]
    src = _src(ctx, table).agg(*aggs).collect()[0].asDict()
    stg_df = _stg(ctx, table)
    pk = spec.primary_key
    stg = stg_df.agg(*aggs, F.count_distinct(*[F.col(c) for c in pk]).alias("__distinct_pk")).collect()[0].asDict()
    ctx.add(
        Check(
            "row_count_equal",
            table,
            None,
            src["__rows"] == stg["__rows"],
            {"source": src["__rows"], "staging": stg["__rows"]},
        )
    )
    diffs = {c: (src[c] or 0, stg[c] or 0) for c in cols if (src[c] or 0) != (stg[c] or 0)}
    ctx.add(
        Check(
            "null_counts_equal",
            table,
            None,
            not diffs,
            {"columns": len(cols), "differing": len(diffs)},
            "; ".join(f"{c}: source {a} vs staging {b}" for c, (a, b) in diffs.items()),
        )
    )
    pk_nulls = sum(stg[c] or 0 for c in pk)
    ctx.add(
        Check(
            "primary_key_unique",
            table,
            ",".join(pk),
            stg["__distinct_pk"] == stg["__rows"] and pk_nulls == 0,
            {"rows": stg["__rows"], "distinct": stg["__distinct_pk"], "nulls": pk_nulls},
        )
    )
    return {"rows": int(stg["__rows"])}


def _orphans_and_joined(child: DataFrame, parent: DataFrame, cols: list[str], pcols: list[str]) -> tuple[int, int]:
    """(orphans, joined rows) of child -> parent in one left join (parent keys are unique: checked before)."""
    present = child
    for c in cols:
        present = present.where(F.col(c).isNotNull())
    p = parent.select(*[F.col(pc).alias(f"__p{i}") for i, pc in enumerate(pcols)], F.lit(1).alias("__hit"))
    cond = [present[c] == p[f"__p{i}"] for i, c in enumerate(cols)]
    row = (
        present.join(p, cond, "left")
        .agg(
            F.sum(F.col("__hit").isNull().cast("long")).alias("orphans"),
            F.sum(F.col("__hit").isNotNull().cast("long")).alias("joined"),
        )
        .collect()[0]
    )
    return int(row["orphans"] or 0), int(row["joined"] or 0)


def check_foreign_keys(ctx: CheckContext, table: str) -> None:
    """Orphans and join cardinality of every FK equal the source's."""
    for fk in ctx.contract.tables[table].foreign_keys:
        parent = fk.references.table
        s_orph, s_join = _orphans_and_joined(_src(ctx, table), _src(ctx, parent), fk.columns, fk.references.columns)
        t_orph, t_join = _orphans_and_joined(_stg(ctx, table), _stg(ctx, parent), fk.columns, fk.references.columns)
        ctx.add(
            Check(
                "foreign_key_integrity",
                table,
                ",".join(fk.columns),
                s_orph == t_orph and s_join == t_join,
                {
                    "parent": parent,
                    "source_orphans": s_orph,
                    "staging_orphans": t_orph,
                    "source_joined": s_join,
                    "staging_joined": t_join,
                },
            )
        )


def _aligned(ctx: CheckContext, table: str) -> DataFrame:
    """Source rows joined with their own staged rows (s.* and t.* prefixes), via the re-derived anonymized PK."""
    pk = ctx.contract.tables[table].primary_key
    src = ctx.anonymize_keys(_src(ctx, table), table)
    src = src.select(*[F.col(c).alias(f"s__{c}") for c in src.columns])
    stg = _stg(ctx, table)
    stg = stg.select(*[F.col(c).alias(f"t__{c}") for c in stg.columns])
    cond = [src[f"s____anon_{c}"] == stg[f"t__{c}"] for c in pk]
    return src.join(stg, cond, "inner")


def _unchanged_chance(col: Any) -> float | None:
    """P(a replacement equals its source value) for PII columns whose strategy declares one, else None."""
    if col.classification not in PII_CLASSES:
        return None
    return STRATEGIES[col.strategy].unchanged_chance


def check_rows(ctx: CheckContext, table: str, rows: int) -> None:
    """Per-row checks on aligned rows: PII changed, date shifts within bounds, every output valid for its strategy."""
    spec = ctx.contract.tables[table]
    settings = ctx.contract.settings
    aligned = _aligned(ctx, table)
    aggs = [F.count(F.lit(1)).alias("__aligned")]
    pii = [c for c, col in spec.columns.items() if _unchanged_chance(col) is not None]
    for c in pii:
        aggs.append(F.sum((F.col(f"s__{c}") == F.col(f"t__{c}")).cast("long")).alias(f"same__{c}"))
    shifts = {}
    generalized_shift: dict[str, Any] = {}
    for c, col in spec.columns.items():
        shift_days = STRATEGIES[col.strategy].shift_days
        if shift_days is not None:
            max_days = shift_days(col.strategy_params(), settings)
            shifts[c] = max_days
            diff = F.datediff(F.col(f"t__{c}").cast("date"), F.col(f"s__{c}").cast("date"))
            aggs += [F.min(diff).alias(f"min__{c}"), F.max(diff).alias(f"max__{c}")]
            # generalized after the shift (privacy section): the staged value must be G(source - [1, max_days])
            outside = shift_bounds_violation(ctx.contract, table, c, F.col(f"t__{c}"), F.col(f"s__{c}"), max_days)
            aggs.append(F.sum(outside.cast("long") if outside is not None else F.lit(None)).alias(f"out__{c}"))
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
        aggs.append(F.sum(invalid.cast("long")).alias(f"badfmt__{c}"))
    stats = aligned.agg(*aggs).collect()[0].asDict()
    ctx.add(
        Check(
            "rows_aligned",
            table,
            None,
            stats["__aligned"] == rows,
            {"aligned": stats["__aligned"], "rows": rows},
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


def check_pii_overlap(ctx: CheckContext, table: str) -> None:
    """Anti-join per direct identifier: how many staged values exist anywhere in the source column.

    Blocking only for strategies whose output space cannot meet real values (hash, email at reserved
    domains); for names, addresses, SSNs and phones a coincidental overlap with *another* person's real value
    is expected and is reported, while the per-row check above catches a value passed through.
    """
    spec = ctx.contract.tables[table]
    for c, col in spec.columns.items():
        if col.classification != "direct_identifier" or STRATEGIES[col.strategy].unchanged_chance is None:
            continue
        src = _src(ctx, table).select(F.col(c).alias("v")).where(F.col("v").isNotNull()).distinct()
        stg = _stg(ctx, table).select(F.col(c).alias("v")).where(F.col("v").isNotNull()).distinct()
        overlap = stg.join(src, "v", "left_semi").count()
        blocking = STRATEGIES[col.strategy].overlap_blocking
        ctx.add(
            Check(
                "pii_value_overlap",
                table,
                c,
                not (blocking and overlap),
                {"overlapping_values": overlap, "blocking": blocking},
            )
        )


def check_entity_intervals(ctx: CheckContext) -> None:
    """For date_shift columns of one entity in a child and its parent (visit_date vs dob): the multiset of
    intervals over the FK join is identical in source and staging (age at visit preserved)."""
    c = ctx.contract
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
                    counts = []
                    for read in (_src, _stg):
                        ch, pa = read(ctx, table), read(ctx, parent)
                        pa = pa.select(*[F.col(x).alias(f"__p_{x}") for x in pa.columns])
                        cond = [ch[a] == pa[f"__p_{b}"] for a, b in zip(fk.columns, fk.references.columns, strict=True)]
                        j = ch.join(pa, cond).select(
                            F.datediff(F.col(cc).cast("date"), F.col(f"__p_{pc}").cast("date")).alias("d")
                        )
                        counts.append(j.groupBy("d").count())
                    s, t = counts
                    mism = (
                        s.join(t.withColumnRenamed("count", "t"), "d", "full_outer")
                        .where(F.coalesce(F.col("count"), F.lit(0)) != F.coalesce(F.col("t"), F.lit(0)))
                        .count()
                    )
                    ctx.add(
                        Check(
                            "interval_preserved", table, f"{cc}-{parent}.{pc}", mism == 0, {"differing_intervals": mism}
                        )
                    )


SEED_VALIDATION = """
SELECT assert_true(
  (SELECT COUNT(*) FROM {src_doctors}) = (SELECT COUNT(*) FROM {stg_doctors})
  AND (SELECT COUNT(*) FROM {src_patients}) = (SELECT COUNT(*) FROM {stg_patients})
  AND (SELECT COUNT(*) FROM {src_hospitals}) = (SELECT COUNT(*) FROM {stg_hospitals})
  AND (SELECT COUNT(*) FROM {src_visits}) = (SELECT COUNT(*) FROM {stg_visits}),
  'row counts differ between source and staging') AS counts_ok,
assert_true(
  (SELECT COUNT(*) FROM {src_visits} v JOIN {src_patients} p ON v.patient_id = p.patient_id
     JOIN {src_hospitals} h ON v.hospital_id = h.hospital_id)
  = (SELECT COUNT(*) FROM {stg_visits} v JOIN {stg_patients} p ON v.patient_id = p.patient_id
     JOIN {stg_hospitals} h ON v.hospital_id = h.hospital_id),
  'fact_visits joined on all dimensions differs between source and staging') AS joins_ok
"""


def check_seed_validation(ctx: CheckContext) -> None:
    """The seed project's validation assertions (counts, joined count) as Spark SQL with assert_true."""
    c = ctx.contract
    needed = {
        "doctors": "dim_doctors",
        "patients": "dim_patients",
        "hospitals": "dim_hospitals",
        "visits": "fact_visits",
    }
    if not all(t in c.tables for t in needed.values()):
        return
    refs = {}
    views = []
    for short, table in needed.items():
        refs[f"src_{short}"] = ctx.runtime.ref(c.source_name(table))
        refs[f"stg_{short}"] = ctx.runtime.ref(c.staging_name(table))
        if ctx.source_filter:  # compare with the source rows staging should hold
            views.append(f"_anonymizer_released_{short}")
            _src(ctx, table).createOrReplaceTempView(views[-1])
            refs[f"src_{short}"] = views[-1]
    try:
        ctx.runtime.sql(SEED_VALIDATION.format(**refs)).collect()
        ctx.add(Check("seed_validate_results", "*", None, True, {"assertions": 2}))
    except Exception as exc:
        ctx.add(Check("seed_validate_results", "*", None, False, {"assertions": 2}, str(exc).splitlines()[0][:300]))
    finally:
        for view in views:
            ctx.runtime.spark.catalog.dropTempView(view)


def run_checks(ctx: CheckContext) -> list[Check]:
    """All checks; tables are checked in parallel threads (independent Spark jobs), reported in table order."""
    from concurrent.futures import ThreadPoolExecutor

    order = ctx.contract.dependency_order()

    def per_table(table: str) -> None:
        check_structure(ctx, table)
        rows = check_counts(ctx, table)["rows"]
        check_foreign_keys(ctx, table)
        check_rows(ctx, table, rows)
        check_pii_overlap(ctx, table)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(per_table, t) for t in order]
    for future in futures:
        future.result()
    ctx.results.sort(key=lambda c: order.index(c.table))
    check_entity_intervals(ctx)
    check_seed_validation(ctx)
    for extra in ctx.extra_checks:
        extra(ctx)
    return ctx.results


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
