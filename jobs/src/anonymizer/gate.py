"""The contract gate: the live source must equal the reviewed contract before anything is written.

Fail closed: a table that is missing, a column added, removed, renamed, retyped or with other nullability,
different key metadata, live tags that disagree with the contract (Databricks), a contract-hash tag that is
not the packaged contract's, a duplicate or NULL primary key, NULLs in a NOT NULL column, or an empty table stops the run before any
write. The gate also writes a suggested contract patch so that the fix is a pull request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from anonymizer.classify import patch_yaml, suggest
from anonymizer.contract import Contract
from anonymizer.domains import SMALL_DOMAIN_FIX, small_domain_columns
from anonymizer.parallel import in_parallel
from anonymizer.runtime import KeyMetadata, LiveColumn, Runtime
from anonymizer.source_numbers import count_aggregations, fk_subset, join_foreign_keys, seed_products
from anonymizer.strategies import key_strategies
from anonymizer.tags import CONTRACT_HASH_TAG, expected_column_tags

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


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
    # Delta version of every source table the gate read: the run's snapshot, which every later step reads too
    source_versions: dict[str, int] = field(default_factory=dict)
    # table -> {"src": ..., "fk_src": ...}: the checks' source-side numbers on that snapshot, for tables published
    # in full (a release window narrows the rows the checks compare, and recent rows' numbers stay unrecorded)
    source_numbers: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
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
            "source_versions": self.source_versions,
            "source_numbers": self.source_numbers,
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


@dataclass
class _Structure:
    """What the metadata of one source table says (no data read)."""

    findings: list[Finding]
    ok: bool  # columns and types match: the data pass can run
    live: list[LiveColumn] = field(default_factory=list)
    patch: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    version: int | None = None  # the Delta version read; every number of the gate comes from it


def _structure(
    runtime: Runtime, contract: Contract, table: str, live_tags: dict[tuple[str, str], dict[str, str]] | None
) -> _Structure:
    """One table's metadata: existence, columns, types, nullability, keys and tags."""
    name = contract.source_name(table)
    if not runtime.exists(name):
        missing = Finding(
            "table_missing",
            table,
            None,
            f"source table {name} does not exist",
            "restore the table, or remove it from the contract",
        )
        return _Structure([missing], ok=False)
    version = runtime.version(name)
    live = runtime.columns(name, version)
    findings, added, key_columns = _schema_findings(contract, table, live)
    live_keys = runtime.key_metadata(name)
    ok = not [f for f in findings if f.code != "nullability_changed"]
    out = _Structure(list(findings), ok=ok, live=live, version=version)
    if added:
        out.patch = {c: suggest(table, col, live_keys, key_columns) for c, col in added.items()}
    out.removed = [f.column for f in findings if f.code == "column_removed" and f.column]
    out.findings.extend(_key_findings(contract, table, live_keys))
    if live_tags is not None:
        out.findings.extend(_tag_findings(contract, table, live_tags))
    # Data checks need the columns and types; a nullability difference alone still lets them run.
    return out


