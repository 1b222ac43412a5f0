"""The anonymization engine: apply each column's contract strategy to a Spark DataFrame.

Design rules, and why:

* **One select, no per-row Python.** Every column becomes one expression: native Spark for what Spark can do
  without a key (``generalize``, ``null``, ``keep``, the date arithmetic of ``date_shift``), an Arrow pandas
  UDF over whole batches for everything keyed (``key``, pools, SSN/phone/email, the date-shift offset,
  ``hash``). The UDFs call the numpy/AES primitives in :mod:`anonymizer.transforms`. Each strategy's
  expression is built by its entry in the registry (:mod:`anonymizer.strategies`); this module only
  dispatches to it and enforces the rules below for every strategy alike.
* **Keys never enter a plan.** Subkeys are derived on the driver and captured only inside the UDF closures;
  no expression carries a key-derived literal, so ``EXPLAIN``, the Spark UI and logs cannot show one.
  The closures themselves are pickled into the plan's Python UDFs and shipped to every executor, so the
  *subkeys* (never the master key) are readable by whoever can read serialized tasks: use a dedicated
  single-user job cluster (README, "The key"). The master :class:`~anonymizer.keys.Keyring` refuses to be pickled, so it cannot reach an executor.
* **Same value, same output where joins need it, nowhere else.** A ``key`` subkey depends on the purpose
  and on the *key domain* (the root key a foreign key resolves to): a primary key and all its foreign keys
  go through one permutation, and a patient's date offset is the same in every table. Pool, SSN, phone,
  email and hash subkeys are per (table, column) (:func:`column_domain`), so equal pseudonyms cannot link
  two columns, unless the contract links them on purpose with ``params: {link_as: NAME}``.
* **Output schema == input schema**, nullability and VARCHAR metadata included: each expression is cast back
  to the input field's type and re-aliased with its metadata; string outputs are cut to the VARCHAR bound;
  non-nullable columns are wrapped in ``coalesce(x, raise_error(..), <typed literal>)``, which makes Spark
  infer non-nullable while failing loudly (instead of inventing a value) if a transform ever produced NULL.
* **NULL in, NULL out.** Keyed UDF outputs are masked with ``CASE WHEN input IS NOT NULL``.
* **Date shift.** ``offset = -(1 + PRF_k(entity raw value) mod max_days)`` with ``k`` derived from the entity's
  key domain, so dob (entity dim_patients.patient_id) and visit_date (entity fact_visits.patient_id, same
  domain) of one patient move by the same number of days: ages and intervals in days are exact. (A
  calendar-year age can still differ by one when a date pair straddles Feb 29; day counts never do.)
  Timestamps move by whole 24-hour days. **NULL entity:** the offset is a PRF (separate subkey) of the
  date value itself: such rows share no offset (knowing one true date reveals nothing about another row),
  the output stays deterministic and in the past; intervals between them are not preserved, as there is no
  entity to preserve them for. A NULL date stays NULL.
* **Fail closed.** A column missing from the contract, a type that differs from the contract, or a strategy
  the engine cannot apply raises :class:`EngineError` before any data is read.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from anonymizer.errors import UsageError
from anonymizer.fpe import permute_range, permute_signed
from anonymizer.keys import Keyring
from anonymizer.prf import cbc_mac, prf_strings, prf_u64
from anonymizer.sqltypes import parse_type, spark_type_name
from anonymizer.strategies import STRATEGIES, BuildContext, column_domain

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructField, StructType

    from anonymizer.contract import Column, Contract

__all__ = [
    "EngineError",
    "anonymize_table",
    "anonymized_schema_ok",
    "cbc_mac",
    "column_domain",
    "permute_range",
    "permute_signed",
    "prf_strings",
    "prf_u64",
    "schema_differences",
    "with_anonymized_keys",
]


class EngineError(UsageError, ValueError):
    """The engine refuses to anonymize a table (the message names the table, column and the fix)."""


# ------------------------------------------------------------------------------------------------------
# expressions
# ------------------------------------------------------------------------------------------------------


def _default_literal(data_type: DataType) -> SparkColumn:
    """A typed non-null literal: only there so Spark infers non-nullable; never produced (see raise_error)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(data_type, T.StringType):
        return F.lit("")
    if isinstance(data_type, T.BinaryType):
        return F.lit(bytearray())
    if isinstance(data_type, T.BooleanType):
        return F.lit(False)
    if isinstance(data_type, T.DateType):
        return F.lit(datetime.date(1970, 1, 1))
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return F.lit(datetime.datetime(1970, 1, 1)).cast(data_type)
    if isinstance(data_type, T.DecimalType):
        # a literal of exactly the column's scale: a cast that may overflow would make Spark infer nullable
        return F.lit(Decimal((0, (0,) * max(1, data_type.precision), -data_type.scale))).cast(data_type)
    if isinstance(data_type, T.NumericType):
        return F.lit(0).cast(data_type)
    raise EngineError(f"no non-null literal for type {data_type.simpleString()}")


