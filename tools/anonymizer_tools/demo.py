"""What ``anonymizer demo`` shows a new user: a few source rows next to their anonymized rows.

Rows are paired by re-deriving the anonymized key, exactly as the checks do; this is the synthetic demo
data, so printing values is fine here (the report never contains any).
"""

from __future__ import annotations

from collections.abc import Callable

from anonymizer.context import Context
from anonymizer.pipeline import key_aligner


def print_samples(ctx: Context, emit: Callable[[str], None], rows: int = 3) -> None:
    from pyspark.sql import functions as F

    align = key_aligner(ctx)
    for table in ctx.contract.dependency_order():
        spec = ctx.contract.tables[table]
        pk = spec.primary_key
        src = align(ctx.runtime.read(ctx.contract.source_name(table)), table).orderBy(*pk).limit(rows)
        tgt = ctx.runtime.read(ctx.contract.target_name(table))
        cond = [src[f"__anon_{c}"] == tgt[c] for c in pk]
        pairs = src.alias("s").join(tgt.alias("t"), cond).orderBy(*[F.col(f"s.{c}") for c in pk]).collect()
        emit(f"\n{table}: before -> after")
        for s_row, t_row in _split(pairs, list(spec.columns)):
            emit("  " + ", ".join(f"{c}={s_row[c]!s}" for c in spec.columns))
            emit("  -> " + ", ".join(f"{c}={t_row[c]!s}" for c in spec.columns))


def _split(pairs: list[object], columns: list[str]) -> list[tuple[dict[str, object], dict[str, object]]]:
    out = []
    n = len(columns)
    for row in pairs:
        values = list(row)  # type: ignore[call-overload]
        # Joined row layout: source columns (+ __anon_* columns) then target columns.
        s_vals, t_vals = values[:n], values[-n:]
        out.append((dict(zip(columns, s_vals, strict=True)), dict(zip(columns, t_vals, strict=True))))
    return out
