"""The contract's ``privacy`` section: the attacker model, the thresholds, and the declared ways below them.

Why a separate section: the per-column strategies say how each value is transformed; they cannot say what a
person who knows a patient can *link* across the star schema. This section names the subject (whose
re-identification we measure), the quasi-identifiers an attacker is assumed to know (on the subject's row and
on one-to-many rows that reference it, optionally one foreign-key hop further), per-subject aggregates, the
sensitive attributes for l-diversity, the thresholds, and the generalizations / local suppression the job
applies so the measured risk stays under them. :mod:`anonymizer.risk` measures it; the anonymize step applies
the generalizations when it writes staging; the risk step applies the suppression.

Column references are ``table.column`` (generalize, suppression) or, inside a subject/row list, ``column`` or
``fk_column.parent_column`` (one hop through the foreign key ``fk_column`` of that table).

Everything declared here is public by assumption (the attacker knows the grains, the shift range, the
suppression values): the measured risk never relies on a rule being secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anonymizer.sqlident import IDENTIFIER, NAME

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn

    from anonymizer.contract import Contract

_IDENT = IDENTIFIER
_COLUMN_REF = rf"^{NAME}\.{NAME}$"
_PATH = rf"^{NAME}(\.{NAME})?$"

DateGrain = Literal["week", "month", "quarter", "year"]
# Largest number of days a truncation to the grain moves a date (used by checks and the report).
GRAIN_DAYS: dict[str, int] = {"week": 6, "month": 30, "quarter": 91, "year": 365}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Coarsening(_Model):
    """One generalization rule. Dates: ``to`` (week/month/quarter/year) or ``years`` (N-year bands), and
    optionally ``earliest`` (bottom-coding: earlier dates become this date, e.g. "born before 1937" for a
    90+ age group) and ``latest`` (top-coding). Numbers: ``bin_width`` and optionally ``minimum``/``maximum`` (bottom/top-coding).
    Strings: ``map`` (a categorical hierarchy, e.g. specialization -> specialty group) with ``default``
    for unmapped values (required: an unmapped value must never pass through)."""

    to: DateGrain | None = None
    years: int | None = Field(default=None, ge=2, le=1000)
    earliest: dt.date | None = None
    latest: dt.date | None = None
    bin_width: float | None = Field(default=None, gt=0)
    minimum: float | None = None
    maximum: float | None = None
    map: dict[str, str] | None = None
    default: str | None = None

    def family(self) -> str | None:
        """Which column family the rule is for (None when the parameters mix families)."""
        dates = any(x is not None for x in (self.to, self.years, self.earliest, self.latest))
        numbers = self.bin_width is not None or self.minimum is not None or self.maximum is not None
        strings = self.map is not None or self.default is not None
        if sum((dates, numbers, strings)) != 1:
            return None
        return "date" if dates else "number" if numbers else "string"

    def describe(self) -> str:
        parts = []
        if self.to:
            parts.append(f"to {self.to}")
        if self.years:
            parts.append(f"{self.years}-year bands")
        if self.earliest:
            parts.append(f"earlier than {self.earliest} -> {self.earliest}")
        if self.latest:
            parts.append(f"later than {self.latest} -> {self.latest}")
        if self.bin_width:
            parts.append(f"bins of {self.bin_width:g}")
        if self.minimum is not None:
            parts.append(f"below {self.minimum:g} -> {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"above {self.maximum:g} -> {self.maximum:g}")
        if self.map is not None:
            parts.append(
                f"map of {len(self.map)} values -> {len(set(self.map.values()))} groups (else {self.default!r})"
            )
        return ", ".join(parts)


class Generalization(Coarsening):
    """A generalization applied by the anonymize step to ``column`` (``table.column``) after its strategy."""

    column: str = Field(pattern=_COLUMN_REF)


class Subject(_Model):
    table: str = Field(pattern=_IDENT)
    key: str = Field(pattern=_IDENT)


class RowPath(_Model):
    """Rows of ``table`` that reference the subject through ``via`` (a one-to-many path, e.g. visits).

    ``rows_known``: the attacker knows the quasi-identifiers of at least this many of the subject's rows
    (k^m-anonymity). Only m = 1 is computed today: it is the weakest attacker the issue names (one visit),
    and the per-subject minimum over rows is exact for it.
    """

    table: str = Field(pattern=_IDENT)
    via: str = Field(pattern=_IDENT)
    rows_known: int = Field(default=1, ge=1, le=1)
    known: list[str] = Field(min_length=1)
    sensitive: list[str] = Field(default_factory=list)


class Aggregate(_Model):
    """A per-subject aggregate over the row path the attacker may know (visit count, first/last visit)."""

    name: str = Field(pattern=_IDENT)
    function: Literal["count", "min", "max"]
    column: str | None = Field(default=None, pattern=_IDENT)
    generalize: Coarsening | None = None


class Thresholds(_Model):
    k_min: int = Field(ge=1)
    max_share_below_k: float = Field(default=0.0, ge=0.0, le=1.0)
    l_min: int = Field(default=1, ge=1)
    max_share_below_l: float = Field(default=0.0, ge=0.0, le=1.0)


class SuppressedColumn(_Model):
    """``column`` of a suppressed subject (and of all its rows) is set to NULL (``set_null: true``, nullable columns
    only) or to ``value``, a marker outside the column's published range (e.g. 1900-01-01 for a date): the
    rule is public, so the marker reads as "unknown" and the risk step counts it as matching every value."""

    column: str = Field(pattern=_COLUMN_REF)
    set_null: bool = False
    value: dt.date | int | float | str | None = None


class Suppression(_Model):
    max_share: float = Field(ge=0.0, le=1.0, description="largest share of subjects that may be suppressed")
    columns: list[SuppressedColumn] = Field(min_length=1)


class Privacy(_Model):
    """The attacker model and thresholds (see README, "Re-identification risk")."""

    subject: Subject
    known: list[str] = Field(default_factory=list)
    rows: RowPath | None = None
    aggregates: list[Aggregate] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    thresholds: Thresholds
    generalize: list[Generalization] = Field(default_factory=list)
    suppression: Suppression | None = None
    measure_before: Literal["every_run", "when_contract_changes"] = Field(
        default="when_contract_changes",
        description=(
            "When the run measures the source at full precision (the report's 'before generalization' row and "
            "bars; it gates nothing): every run, or only when no earlier run of this very contract (same "
            "SHA-256) and source recorded it, in which case the report shows that measure and names its run."
        ),
    )

    def generalization_of(self, table: str, column: str) -> Generalization | None:
        for g in self.generalize:
            if g.column == f"{table}.{column}":
                return g
        return None


# ------------------------------------------------------------------------------------------------------
# validation (called by contract.py; yields (path, message, fix) like its own semantic rules)
# ------------------------------------------------------------------------------------------------------


def _family(contract: Contract, table: str, column: str) -> str:
    from anonymizer.sqltypes import TypeParseError

    try:
        fam = contract.tables[table].columns[column].sql_type.family
    except TypeParseError:  # an unknown type is the contract validator's finding, not a crash here
        return "unknown"
    return {"timestamp": "date", "integer": "number", "decimal": "number", "floating": "number"}.get(fam, fam)


def _resolve(contract: Contract, table: str, path: str) -> tuple[str, str] | str:
    """``column`` or ``fk.parent_column`` of ``table`` -> (table, column) it reads, or the problem."""
    spec = contract.tables[table]
    if "." not in path:
        return (table, path) if path in spec.columns else f"'{path}' is not a column of {table}"
    fk_col, parent_col = path.split(".", 1)
    ref = contract.foreign_key_of(table, fk_col) if fk_col in spec.columns else None
    if ref is None:
        return f"'{fk_col}' is not a foreign-key column of {table}"
    parent = ref[0]
    if parent not in contract.tables:
        return f"{table}.{fk_col} references unknown table '{parent}'"
    if parent_col not in contract.tables[parent].columns:
        return f"'{parent_col}' is not a column of {parent} (reached through {table}.{fk_col})"
    return parent, parent_col


def semantic_issues(  # noqa: C901 - one flat list of cross-field rules, each with its message and fix
    contract: Contract, privacy: Privacy
) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Cross-field rules for the privacy section: every reference resolves, every rule fits its column."""
    base: tuple[Any, ...] = ("privacy",)
    subj = privacy.subject
    if subj.table not in contract.tables:
        yield ((*base, "subject", "table"), f"unknown subject table '{subj.table}'", "name a contract table")
        return
    if contract.tables[subj.table].primary_key != [subj.key]:
        yield (
            (*base, "subject", "key"),
            f"'{subj.key}' is not the single-column primary key of {subj.table}",
            f"use the primary key of {subj.table}",
        )
        return
    for i, path in enumerate(privacy.known + privacy.sensitive):
        where = ("known", i) if i < len(privacy.known) else ("sensitive", i - len(privacy.known))
        got = _resolve(contract, subj.table, path)
        if isinstance(got, str):
            yield ((*base, *where), got, f"name a column of {subj.table} or fk_column.parent_column")
    rows = privacy.rows
    if rows is not None:
        if rows.table not in contract.tables:
            yield ((*base, "rows", "table"), f"unknown table '{rows.table}'", "name a contract table")
            return
        if contract.foreign_key_of(rows.table, rows.via) != (subj.table, subj.key):
            yield (
                (*base, "rows", "via"),
                f"{rows.table}.{rows.via} is not a foreign key to {subj.table}.{subj.key}",
                f"name the column of {rows.table} that references the subject",
            )
        for field in ("known", "sensitive"):
            for i, path in enumerate(getattr(rows, field)):
                got = _resolve(contract, rows.table, path)
                if isinstance(got, str):
                    yield ((*base, "rows", field, i), got, f"name a column of {rows.table} or fk_column.parent_column")
    names: set[str] = set()
    for i, agg in enumerate(privacy.aggregates):
        if rows is None:
            yield ((*base, "aggregates", i), "aggregates need a 'rows' path", "declare privacy.rows")
            break
        if agg.name in names:
            yield ((*base, "aggregates", i, "name"), f"aggregate name '{agg.name}' twice", "name each once")
        names.add(agg.name)
        if agg.function != "count" and (agg.column is None or agg.column not in contract.tables[rows.table].columns):
            yield (
                (*base, "aggregates", i, "column"),
                f"aggregate '{agg.name}' ({agg.function}) needs a column of {rows.table}",
                f"set column to a column of {rows.table}",
            )
        if agg.generalize is not None and agg.generalize.family() is None:
            yield ((*base, "aggregates", i, "generalize"), "mixed generalization parameters", "use one family")
    seen: set[str] = set()
    for i, g in enumerate(privacy.generalize):
        yield from _rule_issues(contract, g, (*base, "generalize", i))
        if g.column in seen:
            yield ((*base, "generalize", i, "column"), f"{g.column} generalized twice", "merge the two rules")
        seen.add(g.column)
    if privacy.suppression is not None:
        for i, s in enumerate(privacy.suppression.columns):
            spath = (*base, "suppression", "columns", i)
            table, _, column = s.column.partition(".")
            if table not in contract.tables or column not in contract.tables[table].columns:
                yield ((*spath, "column"), f"'{s.column}' is not a contract column", "name an existing table.column")
                continue
            col = contract.tables[table].columns[column]
            if s.set_null == (s.value is not None):
                yield (
                    spath,
                    "give exactly one of set_null: true or value",
                    "set_null: true for nullable columns, else value",
                )
            elif s.set_null and not col.nullable:
                yield (
                    (*spath, "null"),
                    f"{s.column} is NOT NULL: suppression cannot set it to NULL",
                    "set value: a marker outside the published range (e.g. 1900-01-01 for a date)",
                )
            if col.strategy == "key" or col.classification == "key":
                yield ((*spath, "column"), f"{s.column} is a key and cannot be suppressed", "suppress another QI")
            if table not in (subj.table, rows.table if rows else None):
                yield (
                    (*spath, "column"),
                    f"{s.column}: only columns of the subject table or the row table can be suppressed",
                    f"suppress a column of {subj.table}" + (f" or {rows.table}" if rows else ""),
                )
            elif not _is_known(privacy, table, column):
                yield (
                    (*spath, "column"),
                    f"{s.column} is not a quasi-identifier the attacker knows (privacy.known / rows.known)",
                    "suppress a declared quasi-identifier",
                )


