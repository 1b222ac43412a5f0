"""The runtime adapter: everything that differs between embedded Spark and a Databricks workspace.

The job speaks Unity Catalog three-level names (``medical.visits.dim_patients``) everywhere. This module is
the only place that maps them to something Spark can address and the only place that talks to workspace
services (``information_schema``, ``dbutils.secrets``, constraints). Locally a UC name becomes a path-based
Delta table under the lakehouse folder (``<lakehouse>/<catalog>/<schema>/<table>``): it needs no metastore,
so several processes can read and write the same lakehouse, exactly as job tasks do on Databricks.

The Databricks adapter builds SQL strings through small pure functions (``*_sql``) and parses the rows it
reads through pure functions too, so both are unit-tested without a workspace.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymizer.errors import UsageError
from anonymizer.sqlident import SQL_IDENTIFIER, backticked
from anonymizer.sqltypes import spark_type_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PK_PROPERTY = "anonymizer.primary_key"
FK_PROPERTY = "anonymizer.foreign_keys"
_PART = SQL_IDENTIFIER


class RuntimeError_(UsageError):
    """A workspace or lakehouse operation failed in a way the user must fix (message says how)."""


@dataclass(frozen=True)
class LiveColumn:
    """A column as it exists in the live table (canonical contract type name)."""

    name: str
    type: str
    nullable: bool


@dataclass(frozen=True)
class Commit:
    """The latest Delta commit of a table."""

    version: int
    note: str | None
    rows: int | None


@dataclass(frozen=True)
class KeyMetadata:
    """Primary and foreign keys as declared on the live table (constraints or table properties)."""

    primary_key: tuple[str, ...]
    foreign_keys: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...]  # (columns, parent table, parent cols)


def split_name(uc_name: str) -> tuple[str, str, str]:
    """Split and validate ``catalog.schema.table``; refuse anything that could inject SQL."""
    parts = uc_name.split(".")
    if len(parts) != 3 or not all(_PART.fullmatch(p) for p in parts):
        raise RuntimeError_(f"'{uc_name}' is not a catalog.schema.table name of plain identifiers")
    return parts[0], parts[1], parts[2]


def quote(uc_name: str) -> str:
    """Backtick-quoted three-level name for Databricks SQL."""
    return ".".join(f"`{p}`" for p in split_name(uc_name))


def sql_literal(value: str) -> str:
    """A SQL string literal, for TBLPROPERTIES only: Spark's grammar takes no parameter marker there.

    Every other value goes through named parameters (:meth:`Runtime.sql` ``args``). Property keys are our
    constants and values are validated names or JSON of validated names; escaping covers quote and backslash.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def create_table_sql(ref: str, columns: Sequence[LiveColumn], properties: dict[str, str]) -> str:
    cols = ", ".join(f"{backticked(c.name)} {c.type.upper()}{'' if c.nullable else ' NOT NULL'}" for c in columns)
    props = ", ".join(f"{sql_literal(k)} = {sql_literal(v)}" for k, v in sorted(properties.items()))
    return f"CREATE TABLE IF NOT EXISTS {ref} ({cols}) USING DELTA" + (f" TBLPROPERTIES ({props})" if props else "")


def restore_sql(ref: str, version: int) -> str:
    return f"RESTORE TABLE {ref} TO VERSION AS OF {_version_literal(version)}"


def read_sql(ref: str, version: int | None = None) -> str:
    """``SELECT *`` of a table, at one Delta version when given (time travel: the run's pinned snapshot)."""
    return f"SELECT * FROM {ref}" + ("" if version is None else f" VERSION AS OF {_version_literal(version)}")


