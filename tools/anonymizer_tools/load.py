"""``anonymizer load``: bring your own sample data into the local source catalog, all or nothing.

Why all or nothing: the previous source tables may be the only copy of a developer's sample data. Every
table is read, checked against the contract (columns, types, NOT NULL) and written to a scratch Delta table
first; only when every table is staged are the source tables replaced, and a failure while replacing restores
each already-replaced table to its previous Delta version. Any failure before that leaves every source table
exactly at its current Delta version.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from anonymizer.contract import Contract
from anonymizer.errors import UsageError
from anonymizer.runtime import LocalRuntime, Runtime, create_table_sql
from anonymizer.sqltypes import spark_cast_type
from anonymizer.tables import contract_columns, foreign_keys

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


class LoadError(UsageError):
    """A file cannot be loaded as the contract says; nothing in the source catalog was changed."""


@dataclass(frozen=True)
class Staged:
    table: str
    path: Path  # the input file or folder
    name: str  # the source table's UC name
    rows: int


def _find(folder: Path, table: str) -> tuple[str, Path]:
    for fmt, candidates in (
        ("parquet", [folder / f"{table}.parquet", folder / table]),
        ("csv", [folder / f"{table}.csv"]),
    ):
        for path in candidates:
            if path.exists() and (fmt == "csv" or path.suffix == ".parquet" or any(path.glob("*.parquet"))):
                return fmt, path
    raise LoadError(
        f"--from {folder}: no {table}.parquet, {table}/ (Parquet) or {table}.csv",
        fix="add one file (or Spark output folder) per contract table",
    )


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise LoadError(f"--from {folder}: no such folder", fix="pass the folder that holds the table files")
    if not folder.is_dir():
        raise LoadError(f"--from {folder}: not a folder", fix="pass the folder that holds the table files")
    if not any(folder.iterdir()):
        raise LoadError(f"--from {folder}: the folder is empty", fix="put one file per contract table in it")


def _spark_failure(exc: Exception) -> str:
    """Spark's error condition or class name only: its message may quote the offending (personal) values."""
    for getter in ("getCondition", "getErrorClass"):
        fn = getattr(exc, getter, None)
        if callable(fn):
            try:
                condition = fn()
            except Exception:  # noqa: S112 - not a structured Spark error
                continue
            if condition:
                return str(condition)
    return type(exc).__name__


def _read(runtime: Runtime, fmt: str, path: Path, table: str) -> DataFrame:
    reader = runtime.spark.read
    try:
        df = reader.parquet(str(path)) if fmt == "parquet" else reader.option("header", True).csv(str(path))
        df.schema  # noqa: B018 - resolve the schema now: an unreadable file fails here, naming the file
    except Exception as exc:
        raise LoadError(
            f"{path}: table {table}: cannot read the file ({_spark_failure(exc)})", fix="fix or replace the file"
        ) from None
    return df


def _validated(runtime: Runtime, contract: Contract, table: str, fmt: str, path: Path) -> DataFrame:
    """The file as a DataFrame of the contract's columns and types, or a LoadError naming table and column."""
    from pyspark.sql import functions as F

    df = _read(runtime, fmt, path, table)
    columns = contract_columns(contract, table)
    want = {c.name for c in columns}
    missing = sorted(want - set(df.columns))
    extra = sorted(set(df.columns) - want)
    if missing or extra:
        raise LoadError(
            f"{path}: table {table} columns differ from the contract (missing {missing}, unexpected {extra})",
            fix="fix the file or the contract",
        )
    casts: dict[str, Column] = {}
    for c in columns:
        cast = F.expr(f"try_cast(`{c.name}` AS {spark_cast_type(c.type)})")
        try:
            df.select(cast).schema  # noqa: B018 - analysis only: is this cast allowed at all?
        except Exception as exc:
            source_type = dict(df.dtypes)[c.name]
            raise LoadError(
                f"{path}: table {table} column {c.name}: a {source_type} column cannot be converted to {c.type} "
                f"({_spark_failure(exc)})",
                fix="write the column with the contract's type (or fix the contract's type)",
            ) from None
        casts[c.name] = cast
    # One aggregation per table: values that do not convert (they would silently become NULL) and NULLs in
    # NOT NULL columns (the insert would fail deep in Delta), counted per column.
    stats = (
        df.agg(
            *[
                F.sum((F.col(f"`{n}`").isNotNull() & cast.isNull()).cast("long")).alias(f"lost:{n}")
                for n, cast in casts.items()
            ],
            *[
                F.sum(F.col(f"`{c.name}`").isNull().cast("long")).alias(f"null:{c.name}")
                for c in columns
                if not c.nullable
            ],
        )
        .collect()[0]
        .asDict()
    )
    for c in columns:
        lost = stats.get(f"lost:{c.name}") or 0
        if lost:
            raise LoadError(
                f"{path}: table {table} column {c.name}: {lost} value(s) are not valid {c.type}",
                fix="fix the file (or the contract's type)",
            )
    for c in columns:
        nulls = stats.get(f"null:{c.name}") or 0
        if nulls:
            raise LoadError(
                f"{path}: table {table} column {c.name}: {nulls} empty value(s) in a NOT NULL column",
                fix="fill them in the file (or make the column nullable in the contract)",
            )
    return df.select(*[cast.alias(n) for n, cast in casts.items()])


