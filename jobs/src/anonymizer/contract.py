"""The data contract: one reviewed YAML file that classifies every column and declares the keys.

Both the CDKTF stacks (column tags, contract-hash tag) and the job (gate, engine, checks) load the contract
through this module, so what was reviewed is exactly what is deployed and what runs. Loading fails closed:
every problem is reported with the file, line, table, column and the fix, and nothing partial is returned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anonymizer.domains import domain_issues
from anonymizer.privacy import Privacy
from anonymizer.privacy import semantic_issues as privacy_issues
from anonymizer.release import ReleaseRule
from anonymizer.release import contract_issues as release_issues
from anonymizer.retention import Retention
from anonymizer.scan_settings import ColumnScan, ScanDefaults
from anonymizer.sqlident import IDENTIFIER, is_identifier
from anonymizer.sqltypes import SqlType, TypeParseError, parse_type
from anonymizer.strategies import (
    STRATEGIES,
    Classification,
    DateShiftParams,
    PoolParams,
    fit_problem,
    key_strategies,
)
from anonymizer.validation import (
    FileProblem,
    InvalidFile,
    YamlDocument,
    parse_yaml,
    read_text,
)
from anonymizer.validation import render as render_issue

DEFAULT_CONTRACT = "medical_visits.yaml"
_IDENT = IDENTIFIER


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    catalog: str = Field(pattern=_IDENT)
    schema_: str = Field(alias="schema", pattern=_IDENT)


class TargetLocation(Location):
    staging_schema: str = Field(pattern=_IDENT)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date_shift_max_days: int = Field(default=365, ge=1, le=36500)
    fail_on_source_orphans: bool = False
    scan: ScanDefaults = Field(default_factory=ScanDefaults)  # content scan before promotion
    retention: Retention = Field(default_factory=Retention)  # history and erasure (anonymizer.retention)


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    nullable: bool
    classification: Classification
    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    scan: ColumnScan | None = None  # content-scan threshold / reviewed acknowledgements for this column

    @property
    def sql_type(self) -> SqlType:
        return parse_type(self.type)

    def strategy_params(self) -> Any:
        """The parameters validated against the strategy's parameter model."""
        return STRATEGIES[self.strategy].params.model_validate(self.params)


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str
    columns: list[str] = Field(min_length=1)


class ForeignKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    references: Reference


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    primary_key: list[str] = Field(min_length=1)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    columns: dict[str, Column] = Field(min_length=1)
    release: ReleaseRule | None = None  # release window for event rows (anonymizer.release)