def _version_literal(version: int) -> str:
    """A Delta version as SQL text. Why not a parameter: Spark's grammar takes only a literal after AS OF."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise UsageError(f"not a Delta table version: {version!r}", fix="pass the version as a non-negative integer")
    return str(version)


def primary_key_sql(uc_name: str, columns: Sequence[str]) -> str:
    _, _, table = split_name(uc_name)
    cols = ", ".join(backticked(c) for c in columns)
    return f"ALTER TABLE {quote(uc_name)} ADD CONSTRAINT `{table}_pk` PRIMARY KEY ({cols}) RELY"


def foreign_key_sql(uc_name: str, columns: Sequence[str], parent: str, parent_columns: Sequence[str]) -> str:
    _, _, table = split_name(uc_name)
    cols = ", ".join(backticked(c) for c in columns)
    pcols = ", ".join(backticked(c) for c in parent_columns)
    name = f"{table}_{'_'.join(columns)}_fk"
    return f"ALTER TABLE {quote(uc_name)} ADD CONSTRAINT `{name}` FOREIGN KEY ({cols}) REFERENCES {quote(parent)} ({pcols})"


Query = tuple[str, dict[str, Any]]  # SQL text with :named markers, and the values bound to them


def column_tags_sql(catalog: str, schema: str) -> Query:
    """Live column tags of one schema (Databricks ``information_schema.column_tags``)."""
    split_name(f"{catalog}.{schema}.x")
    return (
        f"SELECT table_name, column_name, tag_name, tag_value FROM `{catalog}`.information_schema.column_tags "
        "WHERE schema_name = :schema",
        {"schema": schema},
    )


def schema_tags_sql(catalog: str, schema: str) -> Query:
    split_name(f"{catalog}.{schema}.x")
    return (
        f"SELECT tag_name, tag_value FROM `{catalog}`.information_schema.schema_tags WHERE schema_name = :schema",
        {"schema": schema},
    )


def table_exists_sql(catalog: str, schema: str, table: str) -> Query:
    split_name(f"{catalog}.{schema}.{table}")
    return (
        f"SELECT 1 FROM `{catalog}`.information_schema.tables WHERE table_schema = :schema AND table_name = :table",
        {"schema": schema, "table": table},
    )


def key_constraints_sql(catalog: str, schema: str, table: str) -> Query:
    """Primary and foreign key columns of one table, with the referenced table/column for FKs."""
    split_name(f"{catalog}.{schema}.{table}")
    query = (
        "SELECT tc.constraint_name, tc.constraint_type, kcu.column_name, kcu.ordinal_position, "
        "kcu.position_in_unique_constraint, ccu.table_catalog AS ref_catalog, ccu.table_schema AS ref_schema, "
        "ccu.table_name AS ref_table, ccu.column_name AS ref_column "
        f"FROM `{catalog}`.information_schema.table_constraints tc "
        f"JOIN `{catalog}`.information_schema.key_column_usage kcu "
        "ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema "
        f"LEFT JOIN `{catalog}`.information_schema.referential_constraints rc "
        "ON tc.constraint_name = rc.constraint_name AND tc.constraint_schema = rc.constraint_schema "
        f"LEFT JOIN `{catalog}`.information_schema.key_column_usage ccu "
        "ON rc.unique_constraint_name = ccu.constraint_name AND rc.unique_constraint_schema = ccu.constraint_schema "
        "AND ccu.ordinal_position = kcu.position_in_unique_constraint "
        "WHERE tc.table_schema = :schema AND tc.table_name = :table "
        "AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY tc.constraint_name, kcu.ordinal_position"
    )
    return query, {"schema": schema, "table": table}


def parse_key_constraints(rows: Iterable[dict[str, Any]]) -> KeyMetadata:
    """Turn the rows of :func:`key_constraints_sql` into key metadata."""
    pk: list[str] = []
    fks: dict[str, tuple[list[str], str, list[str]]] = {}
    for row in rows:
        if row["constraint_type"] == "PRIMARY KEY":
            pk.append(row["column_name"])
        else:
            parent = f"{row['ref_catalog']}.{row['ref_schema']}.{row['ref_table']}"
            cols, _, pcols = fks.setdefault(row["constraint_name"], ([], parent, []))
            cols.append(row["column_name"])
            pcols.append(row["ref_column"])
    return KeyMetadata(tuple(pk), tuple(sorted((tuple(c), p, tuple(pc)) for c, p, pc in fks.values())))


def parse_tags(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of :func:`column_tags_sql` -> {(table, column): {tag: value}}."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        out.setdefault((row["table_name"], row["column_name"]), {})[row["tag_name"]] = row["tag_value"] or ""
    return out


def key_metadata_properties(
    primary_key: Sequence[str], foreign_keys: Sequence[tuple[Sequence[str], str, Sequence[str]]]
) -> dict[str, str]:
    """Local stand-in for PK/FK constraints: table properties the gate can read back."""
    return {
        PK_PROPERTY: ",".join(primary_key),
        FK_PROPERTY: json.dumps([[list(c), p, list(pc)] for c, p, pc in foreign_keys], separators=(",", ":")),
    }


def parse_key_properties(props: dict[str, str]) -> KeyMetadata:
    pk = tuple(c for c in props.get(PK_PROPERTY, "").split(",") if c)
    fks = json.loads(props.get(FK_PROPERTY, "[]") or "[]")
    return KeyMetadata(pk, tuple(sorted((tuple(c), p, tuple(pc)) for c, p, pc in fks)))


class Runtime(ABC):
    """What the job needs from its platform. Subclasses: :class:`LocalRuntime`, :class:`DatabricksRuntime`."""

    name: str

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    @abstractmethod
    def ref(self, uc_name: str) -> str:
        """SQL reference usable in FROM / INSERT / RESTORE for a UC name."""

    @abstractmethod
    def exists(self, uc_name: str) -> bool: ...

    @abstractmethod
    def column_tags(self, catalog: str, schema: str) -> dict[tuple[str, str], dict[str, str]] | None:
        """Live column tags, or None where the platform has none (local: tags live in the contract)."""

    @abstractmethod
    def schema_tags(self, catalog: str, schema: str) -> dict[str, str] | None: ...

    @abstractmethod
    def key_metadata(self, uc_name: str) -> KeyMetadata: ...

    @abstractmethod
    def declare_keys(
        self, uc_name: str, primary_key: Sequence[str], foreign_keys: Sequence[tuple[Sequence[str], str, Sequence[str]]]
    ) -> None:
        """Record PK/FK on a table (informational constraints on Databricks, properties locally)."""

    @abstractmethod
    def ensure_schema(self, catalog: str, schema: str) -> None: ...

    def sql(self, query: str, args: dict[str, Any] | None = None) -> DataFrame:
        """Run one statement; every value goes in ``args`` (named ``:markers``), never into ``query``."""
        return self.spark.sql(query, args=args) if args else self.spark.sql(query)

    def read(self, uc_name: str, version: int | None = None) -> DataFrame:
        """The table's rows: its current version, or ``version`` (a run reads the source snapshot its gate saw)."""
        return self.spark.sql(read_sql(self.ref(uc_name), version))

    def columns(self, uc_name: str, version: int | None = None) -> list[LiveColumn]:
        schema = self.read(uc_name, version).schema
        return [LiveColumn(f.name, spark_type_name(f.dataType, dict(f.metadata)), f.nullable) for f in schema.fields]

    def create_table(
        self, uc_name: str, columns: Sequence[LiveColumn], properties: dict[str, str] | None = None
    ) -> None:
        catalog, schema, _ = split_name(uc_name)
        self.ensure_schema(catalog, schema)
        self.sql(create_table_sql(self.ref(uc_name), columns, properties or {}))

    def overwrite(self, uc_name: str, df: DataFrame, columns: Sequence[str]) -> None:
        """Replace the table's rows in one Delta commit, keeping its declared schema (types, NOT NULL)."""
        view = f"_anonymizer_src_{abs(hash(uc_name)) % 10**9}"
        df.select(*columns).createOrReplaceTempView(view)
        try:
            cols = ", ".join(backticked(c) for c in columns)
            self.sql(f"INSERT OVERWRITE {self.ref(uc_name)} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self.spark.catalog.dropTempView(view)

    @contextmanager
    def commit_note(self, note: str) -> Iterator[None]:
        """Stamp every Delta commit made inside the block with ``note`` (the commit's ``userMetadata``).

        The anonymize step stamps its staging writes with the run id, so one DESCRIBE HISTORY later tells
        which run wrote a table's current version, without an extra commit. It is a session setting: set
        once around all (possibly parallel) writes of a step, never per write.
        """
        conf = "spark.databricks.delta.commitInfo.userMetadata"
        self.spark.conf.set(conf, note)
        try:
            yield
        finally:
            self.spark.conf.unset(conf)

    def last_commit(self, uc_name: str) -> Commit:
        """Version, writer note and output rows of the table's latest Delta commit (one history read)."""
        row = self.sql(f"DESCRIBE HISTORY {self.ref(uc_name)} LIMIT 1").collect()[0]
        metrics = row["operationMetrics"] or {}
        rows = metrics.get("numOutputRows")
        return Commit(int(row["version"]), row["userMetadata"], int(rows) if rows is not None else None)

    def version(self, uc_name: str) -> int:
        return self.last_commit(uc_name).version

    def restore(self, uc_name: str, version: int) -> None:
        self.sql(restore_sql(self.ref(uc_name), version))

    def detail(self, uc_name: str) -> dict[str, Any]:
        """``DESCRIBE DETAIL``: one metadata read (properties, numFiles, sizeInBytes, ...), no data scan."""
        return self.sql(f"DESCRIBE DETAIL {self.ref(uc_name)}").collect()[0].asDict()

    def properties(self, uc_name: str) -> dict[str, str]:
        return dict(self.detail(uc_name)["properties"] or {})

    def optimize(self, uc_name: str) -> None:
        """Bin-pack the table's small files into few (one Delta commit; rows, order of ``ts`` unchanged)."""
        self.sql(f"OPTIMIZE {self.ref(uc_name)}").collect()

    def set_properties(self, uc_name: str, properties: dict[str, str]) -> None:
        props = ", ".join(f"{sql_literal(k)} = {sql_literal(v)}" for k, v in sorted(properties.items()))
        self.sql(f"ALTER TABLE {self.ref(uc_name)} SET TBLPROPERTIES ({props})")

    @abstractmethod
    def drop(self, uc_name: str) -> None: ...


class LocalRuntime(Runtime):
    """Embedded Spark: UC names map to path-based Delta tables under the lakehouse folder."""

    name = "local"

    def __init__(self, spark: SparkSession, lakehouse: str | os.PathLike[str]) -> None:
        super().__init__(spark)
        self.root = Path(lakehouse).resolve()

    def path(self, uc_name: str) -> Path:
        return self.root.joinpath(*split_name(uc_name))

    def ref(self, uc_name: str) -> str:
        return f"delta.`{self.path(uc_name)}`"

    def exists(self, uc_name: str) -> bool:
        return (self.path(uc_name) / "_delta_log").is_dir()

    def ensure_schema(self, catalog: str, schema: str) -> None:
        (self.root / catalog / schema).mkdir(parents=True, exist_ok=True)

    def column_tags(self, catalog: str, schema: str) -> None:
        return None

    def schema_tags(self, catalog: str, schema: str) -> None:
        return None

    def key_metadata(self, uc_name: str) -> KeyMetadata:
        return parse_key_properties(self.properties(uc_name))

    def declare_keys(
        self, uc_name: str, primary_key: Sequence[str], foreign_keys: Sequence[tuple[Sequence[str], str, Sequence[str]]]
    ) -> None:
        self.set_properties(uc_name, key_metadata_properties(primary_key, foreign_keys))

    def drop(self, uc_name: str) -> None:
        import shutil

        shutil.rmtree(self.path(uc_name), ignore_errors=True)

    def list_tables(self, catalog: str, schema: str) -> list[str]:
        folder = self.root / catalog / schema
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "_delta_log").is_dir())


