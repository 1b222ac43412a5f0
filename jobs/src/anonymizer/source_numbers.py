"""Row, NULL and foreign-key numbers of a table, as one set of aggregations the gate and the checks share.

Why one module: the checks compare staging's numbers with the source's (row count, NULLs per column, orphans
and join cardinality of every foreign key). The gate already scans every source table once, at the run's
pinned Delta version, so it measures the source side in that same pass and journals it; the check step then
reuses those numbers instead of scanning the source again (issue #15: "reuse what the gate already measured on
the same source snapshot"). Both sides are built from the functions below, so they count the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from anonymizer.contract import Contract

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# The seed project's tables and its chained join (visits JOIN patients JOIN hospitals), whose row count the
# seed validation compares; its FK indices are counted as a "product" of multiplicities.
SEED_TABLES = {
    "doctors": "dim_doctors",
    "patients": "dim_patients",
    "hospitals": "dim_hospitals",
    "visits": "fact_visits",
}
SEED_JOIN = ("fact_visits", ("patient_id", "hospital_id"))
_FK_NUMBER = re.compile(r"(orphans|joined|product)[0-9]+")


def seed_products(contract: Contract, table: str) -> list[tuple[int, ...]]:
    """FK index groups whose chained join the seed validation counts (only on the seed's own tables)."""
    child, columns = SEED_JOIN
    if table != child or not all(t in contract.tables for t in SEED_TABLES.values()):
        return []
    fks = contract.tables[table].foreign_keys
    found = [next((i for i, fk in enumerate(fks) if fk.columns == [c]), None) for c in columns]
    return [tuple(i for i in found if i is not None)] if None not in found else []


def count_aggregations(columns: Sequence[str], prefix: str = "") -> list[Column]:
    """``__rows`` and the NULL count of every column (named ``<prefix><column>``)."""
    nulls = [F.sum(F.col(f"`{c}`").isNull().cast("long")).alias(f"{prefix}{c}") for c in columns]
    return [F.count(F.lit(1)).alias("__rows"), *nulls]


def join_foreign_keys(
    child: DataFrame,
    parents: Sequence[DataFrame],
    fks: Sequence[Any],
    products: Sequence[tuple[int, ...]],
    indices: Sequence[int] | None = None,
) -> tuple[DataFrame, list[Column]]:
    """``child`` left-joined with each parent's keys and their multiplicity, and the aggregations over it.

    Each parent's keys are grouped with their multiplicity (``__mult<i>``), so the child's rows are never
    multiplied: ``joined<i>`` (sum of multiplicities) is exactly the row count of ``child JOIN parent``, even
    when a parent key is duplicated, and ``orphans<i>`` counts child rows with every FK column set and no
    parent. ``products``: sets of FKs whose chained inner join is counted too (``product<n>``, the sum of the
    product of multiplicities). ``indices``: the FKs' positions in the contract when only some are given.
    """
    df = child
    aggs: list[Column] = []
    mults = {}
    positions = list(indices) if indices is not None else list(range(len(fks)))
    for i, fk, parent in zip(positions, fks, parents, strict=True):
        refs = [f"__fk{i}_{j}" for j in range(len(fk.columns))]
        grouped = parent.groupBy(*[F.col(pc).alias(r) for pc, r in zip(fk.references.columns, refs, strict=True)])
        keys = grouped.agg(F.count(F.lit(1)).alias(f"__mult{i}"))
        df = df.join(keys, [df[c] == keys[r] for c, r in zip(fk.columns, refs, strict=True)], "left")
        mult = F.col(f"__mult{i}")
        present = F.lit(True)
        for c in fk.columns:
            present = present & F.col(c).isNotNull()
        aggs += [
            F.sum((present & mult.isNull()).cast("long")).alias(f"orphans{i}"),
            F.sum(F.coalesce(mult, F.lit(0))).alias(f"joined{i}"),
        ]
        mults[i] = F.coalesce(mult, F.lit(0))
    for n, group in enumerate(products):
        product = F.lit(1).cast("long")
        for i in group:
            product = product * mults[i]
        aggs.append(F.sum(product).alias(f"product{n}"))
    return df, aggs


def fk_numbers(
    child: DataFrame, parents: Sequence[DataFrame], fks: Sequence[Any], products: Sequence[tuple[int, ...]]
) -> dict[str, int]:
    """Orphans, joined rows and chained-join products of every foreign key of one child table, in one job."""
    df, aggs = join_foreign_keys(child, parents, fks, products)
    return fk_subset(df.agg(*aggs).collect()[0].asDict())


def fk_subset(row: dict[str, Any]) -> dict[str, int]:
    """The foreign-key numbers of an aggregation row (which may hold other numbers too)."""
    return {k: int(v or 0) for k, v in row.items() if _FK_NUMBER.fullmatch(k)}