def _column_expr(contract: Contract, table: str, field: StructField, column: Column, keyring: Keyring) -> SparkColumn:
    """The column's strategy builds its expression (see :mod:`anonymizer.strategies`)."""
    spec = STRATEGIES.get(column.strategy)
    if spec is None:
        raise EngineError(f"{table}.{field.name}: the engine has no implementation of strategy '{column.strategy}'")
    ctx = BuildContext(contract, table, field, column, column.strategy_params(), keyring.subkey)
    return spec.build(ctx)


def _varchar_bound(field: StructField, column: Column) -> int | None:
    bounds = [column.sql_type.length]
    declared = field.metadata.get("__CHAR_VARCHAR_TYPE_STRING") if field.metadata else None
    if isinstance(declared, str):
        bounds.append(parse_type(declared).length)
    known = [b for b in bounds if b is not None]
    return min(known) if known else None


def _check_columns(df: DataFrame, contract: Contract, table: str) -> None:
    if table not in contract.tables:
        raise EngineError(f"table '{table}' is not in contract {contract.name}: add it to the contract")
    spec = contract.tables[table]
    problems: list[str] = []
    names = [f.name for f in df.schema.fields]
    for missing in sorted(set(spec.columns) - set(names)):
        problems.append(f"{table}.{missing}: in the contract but not in the DataFrame")
    for field in df.schema.fields:
        column = spec.columns.get(field.name)
        if column is None:
            problems.append(
                f"{table}.{field.name}: not in the contract; every column must be classified "
                "(add it to the contract with a strategy)"
            )
            continue
        try:
            actual = spark_type_name(field.dataType, dict(field.metadata or {}))
        except ValueError:
            actual = field.dataType.simpleString()
        expected = column.sql_type.name
        same = actual == expected or (actual == "string" and column.sql_type.family == "string")
        if not same:
            problems.append(f"{table}.{field.name}: type {actual} differs from the contract's {expected}")
    if problems:
        raise EngineError("cannot anonymize " + table + ":\n  " + "\n  ".join(problems))


def anonymize_table(df: DataFrame, contract: Contract, table: str, keyring: Keyring) -> DataFrame:
    """Anonymize ``df`` (the source rows of ``table``) per the contract; the result has ``df``'s exact schema.

    Lazy: nothing runs until the caller writes or collects. Deterministic: the same data, contract and key
    give the same output, whatever the partitioning.
    """
    return df.select(*_anonymized_columns(df, contract, table, keyring))


def with_anonymized_keys(df: DataFrame, contract: Contract, table: str, keyring: Keyring) -> DataFrame:
    """``df`` plus ``__anon_<pk>`` columns: each row's own anonymized primary key, as staging holds it.

    Why in the same projection: the checks pair every source row with its staged row through this key. Two
    separate scans joined on generated row ids pair rows correctly only when both scans happen to split and
    order the data alike; one projection pairs each key with its own row by construction.
    """
    exprs = dict(zip(df.columns, _anonymized_columns(df, contract, table, keyring), strict=True))
    return df.select("*", *[exprs[c].alias(f"__anon_{c}") for c in contract.tables[table].primary_key])


def _anonymized_columns(df: DataFrame, contract: Contract, table: str, keyring: Keyring) -> list[SparkColumn]:
    """One output expression per input column, in order (see the module's design rules)."""
    from pyspark.sql import functions as F

    if not isinstance(keyring, Keyring):
        raise EngineError("anonymize_table needs a Keyring (anonymizer.keys.Keyring)")
    _check_columns(df, contract, table)
    spec = contract.tables[table]
    exprs = []
    for field in df.schema.fields:
        column = spec.columns[field.name]
        bound = _varchar_bound(field, column)
        expr = _column_expr(contract, table, field, column, keyring)
        if not STRATEGIES[column.strategy].clear_text:
            expr = expr.cast(field.dataType)
            if bound is not None:
                expr = F.substring(expr, 1, bound)
            if not field.nullable:
                message = f"anonymizer: NULL produced for non-nullable column {table}.{field.name}"
                expr = F.coalesce(
                    expr, F.raise_error(F.lit(message)).cast(field.dataType), _default_literal(field.dataType)
                )
        exprs.append(expr.alias(field.name, metadata=dict(field.metadata or {})))
    return exprs


def schema_differences(expected: StructType, actual: StructType) -> list[str]:
    """Human-readable differences between two schemas (names, order, types, nullability, metadata)."""
    diffs: list[str] = []
    if [f.name for f in expected.fields] != [f.name for f in actual.fields]:
        diffs.append(f"columns {[f.name for f in actual.fields]} != {[f.name for f in expected.fields]}")
        return diffs
    for e, a in zip(expected.fields, actual.fields, strict=True):
        if e.dataType != a.dataType:
            diffs.append(f"{e.name}: type {a.dataType.simpleString()} != {e.dataType.simpleString()}")
        if e.nullable != a.nullable:
            diffs.append(f"{e.name}: nullable {a.nullable} != {e.nullable}")
        if (e.metadata or {}) != (a.metadata or {}):
            diffs.append(f"{e.name}: metadata {a.metadata} != {e.metadata}")
    return diffs


def anonymized_schema_ok(df_in: DataFrame, df_out: DataFrame) -> bool:
    """True when the anonymized DataFrame has exactly the source schema (order, types, nullability, metadata)."""
    return not schema_differences(df_in.schema, df_out.schema)