class DatabricksRuntime(Runtime):
    """A Databricks workspace with Unity Catalog: real three-level names, information_schema, secrets."""

    name = "databricks"

    def __init__(self, spark: SparkSession, sql: Callable[..., Any] | None = None) -> None:
        super().__init__(spark)
        self._sql_override = sql

    def sql(self, query: str, args: dict[str, Any] | None = None) -> DataFrame:
        if self._sql_override is not None:
            result: DataFrame = self._sql_override(query, args) if args else self._sql_override(query)
            return result
        return self.spark.sql(query, args=args) if args else self.spark.sql(query)

    def _rows(self, query: str, args: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [r.asDict() if hasattr(r, "asDict") else dict(r) for r in self.sql(query, args).collect()]

    def ref(self, uc_name: str) -> str:
        return quote(uc_name)

    def exists(self, uc_name: str) -> bool:
        return bool(self._rows(*table_exists_sql(*split_name(uc_name))))

    def ensure_schema(self, catalog: str, schema: str) -> None:
        # Schemas are created and governed by the stack; the job only checks they are there.
        split_name(f"{catalog}.{schema}.x")

    def column_tags(self, catalog: str, schema: str) -> dict[tuple[str, str], dict[str, str]]:
        return parse_tags(self._rows(*column_tags_sql(catalog, schema)))

    def schema_tags(self, catalog: str, schema: str) -> dict[str, str]:
        return {r["tag_name"]: r["tag_value"] or "" for r in self._rows(*schema_tags_sql(catalog, schema))}

    def key_metadata(self, uc_name: str) -> KeyMetadata:
        return parse_key_constraints(self._rows(*key_constraints_sql(*split_name(uc_name))))

    def declare_keys(
        self, uc_name: str, primary_key: Sequence[str], foreign_keys: Sequence[tuple[Sequence[str], str, Sequence[str]]]
    ) -> None:
        live = self.key_metadata(uc_name)
        if not live.primary_key and primary_key:
            self.sql(primary_key_sql(uc_name, primary_key))
        have = {(tuple(c), p) for c, p, _ in live.foreign_keys}
        for cols, parent, pcols in foreign_keys:
            if (tuple(cols), parent) not in have:
                self.sql(foreign_key_sql(uc_name, cols, parent, pcols))

    def drop(self, uc_name: str) -> None:
        self.sql(f"DROP TABLE IF EXISTS {quote(uc_name)}")


def databricks_secret(scope: str, key: str) -> bytes:
    """Read the anonymization key from a Databricks secret scope (value is redacted in notebook output)."""
    try:
        from pyspark.dbutils import DBUtils
        from pyspark.sql import SparkSession

        dbutils = DBUtils(SparkSession.builder.getOrCreate())
        secret: bytes = dbutils.secrets.getBytes(scope=scope, key=key)
        return secret
    except ImportError as exc:
        raise RuntimeError_("dbutils is not available: --runtime databricks only runs on a Databricks cluster") from exc