class Contract(BaseModel):
    """A validated contract. Build it with :func:`load_contract`, never directly."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    contract_version: Literal[1]
    name: str = Field(pattern=_IDENT)
    owner: str | None = None
    source: Location
    target: TargetLocation
    settings: Settings = Field(default_factory=Settings)
    tables: dict[str, Table] = Field(min_length=1)
    privacy: Privacy | None = None  # attacker model + thresholds (anonymizer.privacy, README "Re-identification risk")

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: comments and key order do not change it, any semantic edit does.

        The stack writes it as a tag on the source schema and the job compares it with the packaged contract.
        """
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def foreign_key_of(self, table: str, column: str) -> tuple[str, str] | None:
        """The (table, column) a column references through a (possibly composite) foreign key."""
        for fk in self.tables[table].foreign_keys:
            # lists of different length are a validation issue of their own; never index past the shorter
            if column in fk.columns and fk.columns.index(column) < len(fk.references.columns):
                return fk.references.table, fk.references.columns[fk.columns.index(column)]
        return None

    def key_domain(self, table: str, column: str) -> str:
        """The key domain ``table.column`` a key column belongs to: follow foreign keys to the root key.

        A primary key and every foreign key that references it share one domain, hence one permutation:
        that is what keeps every join intact after anonymization.
        """
        seen: set[tuple[str, str]] = set()
        current = (table, column)
        while (ref := self.foreign_key_of(*current)) is not None:
            if current in seen:
                raise ValueError(f"foreign-key cycle through {current[0]}.{current[1]}")
            seen.add(current)
            current = ref
        return f"{current[0]}.{current[1]}"

    def entity_domain(self, table: str, column: str) -> str:
        """Key domain of the entity whose offset shifts a date_shift column."""
        params = self.tables[table].columns[column].strategy_params()
        assert isinstance(params, DateShiftParams)
        return self.key_domain(table, params.entity)

    def iter_columns(self) -> Iterator[tuple[str, str, Column]]:
        for table_name, table in self.tables.items():
            for column_name, column in table.columns.items():
                yield table_name, column_name, column

    def dependency_order(self) -> list[str]:
        """Tables with every referenced (parent) table before its children."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order or name in visiting:
                return
            visiting.add(name)
            for fk in self.tables[name].foreign_keys:
                if fk.references.table != name:
                    visit(fk.references.table)
            visiting.discard(name)
            order.append(name)

        for name in self.tables:
            visit(name)
        return order

    def source_name(self, table: str) -> str:
        return f"{self.source.catalog}.{self.source.schema_}.{table}"

    def target_name(self, table: str) -> str:
        return f"{self.target.catalog}.{self.target.schema_}.{table}"

    def staging_name(self, table: str) -> str:
        return f"{self.target.catalog}.{self.target.staging_schema}.{table}"


@dataclass(frozen=True)
class ContractIssue:
    line: int | None
    table: str | None
    column: str | None
    message: str
    fix: str

    def render(self, file: str) -> str:
        return render_issue(
            file, self.line, ".".join(p for p in (self.table, self.column) if p), self.message, self.fix
        )


class ContractError(InvalidFile[ContractIssue]):
    """The contract file is invalid; ``issues`` lists every problem found (never just the first). Exit code 2."""

    kind = "data contract"


def _document(text: str, file: str) -> tuple[YamlDocument, list[ContractIssue]]:
    """Parsed YAML with key lines, and an issue per key given twice (YAML would silently keep the last)."""
    try:
        doc = parse_yaml(text)
    except FileProblem as exc:
        raise ContractError(file, [ContractIssue(exc.line, None, None, exc.message, exc.fix)]) from None
    issues = []
    for dup in doc.duplicates:
        table, column = _table_column(dup.path)
        issues.append(ContractIssue(dup.line, table, column, f"duplicate key '{dup.path[-1]}'", "list each key once"))
    return doc, issues


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def _name_issues(data: dict[Any, Any], doc: YamlDocument) -> Iterator[ContractIssue]:
    """Table and column names must be plain identifiers: the job quotes them in Spark SQL, Unity Catalog tags
    them, and a backtick or a dot in a name would be read differently by each."""
    tables = data.get("tables")
    if not isinstance(tables, dict):
        return
    fix = "rename it to a plain identifier: letters, digits and _ only, not starting with a digit (e.g. visit_id)"
    for t_name, table in tables.items():
        if not is_identifier(t_name):
            why = ": a backtick cannot be quoted in Spark SQL" if "`" in str(t_name) else ""
            yield ContractIssue(
                doc.line(("tables", t_name)),
                None,
                None,
                f"table name {_shown(t_name)} is not a plain identifier ({IDENTIFIER}){why}",
                fix,
            )
        columns = table.get("columns") if isinstance(table, dict) else None
        if not isinstance(columns, dict):
            continue
        for c_name in columns:
            if not is_identifier(c_name):
                why = ": a backtick cannot be quoted in Spark SQL" if "`" in str(c_name) else ""
                yield ContractIssue(
                    doc.line(("tables", t_name, "columns", c_name)),
                    str(t_name),
                    None,
                    f"column name {_shown(c_name)} is not a plain identifier ({IDENTIFIER}){why}",
                    fix,
                )


def _table_column(path: tuple[Any, ...]) -> tuple[str | None, str | None]:
    table = path[1] if len(path) > 1 and path[0] == "tables" else None
    column = path[3] if len(path) > 3 and path[0] == "tables" and path[2] == "columns" else None
    return (str(table) if table is not None else None, str(column) if column is not None else None)


def _family(type_text: str) -> str | None:
    try:
        return parse_type(type_text).family
    except TypeParseError:
        return None


def _same_type(a: str, b: str) -> bool:
    """Types compared after parsing (``integer`` is ``int``); unparseable ones (reported elsewhere) as text."""
    try:
        return parse_type(a) == parse_type(b)
    except TypeParseError:
        return a.replace(" ", "").lower() == b.replace(" ", "").lower()


def _scan_issues(path: tuple[Any, ...], strategy: str, scan: ColumnScan) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """A column's ``scan`` block only makes sense where the content scan looks (keep, generalize)."""
    from anonymizer.content_scan import SCANNED_STRATEGIES

    if strategy not in SCANNED_STRATEGIES:
        yield (
            (*path, "scan"),
            f"scan settings on a '{strategy}' column, which the content scan does not look at",
            f"remove the scan block (only {', '.join(sorted(SCANNED_STRATEGIES))} columns are scanned)",
        )
    patterns = [a.pattern for a in scan.acknowledged]
    if len(set(patterns)) != len(patterns):
        yield ((*path, "scan", "acknowledged"), "a pattern is acknowledged twice", "acknowledge each pattern once")