def _is_known(privacy: Privacy, table: str, column: str) -> bool:
    if table == privacy.subject.table and column in privacy.known:
        return True
    return privacy.rows is not None and table == privacy.rows.table and column in privacy.rows.known


def _rule_issues(
    contract: Contract, rule: Generalization, path: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    table, _, column = rule.column.partition(".")
    if table not in contract.tables or column not in contract.tables[table].columns:
        yield ((*path, "column"), f"'{rule.column}' is not a contract column", "name an existing table.column")
        return
    col = contract.tables[table].columns[column]
    if col.strategy == "key" or col.classification == "key":
        yield ((*path, "column"), f"{rule.column} is a key: generalizing it would break joins", "coarsen another QI")
        return
    family = rule.family()
    have = _family(contract, table, column)
    if family is None:
        yield (path, "a rule mixes date, number and string parameters (or has none)", "use one family's parameters")
    elif family != have:
        yield (path, f"{rule.column} is a {have} column; this rule is for {family} columns", "use a matching rule")
    elif family == "date" and rule.to is not None and rule.years is not None:
        yield (path, "'to' and 'years' both given", "use one of them")
    elif family == "string" and rule.default is None:
        yield ((*path, "default"), "a map needs 'default' for unmapped values", "add default: Other")
    elif family == "string" and rule.map is None:
        yield ((*path, "map"), "'default' without 'map'", "add the map")


# ------------------------------------------------------------------------------------------------------
# Spark expressions
# ------------------------------------------------------------------------------------------------------


def coarsen(c: SparkColumn, rule: Coarsening) -> SparkColumn:
    """The rule as a native Spark expression (monotone for dates and numbers, so bounds checks stay simple).

    NULL stays NULL. The caller casts back to the column's type.
    """
    from pyspark.sql import functions as F

    expr = c
    fam = rule.family()
    if fam == "date":
        day = c.cast("date")
        if rule.to is not None:
            expr = F.trunc(day, rule.to)
        elif rule.years is not None:
            expr = F.make_date((F.floor(F.year(day) / rule.years) * rule.years).cast("int"), F.lit(1), F.lit(1))
        else:
            expr = day
        if rule.earliest is not None:
            expr = F.greatest(expr, F.lit(rule.earliest))
        if rule.latest is not None:
            expr = F.least(expr, F.lit(rule.latest))
    elif fam == "number":
        if rule.bin_width is not None:
            w = F.lit(Decimal(repr(rule.bin_width)))
            expr = F.floor(c / w) * w
        if rule.minimum is not None:
            expr = F.greatest(expr, F.lit(rule.minimum))
        if rule.maximum is not None:
            expr = F.least(expr, F.lit(rule.maximum))
    elif fam == "string":
        assert rule.map is not None and rule.default is not None
        mapping = F.create_map(*[F.lit(x) for kv in sorted(rule.map.items()) for x in kv])
        expr = F.coalesce(mapping[c], F.lit(rule.default))
    return F.when(c.isNotNull(), expr)


def generalize_staged(df: Any, contract: Contract, table: str) -> Any:
    """Apply the contract's privacy generalizations of ``table`` to its anonymized DataFrame (same schema).

    Called by the anonymize step between the engine and the staging write, so the staged (and later
    published) values are the generalized ones and no extra pass over the data is needed.
    """
    privacy: Privacy | None = getattr(contract, "privacy", None)
    if privacy is None:
        return df
    from pyspark.sql import functions as F

    rules = {c: privacy.generalization_of(table, c) for c in df.columns}
    if not any(rules.values()):
        return df
    out = []
    for field in df.schema.fields:
        rule = rules[field.name]
        if rule is None:
            out.append(F.col(field.name))
            continue
        expr = coarsen(F.col(field.name), rule).cast(field.dataType)
        if not field.nullable:
            message = f"anonymizer: generalization produced NULL for non-nullable column {table}.{field.name}"
            expr = F.coalesce(expr, F.raise_error(F.lit(message)).cast(field.dataType))
        out.append(expr.alias(field.name, metadata=dict(field.metadata or {})))
    return df.select(*out)


def shift_bounds_violation(
    contract: Contract, table: str, column: str, staged: SparkColumn, source: SparkColumn, max_days: int
) -> SparkColumn | None:
    """For a date-shifted column the privacy section generalizes: TRUE where the staged value is not
    G(source - shift) for any shift in [1, max_days]. G is monotone, so that is one BETWEEN. None when the
    column is not generalized (the plain shift-bounds check applies)."""
    privacy: Privacy | None = getattr(contract, "privacy", None)
    rule = privacy.generalization_of(table, column) if privacy else None
    if rule is None:
        return None
    from pyspark.sql import functions as F

    day = source.cast("date")
    lo = coarsen(F.date_sub(day, max_days), rule)
    hi = coarsen(F.date_sub(day, 1), rule)
    return staged.isNotNull() & ~staged.cast("date").between(lo, hi)
