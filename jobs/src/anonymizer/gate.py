"""The contract gate: the live source must equal the reviewed contract before anything is written.

Fail closed: a table that is missing, a column added, removed, renamed, retyped or with other nullability,
different key metadata, live tags that disagree with the contract (Databricks), a contract-hash tag that is
not the packaged contract's, a duplicate or NULL primary key, NULLs in a NOT NULL column, or an empty table stops the run before any
write. The gate also writes a suggested contract patch so that the fix is a pull request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import functions as F

from anonymizer.classify import patch_yaml, suggest
from anonymizer.contract import Contract
from anonymizer.domains import SMALL_DOMAIN_FIX, small_domain_columns
from anonymizer.runtime import KeyMetadata, LiveColumn, Runtime
from anonymizer.strategies import key_strategies
from anonymizer.tags import CONTRACT_HASH_TAG, expected_column_tags


@dataclass(frozen=True)
class Finding:
    code: str
    table: str | None
    column: str | None
    message: str
    fix: str
    blocking: bool = True

    def render(self) -> str:
        where = ".".join(p for p in (self.table, self.column) if p)
        level = "ERROR" if self.blocking else "WARN "
        return f"{level} [{self.code}] {where}: {self.message}. Fix: {self.fix}"


@dataclass
class GateResult:
    findings: list[Finding] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    source_orphans: dict[str, int] = field(default_factory=dict)
    patch: str | None = None

    @property
    def passed(self) -> bool:
        return not any(f.blocking for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "findings": [asdict(f) for f in self.findings],
            "row_counts": self.row_counts,
            "source_orphans": self.source_orphans,
        }


def expected_keys(contract: Contract, table: str) -> KeyMetadata:
    spec = contract.tables[table]
    fks = tuple(
        sorted(
            (tuple(fk.columns), contract.source_name(fk.references.table), tuple(fk.references.columns))
            for fk in spec.foreign_keys
        )
    )
    return KeyMetadata(tuple(spec.primary_key), fks)


def _schema_findings(
    contract: Contract, table: str, live: list[LiveColumn]
) -> tuple[list[Finding], dict[str, Any], list[str]]:
    spec = contract.tables[table]
    findings: list[Finding] = []
    live_by_name = {c.name: c for c in live}
    added = [c for c in live if c.name not in spec.columns]
    removed = [c for c in spec.columns if c not in live_by_name]
    suggestions: dict[str, Any] = {}
    for col in added:
        renamed_from = [r for r in removed if spec.columns[r].type == col.type]
        hint = f" (renamed from {', '.join(renamed_from)}?)" if renamed_from else ""
        findings.append(
            Finding(
                "column_added",
                table,
                col.name,
                f"column {col.type} is in the source but not in the contract{hint}; it is unclassified",
                "classify it in the contract (see the suggested patch) and merge that pull request",
            )
        )
    for name in removed:
        findings.append(
            Finding(
                "column_removed",
                table,
                name,
                "column is in the contract but not in the source",
                "remove it from the contract (or restore it in the source)",
            )
        )
    for name, declared in spec.columns.items():
        live_col = live_by_name.get(name)
        if live_col is None:
            continue
        if live_col.type != declared.sql_type.name:
            findings.append(
                Finding(
                    "column_retyped",
                    table,
                    name,
                    f"type is {live_col.type} in the source but {declared.sql_type.name} in the contract",
                    "update the column's type (and check its strategy still fits) in the contract",
                )
            )
        if live_col.nullable != declared.nullable:
            findings.append(
                Finding(
                    "nullability_changed",
                    table,
                    name,
                    f"source nullable={live_col.nullable}, contract nullable={declared.nullable}",
                    "make the contract's nullable match the source",
                )
            )
    key_columns = [c for c, v in spec.columns.items() if v.strategy in key_strategies()]
    for col in added:
        suggestions[col.name] = col
    return findings, suggestions, key_columns


def _hash_findings(runtime: Runtime, contract: Contract, contract_sha256: str) -> list[Finding]:
    src = contract.source
    schema_tags = runtime.schema_tags(src.catalog, src.schema_)
    if schema_tags is None:
        return []
    live_hash = schema_tags.get(CONTRACT_HASH_TAG)
    if live_hash == contract_sha256:
        return []
    return [
        Finding(
            "contract_hash_mismatch",
            f"{src.catalog}.{src.schema_}",
            None,
            f"schema tag {CONTRACT_HASH_TAG}={live_hash!r} but the packaged contract is {contract_sha256[:12]}…",
            "deploy the stack and the job from the same commit (cdktf deploy sets the tag, the wheel ships the contract)",
        )
    ]


def _tag_findings(contract: Contract, table: str, live_tags: dict[tuple[str, str], dict[str, str]]) -> list[Finding]:
    findings = []
    for (t, c), tags in expected_column_tags(contract).items():
        if t != table:
            continue
        have = live_tags.get((t, c), {})
        for key, value in tags.items():
            if have.get(key) != value:
                findings.append(
                    Finding(
                        "tag_mismatch",
                        t,
                        c,
                        f"live tag {key}={have.get(key)!r}, contract says {value!r}",
                        "run cdktf deploy from the commit that holds this contract (the stack sets the tags)",
                    )
                )
    return findings


def _key_findings(contract: Contract, table: str, live_keys: KeyMetadata) -> list[Finding]:
    want = expected_keys(contract, table)
    if live_keys == want:
        return []
    return [
        Finding(
            "key_metadata_changed",
            table,
            None,
            f"live keys PK={list(live_keys.primary_key)} FK={[list(f[0]) for f in live_keys.foreign_keys]} differ "
            f"from the contract PK={list(want.primary_key)} FK={[list(f[0]) for f in want.foreign_keys]}",
            "align primary_key/foreign_keys in the contract with the source's constraints",
        )
    ]


def run_gate(runtime: Runtime, contract: Contract, contract_sha256: str, *, allow_empty: bool = False) -> GateResult:
    """Compare the live source with the contract; data checks only once the structure matches."""
    result = GateResult()
    patch_cols: dict[str, dict[str, dict[str, Any]]] = {}
    removed_cols: dict[str, list[str]] = {}
    src = contract.source
    result.findings.extend(_hash_findings(runtime, contract, contract_sha256))
    live_tags = runtime.column_tags(src.catalog, src.schema_)
    structure_ok: dict[str, bool] = {}
    for table in contract.dependency_order():
        name = contract.source_name(table)
        if not runtime.exists(name):
            result.findings.append(
                Finding(
                    "table_missing",
                    table,
                    None,
                    f"source table {name} does not exist",
                    "restore the table, or remove it from the contract",
                )
            )
            structure_ok[table] = False
            continue
        live = runtime.columns(name)
        findings, added, key_columns = _schema_findings(contract, table, live)
        result.findings.extend(findings)
        live_keys = runtime.key_metadata(name)
        if added:
            patch_cols[table] = {c: suggest(table, col, live_keys, key_columns) for c, col in added.items()}
        removed = [f.column for f in findings if f.code == "column_removed" and f.column]
        if removed:
            removed_cols[table] = removed
        result.findings.extend(_key_findings(contract, table, live_keys))
        if live_tags is not None:
            result.findings.extend(_tag_findings(contract, table, live_tags))
        # Data checks need the columns and types; a nullability difference alone still lets them run.
        structure_ok[table] = not [f for f in findings if f.code != "nullability_changed"]
    for table in contract.dependency_order():
        if structure_ok.get(table):
            nulls = _null_findings(runtime, contract, table)
            result.findings.extend(nulls)
            structure_ok[table] = not nulls  # its rows crash Spark's NOT NULL assumptions: no data checks
    for table in contract.dependency_order():
        if structure_ok.get(table):
            _data_findings(runtime, contract, table, result, allow_empty, structure_ok)
    for small in small_domain_columns(contract):  # acknowledged in the contract (else it is refused): list it
        result.findings.append(
            Finding("small_fpe_domain", small.table, small.column, small.render(), SMALL_DOMAIN_FIX, blocking=False)
        )
    if patch_cols or removed_cols:
        result.patch = patch_yaml(patch_cols, removed_cols)
    return result


# Table features under which the data files alone do not say what the table holds (physical column names,
# rows deleted by a vector): the NOT NULL check below then trusts the platform's enforcement instead.
_FILE_LAYOUT_PROPERTIES = {"delta.columnMapping.mode": ("name", "id"), "delta.enableDeletionVectors": ("true",)}


def null_counts_in_not_null_columns(runtime: Runtime, uc_name: str, columns: list[str]) -> dict[str, int]:
    """NULLs per column in columns the live table declares NOT NULL, counted from its current data files.

    Why from the files: a writer that did not enforce the constraint can leave NULLs under a NOT NULL schema,
    and Spark then folds ``IS NULL`` to false (the count says 0) while reading the rows crashes with a Java
    NullPointerException. Reading the same files with a nullable schema counts them. Returns only columns
    with NULLs; an empty dict when the table's layout makes the files alone unreliable.
    """
    from pyspark.sql.types import StructField, StructType

    if not columns:
        return {}
    props = runtime.properties(uc_name)
    if any(props.get(k, "").lower() in v for k, v in _FILE_LAYOUT_PROPERTIES.items()):
        return {}
    df = runtime.read(uc_name)
    files = df.inputFiles()
    if not files:
        return {}
    schema = StructType([StructField(f.name, f.dataType, True) for f in df.schema.fields if f.name in columns])
    raw = runtime.spark.read.schema(schema).parquet(*files)
    row = raw.agg(*[F.sum(F.col(f"`{c}`").isNull().cast("long")).alias(c) for c in columns]).collect()[0]
    return {c: int(row[c]) for c in columns if row[c]}


def _null_findings(runtime: Runtime, contract: Contract, table: str) -> list[Finding]:
    spec = contract.tables[table]
    name = contract.source_name(table)
    live = {c.name: c for c in runtime.columns(name)}
    # A nullable live column is a nullability finding already (and its NULLs are counted the usual way).
    columns = [c for c, col in spec.columns.items() if not col.nullable and c in live and not live[c].nullable]
    return [
        Finding(
            "null_in_not_null",
            table,
            column,
            f"{count} rows are NULL in a column the contract and the table declare NOT NULL",
            "fix the upstream writer and the rows (the table's NOT NULL constraint was not enforced)",
        )
        for column, count in null_counts_in_not_null_columns(runtime, name, columns).items()
    ]


def _data_findings(
    runtime: Runtime,
    contract: Contract,
    table: str,
    result: GateResult,
    allow_empty: bool,
    structure_ok: dict[str, bool],
) -> None:
    """Duplicate/NULL primary keys, empty tables and source orphans, in one aggregation per table."""
    spec = contract.tables[table]
    df = runtime.read(contract.source_name(table))
    pk = spec.primary_key
    null_pk = (
        F.sum(F.when(F.greatest(*[F.col(c).isNull().cast("int") for c in pk]) == 1, 1).otherwise(0))
        if len(pk) > 1
        else F.sum(F.col(pk[0]).isNull().cast("int"))
    )
    stats = df.agg(
        F.count(F.lit(1)).alias("rows"),
        null_pk.alias("null_pk"),
        F.count_distinct(*[F.col(c) for c in pk]).alias("distinct_pk"),
    ).collect()[0]
    rows, nulls, distinct = int(stats["rows"]), int(stats["null_pk"] or 0), int(stats["distinct_pk"])
    result.row_counts[table] = rows
    if rows == 0:
        result.findings.append(
            Finding(
                "table_empty",
                table,
                None,
                "source table has no rows",
                "check the upstream load; pass --allow-empty if an empty table is expected",
                blocking=not allow_empty,
            )
        )
    if nulls:
        result.findings.append(
            Finding(
                "null_primary_key",
                table,
                ",".join(pk),
                f"{nulls} rows have a NULL primary key",
                "fix the source rows (a NULL key cannot be joined or anonymized consistently)",
            )
        )
    non_null = rows - nulls
    if distinct != non_null:
        result.findings.append(
            Finding(
                "duplicate_primary_key",
                table,
                ",".join(pk),
                f"{non_null - distinct} duplicate primary key values",
                "deduplicate the source; a key must identify one row",
            )
        )
    for fk in spec.foreign_keys:
        if not structure_ok.get(fk.references.table):
            continue  # the parent's own findings explain the problem; its rows cannot be trusted
        parent = runtime.read(contract.source_name(fk.references.table))
        child = (
            df.where(F.greatest(*[F.col(c).isNotNull().cast("int") for c in fk.columns]) == 1)
            if len(fk.columns) > 1
            else df.where(F.col(fk.columns[0]).isNotNull())
        )
        cond = [child[c] == parent[p] for c, p in zip(fk.columns, fk.references.columns, strict=True)]
        orphans = child.join(parent, cond, "left_anti").count()
        label = f"{table}({','.join(fk.columns)})->{fk.references.table}"
        result.source_orphans[label] = orphans
        if orphans:
            result.findings.append(
                Finding(
                    "source_orphans",
                    table,
                    ",".join(fk.columns),
                    f"{orphans} rows reference a missing {fk.references.table} row",
                    "fix the source, or keep settings.fail_on_source_orphans false to publish them as they are",
                    blocking=contract.settings.fail_on_source_orphans,
                )
            )