def _semantic_issues(contract: Contract) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Cross-field rules pydantic cannot express: (path, message, fix)."""
    tables = contract.tables
    for t_name, table in tables.items():
        base = ("tables", t_name)
        for c_name, col in table.columns.items():
            path = (*base, "columns", c_name)
            if col.strategy not in STRATEGIES:
                yield (
                    (*path, "strategy"),
                    f"unknown strategy '{col.strategy}'",
                    f"use one of: {', '.join(STRATEGIES)}",
                )
                continue
            try:
                sql_type = parse_type(col.type)
            except TypeParseError as exc:
                yield ((*path, "type"), str(exc), "declare the column's Databricks SQL type")
                continue
            try:
                params = col.strategy_params()
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
                yield (
                    (*path, "params"),
                    f"bad params for strategy '{col.strategy}': {detail}",
                    f"see the '{col.strategy}' parameters in README (Data contract)",
                )
                continue
            spec = STRATEGIES[col.strategy]
            problem = fit_problem(col.strategy, sql_type, col.nullable, params)
            if problem:
                yield ((*path, "strategy"), problem, "pick a strategy that fits the column type")
            if spec.clear_text and col.classification in ("direct_identifier", "key"):
                yield (
                    (*path, "strategy"),
                    f"a {col.classification} column cannot be kept in clear text",
                    "anonymize it (key, person_name, hash, null, ...) or correct its classification",
                )
            if col.classification == "key" and not spec.serves_key_columns:
                yield ((*path, "strategy"), "a column classified 'key' must use strategy 'key'", "set strategy: key")
            if col.scan is not None:
                yield from _scan_issues(path, col.strategy, col.scan)
            for ref_param in ("unique_by", "entity"):
                ref = getattr(params, ref_param, None) if isinstance(params, (PoolParams, DateShiftParams)) else None
                if ref is None:
                    continue
                ref_col = table.columns.get(ref)
                if ref_col is None or ref_col.strategy not in key_strategies():
                    yield (
                        (*path, "params", ref_param),
                        f"params.{ref_param} '{ref}' is not a key column of {t_name}",
                        f"name a column of {t_name} whose strategy is 'key'",
                    )
                elif ref_param == "unique_by" and _family(ref_col.type) != "integer":
                    yield (
                        (*path, "params", ref_param),
                        f"params.unique_by '{ref}' is a {ref_col.type} key; unique replacements need an integer key",
                        "name an integer key column in unique_by, or drop unique_by",
                    )
        for i, pk in enumerate(table.primary_key):
            if pk not in table.columns:
                yield (
                    (*base, "primary_key", i),
                    f"primary key column '{pk}' is not a column of the table",
                    "list existing columns in primary_key",
                )
            elif table.columns[pk].nullable:
                yield (
                    (*base, "columns", pk, "nullable"),
                    f"primary key column '{pk}' is nullable",
                    "set nullable: false on primary key columns",
                )
        if len(set(table.primary_key)) != len(table.primary_key):
            yield ((*base, "primary_key"), "primary key lists a column twice", "list each column once")
        for i, fk in enumerate(table.foreign_keys):
            fpath = (*base, "foreign_keys", i)
            parent = tables.get(fk.references.table)
            if parent is None:
                yield (
                    (*fpath, "references", "table"),
                    f"foreign key references unknown table '{fk.references.table}'",
                    f"reference one of: {', '.join(tables)}",
                )
                continue
            if len(fk.columns) != len(fk.references.columns):
                yield (
                    fpath,
                    "foreign key and referenced column lists differ in length",
                    "list one referenced column per foreign-key column",
                )
                continue
            if sorted(fk.references.columns) != sorted(parent.primary_key):
                yield (
                    (*fpath, "references", "columns"),
                    f"foreign key must reference the primary key of {fk.references.table} {parent.primary_key}",
                    "reference the parent's primary key columns",
                )
            for col_name, ref_name in zip(fk.columns, fk.references.columns, strict=True):
                child = table.columns.get(col_name)
                ref = parent.columns.get(ref_name)
                if child is None:
                    yield (
                        (*fpath, "columns"),
                        f"foreign key column '{col_name}' is not a column of the table",
                        "list existing columns in foreign_keys",
                    )
                    continue
                if ref is None:
                    yield (
                        (*fpath, "references", "columns"),
                        f"referenced column '{fk.references.table}.{ref_name}' does not exist",
                        f"reference a column of {fk.references.table}",
                    )
                    continue
                if not _same_type(child.type, ref.type):
                    yield (
                        (*base, "columns", col_name, "type"),
                        f"foreign key type {child.type} differs from {fk.references.table}.{ref_name} ({ref.type})",
                        f"declare {col_name} as {ref.type}",
                    )
                if child.strategy not in key_strategies() or ref.strategy not in key_strategies():
                    yield (
                        (*base, "columns", col_name, "strategy"),
                        f"foreign key {col_name} -> {fk.references.table}.{ref_name} must use strategy 'key' on both sides",
                        "set strategy: key on both columns so the join survives",
                    )
    if contract.privacy is not None:
        yield from privacy_issues(contract, contract.privacy)
    yield from release_issues(contract)
    for t_name, table in tables.items():
        for fk in table.foreign_keys:
            for c_name in fk.columns:
                try:
                    contract.key_domain(t_name, c_name)
                except (ValueError, KeyError, IndexError) as exc:
                    yield (
                        ("tables", t_name, "foreign_keys"),
                        f"cannot resolve key domain: {exc}",
                        "break the foreign-key cycle / reference existing columns",
                    )
    yield from domain_issues(contract)  # small FPE domains, link_as groups (anonymizer.domains)


def parse_contract(text: str, file: str = "<contract>") -> Contract:
    """Validate contract text; raise :class:`ContractError` listing every problem with its line."""
    doc, issues = _document(text, file)
    data = doc.data
    if not isinstance(data, dict):
        raise ContractError(
            file,
            [
                ContractIssue(
                    1, None, None, "the contract is not a YAML mapping", "start from the example contract in README"
                )
            ],
        )
    issues += _name_issues(data, doc)
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            table, column = _table_column(loc)
            field = ".".join(str(p) for p in loc)
            if err["type"] == "missing":
                fix = f"add '{loc[-1]}'"
            elif err["type"] == "extra_forbidden":
                fix = f"remove '{loc[-1]}' (unknown field) or fix its spelling"
            else:
                fix = "correct the value"
            issues.append(ContractIssue(doc.line(loc), table, column, f"{field}: {err['msg']}", fix))
        raise ContractError(file, issues) from None
    for path, message, fix in _semantic_issues(contract):
        table, column = _table_column(path)
        issues.append(ContractIssue(doc.line(path), table, column, message, fix))
    if issues:
        raise ContractError(file, issues)
    return contract


def load_contract(path: str | Path | None = None) -> Contract:
    """Load and validate a contract file; ``None`` loads the contract packaged with the job."""
    if path is None:
        text = resources.files("anonymizer.contracts").joinpath(DEFAULT_CONTRACT).read_text("utf-8")
        return parse_contract(text, f"anonymizer/contracts/{DEFAULT_CONTRACT}")
    p = Path(path)
    try:
        text = read_text(p, missing_fix="pass --contract with an existing contract file")
    except FileProblem as exc:
        raise ContractError(str(p), [ContractIssue(exc.line, None, None, exc.message, exc.fix)]) from None
    return parse_contract(text, str(p))


def packaged_contract_path() -> Path:
    """Filesystem path of the packaged contract (the stacks read the same file the wheel ships)."""
    return Path(str(resources.files("anonymizer.contracts").joinpath(DEFAULT_CONTRACT)))


def json_schema() -> dict[str, Any]:
    """JSON Schema of the contract format (exported to contracts/contract.schema.json for editors)."""
    schema = Contract.model_json_schema(by_alias=True)
    column = schema["$defs"]["Column"]["properties"]
    column["strategy"] = {"enum": sorted(STRATEGIES), "title": "Strategy", "type": "string"}
    schema["$id"] = "https://example.com/anonymizer/contract.schema.json"
    return schema


def main(argv: list[str] | None = None) -> int:
    """``python -m anonymizer.contract [--export-schema] [FILE]``: validate a contract / export the schema."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("file", nargs="?", help="contract to validate (default: the packaged one)")
    parser.add_argument("--export-schema", action="store_true", help="rewrite contracts/contract.schema.json")
    args = parser.parse_args(argv)
    if args.export_schema:
        target = packaged_contract_path().parent / "contract.schema.json"
        target.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
        print(f"wrote {target}")
        return 0
    try:
        contract = load_contract(args.file)
    except ContractError as exc:
        print(exc)
        return 2
    print(f"{args.file or DEFAULT_CONTRACT}: valid, {len(contract.tables)} tables, sha256 {contract.digest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