def run_gate(runtime: Runtime, contract: Contract, contract_sha256: str, *, allow_empty: bool = False) -> GateResult:
    """Compare the live source with the contract; data checks only once the structure matches.

    Metadata of every table first (in parallel), then one data pass per table whose structure matches (in
    parallel): NULLs in NOT NULL columns, row count, NULL and duplicate primary keys and orphans of every
    foreign key, all in one aggregation.
    """
    result = GateResult()
    src = contract.source
    result.findings.extend(_hash_findings(runtime, contract, contract_sha256))
    live_tags = runtime.column_tags(src.catalog, src.schema_)
    order = contract.dependency_order()
    structures = dict(
        zip(order, in_parallel(order, lambda t: _structure(runtime, contract, t, live_tags)), strict=True)
    )
    for table in order:
        result.findings.extend(structures[table].findings)
    structure_ok = {t: s.ok for t, s in structures.items()}
    # Pinned: a writer committing to the source during the run changes nothing the run reads (see Context).
    result.source_versions = {t: s.version for t, s in structures.items() if s.version is not None}
    versions = result.source_versions
    scanned = [t for t in order if structure_ok[t]]

    def raw_of(t: str) -> DataFrame | None:
        return raw_rows(runtime, contract.source_name(t), versions[t])

    raw = dict(zip(scanned, in_parallel(scanned, raw_of), strict=True))

    def data_pass(t: str) -> _Measured:
        return _data_pass(runtime, contract, t, structures[t].live, raw, structure_ok, versions)

    passes = dict(zip(scanned, in_parallel(scanned, data_pass), strict=True))
    # A table with NULLs in NOT NULL columns: its rows break Spark's NOT NULL assumptions, so its other data
    # findings, and its children's orphan counts against it, are not reported (the NULLs explain them).
    for table, measured in passes.items():
        result.findings.extend(measured.null_findings)
        structure_ok[table] = not measured.null_findings
    for table, measured in passes.items():
        if structure_ok[table]:
            _data_findings(contract, table, measured, result, allow_empty, structure_ok)
            if contract.tables[table].release is None:
                result.source_numbers[table] = measured.source_numbers
    for small in small_domain_columns(contract):  # acknowledged in the contract (else it is refused): list it
        result.findings.append(
            Finding("small_fpe_domain", small.table, small.column, small.render(), SMALL_DOMAIN_FIX, blocking=False)
        )
    patch_cols = {t: s.patch for t, s in structures.items() if s.patch}
    removed_cols = {t: s.removed for t, s in structures.items() if s.removed}
    if patch_cols or removed_cols:
        result.patch = patch_yaml(patch_cols, removed_cols)
    return result


# Table features under which the data files alone do not say what the table holds (physical column names,
# rows deleted by a vector): the NOT NULL check below then trusts the platform's enforcement instead.
_FILE_LAYOUT_PROPERTIES = {"delta.columnMapping.mode": ("name", "id"), "delta.enableDeletionVectors": ("true",)}


def raw_rows(runtime: Runtime, uc_name: str, version: int | None = None) -> DataFrame | None:
    """The data files of the table (at ``version``, else current) read with every column nullable; None when the
    files alone are unreliable (the file-layout properties are read from the current version: DESCRIBE DETAIL
    has no time travel).

    Why: a writer that did not enforce a NOT NULL constraint can leave NULLs under a NOT NULL schema, and Spark
    then folds ``IS NULL`` to false (a count says 0) while reading the rows crashes with a Java
    NullPointerException. Reading the same files with a nullable schema counts them, and every other number
    of the data pass is the same on it.
    """
    from pyspark.sql.types import StructField, StructType

    props = runtime.properties(uc_name)
    if any(props.get(k, "").lower() in v for k, v in _FILE_LAYOUT_PROPERTIES.items()):
        return None
    df = runtime.read(uc_name, version)
    files = df.inputFiles()
    schema = StructType([StructField(f.name, f.dataType, True) for f in df.schema.fields])
    if not files:
        return runtime.spark.createDataFrame([], schema)
    return runtime.spark.read.schema(schema).parquet(*files)


@dataclass
class _Measured:
    """One table's data pass."""

    rows: int
    null_pk: int
    distinct_pk: int
    null_findings: list[Finding]
    orphans: dict[int, int]  # FK index -> orphan rows (FKs whose parent's structure matched)
    # The checks' source-side numbers ("src", and "fk_src" when every FK was joined) of the same pass
    source_numbers: dict[str, dict[str, int]] = field(default_factory=dict)


def _not_null_columns(contract: Contract, table: str, live_columns: list[LiveColumn]) -> list[str]:
    spec = contract.tables[table]
    live = {c.name: c for c in live_columns}
    # A nullable live column is a nullability finding already (and its NULLs are counted the usual way).
    return [c for c, col in spec.columns.items() if not col.nullable and c in live and not live[c].nullable]


def _any(columns: list[str], test: Callable[[Column], Column]) -> Column:
    """TRUE when ``test`` holds for at least one of ``columns`` (never NULL)."""
    out = test(F.col(columns[0]))
    for c in columns[1:]:
        out = out | test(F.col(c))
    return out


def _any_not_null(columns: list[str]) -> Column:
    return _any(columns, lambda c: c.isNotNull())


def _any_null(columns: list[str]) -> Column:
    return _any(columns, lambda c: c.isNull())