def _stage(runtime: Runtime, scratch: LocalRuntime, contract: Contract, folder: Path) -> list[Staged]:
    """Validate every table and write it to a scratch Delta table with the contract's DDL."""
    staged: list[Staged] = []
    for table in contract.dependency_order():
        fmt, path = _find(folder, table)
        typed = _validated(runtime, contract, table, fmt, path)
        name = contract.source_name(table)
        columns = contract_columns(contract, table)
        try:
            scratch.create_table(name, columns)
            scratch.overwrite(name, typed, [c.name for c in columns])
        except Exception as exc:
            raise LoadError(
                f"{path}: table {table}: the rows do not fit the contract's table ({_spark_failure(exc)})",
                fix="check the file's values against the contract's types and NOT NULL columns",
            ) from None
        staged.append(Staged(table, path, name, scratch.read(name).count()))
    return staged


def _swap(runtime: Runtime, scratch: LocalRuntime, contract: Contract, staged: list[Staged]) -> None:
    """Replace every source table by its staged copy; on failure put back what was there."""
    before: dict[str, int | None] = {
        s.name: runtime.version(s.name) if runtime.exists(s.name) else None for s in staged
    }
    try:
        for s in staged:
            columns = contract_columns(contract, s.table)
            if runtime.exists(s.name) and runtime.columns(s.name) != columns:
                # An older layout: replace the table in one Delta commit (history kept, so RESTORE works).
                ddl = create_table_sql(runtime.ref(s.name), columns, {})
                runtime.sql(ddl.replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TABLE", 1))
            runtime.create_table(s.name, columns)
            runtime.overwrite(s.name, scratch.read(s.name), [c.name for c in columns])
            runtime.declare_keys(s.name, contract.tables[s.table].primary_key, foreign_keys(contract, s.table))
    except Exception:
        for name, version in before.items():
            if version is None:
                runtime.drop(name)
            elif runtime.exists(name) and runtime.version(name) != version:
                runtime.restore(name, version)
        raise


def load_directory(
    runtime: Runtime,
    contract: Contract,
    folder: Path,
    progress: Callable[[str], None],
    *,
    scratch_root: Path,
) -> None:
    """Load one file per contract table into the source catalog, cast to the contract's types, all or none.

    A column missing from a file, an extra column, a value that does not convert to the contract's type, a
    type that cannot be converted at all, or an empty value in a NOT NULL column is an error naming the file,
    table and column; the source tables are then exactly as they were.
    """
    _check_folder(folder)
    scratch_dir = scratch_root / f"load-{uuid.uuid4().hex[:12]}"
    scratch = LocalRuntime(runtime.spark, scratch_dir)
    try:
        staged = _stage(runtime, scratch, contract, folder)
        _swap(runtime, scratch, contract, staged)
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
    for s in staged:
        progress(f"  loaded {s.name:<40} {s.rows:>10,} rows from {s.path}")
