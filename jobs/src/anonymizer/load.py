"""Bring your own sample data: load Parquet/CSV files into the local source catalog per a contract, and
suggest a contract for tables that have none yet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from anonymizer.classify import suggest
from anonymizer.contract import Contract
from anonymizer.generate import contract_columns, foreign_keys
from anonymizer.runtime import LocalRuntime, Runtime
from anonymizer.sqltypes import spark_cast_type


def _find(folder: Path, table: str) -> tuple[str, Path]:
    for fmt, candidates in (
        ("parquet", [folder / f"{table}.parquet", folder / table]),
        ("csv", [folder / f"{table}.csv"]),
    ):
        for path in candidates:
            if path.exists() and (fmt == "csv" or path.suffix == ".parquet" or any(path.glob("*.parquet"))):
                return fmt, path
    raise FileNotFoundError(
        f"no {table}.parquet, {table}/ (Parquet) or {table}.csv in {folder}: add one file per contract table"
    )


def load_directory(runtime: Runtime, contract: Contract, folder: Path, progress: Callable[[str], None]) -> None:
    """Create each contract table in the source catalog and load its file, cast to the contract's types.

    A column missing from a file, or an extra column, is an error naming the table and column: the loaded
    data must match the contract, or the gate would refuse it anyway.
    """
    from pyspark.sql import functions as F

    if not folder.is_dir():
        raise FileNotFoundError(f"--from {folder}: not a folder")
    for table in contract.dependency_order():
        fmt, path = _find(folder, table)
        reader = runtime.spark.read
        df = reader.parquet(str(path)) if fmt == "parquet" else reader.option("header", True).csv(str(path))
        columns = contract_columns(contract, table)
        want = {c.name for c in columns}
        missing = sorted(want - set(df.columns))
        extra = sorted(set(df.columns) - want)
        if missing or extra:
            raise ValueError(
                f"{path}: table {table} columns differ from the contract "
                f"(missing {missing}, unexpected {extra}); fix the file or the contract"
            )
        name = contract.source_name(table)
        if runtime.exists(name):
            runtime.drop(name)
        runtime.create_table(name, columns)
        casts = {c.name: F.expr(f"try_cast(`{c.name}` AS {spark_cast_type(c.type)})") for c in columns}
        # A value that does not convert to the contract's type would silently become NULL (or fail deep in
        # Spark): count such values per column and name the offender instead.
        lost = (
            df.agg(*[F.sum((F.col(n).isNotNull() & cast.isNull()).cast("long")).alias(n) for n, cast in casts.items()])
            .collect()[0]
            .asDict()
        )
        bad = {n: v for n, v in lost.items() if v}
        if bad:
            col = next(iter(bad))
            ctype = next(c.type for c in columns if c.name == col)
            raise ValueError(
                f"{path}: table {table} column {col}: {bad[col]} value(s) are not valid {ctype}; "
                "fix the file (or the contract's type)"
            )
        typed = df.select(*[cast.alias(n) for n, cast in casts.items()])
        runtime.overwrite(name, typed, [c.name for c in columns])
        runtime.declare_keys(name, contract.tables[table].primary_key, foreign_keys(contract, table))
        progress(f"  loaded {name:<40} {runtime.read(name).count():>10,} rows from {path}")


def suggest_contract(runtime: Runtime, contract: Contract, only: str | None = None) -> str:
    """YAML of suggested column entries for live source tables (every guess marked for review)."""
    src = contract.source
    if isinstance(runtime, LocalRuntime):
        tables = runtime.list_tables(src.catalog, src.schema_)
    else:
        rows = runtime.sql(f"SHOW TABLES IN `{src.catalog}`.`{src.schema_}`").collect()
        tables = sorted(r["tableName"] for r in rows)
    if only:
        tables = [t for t in tables if t == only.split(".")[-1]]
        if not tables:
            raise ValueError(f"table {only} not found in {src.catalog}.{src.schema_}")
    doc: dict[str, object] = {}
    notes: list[str] = []
    for table in tables:
        name = f"{src.catalog}.{src.schema_}.{table}"
        live = runtime.columns(name)
        keys = runtime.key_metadata(name)
        key_cols = [c.name for c in live if c.name in keys.primary_key] or [
            c.name for c in live if c.name.endswith("_id")
        ]
        entries = {c.name: suggest(table, c, keys, key_cols) for c in live}
        notes += [f"# {e.pop('review')}" for e in entries.values()]
        doc[table] = {"primary_key": list(keys.primary_key) or key_cols[:1], "columns": entries}
    return "\n".join(notes) + "\n" + yaml.safe_dump({"tables": doc}, sort_keys=False)