_NULLS = "__n_"  # prefix of the per-column NULL counts in the data pass


def _data_pass(
    runtime: Runtime,
    contract: Contract,
    table: str,
    live: list[LiveColumn],
    raw_by_table: dict[str, DataFrame | None],
    structure_ok: dict[str, bool],
    versions: dict[str, int],
) -> _Measured:
    """Everything the gate measures on ``table``'s rows, in one aggregation over one read of it.

    Each foreign key's parent keys (grouped with their multiplicity, so the row count is kept) are left-joined
    in the same query; an orphan is a child row with a non-NULL key that found no parent. The same pass counts
    what the checks compare staging with on the source side (rows, NULLs per column, join cardinalities), so
    the check step does not scan the source again (:mod:`anonymizer.source_numbers`).
    """
    spec = contract.tables[table]
    name = contract.source_name(table)
    not_null = _not_null_columns(contract, table, live)
    raw = raw_by_table[table]
    df = raw if raw is not None else runtime.read(name, versions[table])
    pk = spec.primary_key
    # NULLs of every column (on the raw files: NULLs under a NOT NULL schema are counted, not folded away)
    aggs = count_aggregations(list(spec.columns), _NULLS)
    aggs += [
        F.sum(_any_null(pk).cast("long")).alias("__null_pk"),
        F.count_distinct(*[F.col(c) for c in pk]).alias("__distinct_pk"),
    ]
    joined = [i for i, fk in enumerate(spec.foreign_keys) if structure_ok.get(fk.references.table)]
    # (a parent whose structure differs: its own findings explain the problem; its rows cannot be trusted)

    def parent_rows(t: str) -> DataFrame:
        parent_raw = raw_by_table.get(t)
        return parent_raw if parent_raw is not None else runtime.read(contract.source_name(t), versions[t])

    fks = [spec.foreign_keys[i] for i in joined]
    complete = len(joined) == len(spec.foreign_keys)
    products = seed_products(contract, table) if complete else []
    df, fk_aggs = join_foreign_keys(df, [parent_rows(fk.references.table) for fk in fks], fks, products, joined)
    aggs += fk_aggs
    # The gate's orphan: any FK column set and no parent (stricter than the checks' "every column set").
    aggs += [
        F.sum((_any_not_null(fk.columns) & F.col(f"__mult{i}").isNull()).cast("long")).alias(f"__orph{i}")
        for i, fk in zip(joined, fks, strict=True)
    ]
    stats = df.agg(*aggs).collect()[0].asDict()
    nulls = {c: int(stats[f"{_NULLS}{c}"]) for c in not_null if raw is not None and stats[f"{_NULLS}{c}"]}
    reusable = {"src": {"__rows": int(stats["__rows"]), **{c: int(stats[f"{_NULLS}{c}"] or 0) for c in spec.columns}}}
    if complete and spec.foreign_keys:
        reusable["fk_src"] = fk_subset(stats)
    return _Measured(
        rows=int(stats["__rows"]),
        null_pk=int(stats["__null_pk"] or 0),
        distinct_pk=int(stats["__distinct_pk"]),
        null_findings=[
            Finding(
                "null_in_not_null",
                table,
                column,
                f"{count} rows are NULL in a column the contract and the table declare NOT NULL",
                "fix the upstream writer and the rows (the table's NOT NULL constraint was not enforced)",
            )
            for column, count in nulls.items()
        ],
        orphans={i: int(stats[f"__orph{i}"] or 0) for i in joined},
        source_numbers=reusable,
    )


def _data_findings(
    contract: Contract,
    table: str,
    measured: _Measured,
    result: GateResult,
    allow_empty: bool,
    structure_ok: dict[str, bool],
) -> None:
    """Duplicate/NULL primary keys, empty tables and source orphans, from the table's data pass."""
    spec = contract.tables[table]
    pk = spec.primary_key
    rows, nulls, distinct = measured.rows, measured.null_pk, measured.distinct_pk
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
    for i, fk in enumerate(spec.foreign_keys):
        if i not in measured.orphans or not structure_ok.get(fk.references.table):
            continue  # the parent's own findings explain the problem; its rows cannot be trusted
        orphans = measured.orphans[i]
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
