"""The strategy registry: everything the job knows about one anonymization strategy, declared in one entry.

Why one registry: a strategy is used by the contract validator (which types and parameters it accepts), the
engine (the Spark expression that produces the anonymized column), the checks (how a valid output looks, how
likely an unchanged value is by chance) and the gate's classification guesses. When that knowledge lived in
six modules nothing kept them in agreement; now each of those modules asks :data:`STRATEGIES` and holds no
strategy name of its own (``tests/engine/test_registry.py`` enforces both).

Adding a strategy = one :class:`StrategySpec` entry below: its accepted type families, a pydantic params
model, ``build`` (a Spark expression from a :class:`BuildContext`), ``output_check`` (which output rows are
invalid), and optionally ``fit`` (extra type/params rules), ``unchanged_chance``, ``classify`` hints and the
role flags. The parametrized registry test then runs it over every type it accepts.

Builders derive their subkeys through ``ctx.subkey`` and capture only those bytes in their UDF closures; they
call :mod:`anonymizer.transforms` for the keyed work, so changes to the transforms land here and nowhere else.
Spark, numpy and the transforms are imported inside the builders: the contract (and the infra stacks that load
it) import this module without a Spark session.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anonymizer.sqltypes import INTEGER_BITS, Family, SqlType

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql.types import DataType, StructField

    from anonymizer.contract import Column, Contract, Settings

Classification = Literal["key", "direct_identifier", "quasi_identifier", "sensitive", "non_sensitive"]


# ------------------------------------------------------------------------------------------------------
# parameter models (one per strategy; the contract's ``params`` is validated against it)
# ------------------------------------------------------------------------------------------------------


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(_Params):
    """The strategy takes no parameters."""


LINK_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class _Linkable(_Params):
    """``link_as``: columns naming the same link share one keyed mapping (the same email in two tables
    gets the same pseudonym). Without it every (table, column) has its own subkey, so pseudonyms of one
    column cannot be joined to another's."""

    link_as: str | None = Field(default=None, pattern=LINK_NAME)


class KeyParams(_Params):
    """``alphabet``: for string keys, ``classes`` keeps digits/lower/upper letters in their class;
    ``hex`` treats 0-9a-f as one class so UUIDs and hex ids stay valid hex. ``small_domain_ok``: the reason
    a key on a domain below 10^6 values (tinyint, smallint, short strings) is acceptable; without it the
    contract is refused (NIST SP 800-38G approves FPE only on domains of at least a million values)."""

    alphabet: Literal["classes", "hex"] = "classes"
    small_domain_ok: str | None = Field(default=None, min_length=10)


class PoolParams(_Linkable):
    """``unique_by``: a key column of the same table; the replacement is derived from that row's key,
    so distinct keys get distinct values (otherwise the value is derived from the original value)."""

    unique_by: str | None = None


class EmailParams(_Linkable):
    keep_domain: bool = False


class SsnParams(_Linkable):
    """``space``: ``never_issued`` (default) outputs area 900-999 with group 01-49, numbers issued to nobody
    (neither SSNs nor ITINs); ``issuable`` outputs valid SSNs one-to-one, which may belong to real people."""

    space: Literal["never_issued", "issuable"] = "never_issued"


class PhoneParams(_Linkable):
    """Phone numbers keep their country code; +1/NANP numbers get a valid area code and exchange."""


class DateShiftParams(_Params):
    """``entity``: the key column whose value picks the shift, so every date of one entity moves by the
    same number of days in every table. ``max_days`` overrides settings.date_shift_max_days."""

    entity: str
    max_days: int | None = Field(default=None, ge=1, le=36500)


class GeneralizeParams(_Params):
    """Exactly one of: ``to`` (dates: month or year), ``bin_width`` (numbers), ``prefix_length`` (strings)."""

    to: Literal["month", "year"] | None = None
    bin_width: float | None = Field(default=None, gt=0)
    prefix_length: int | None = Field(default=None, ge=0)


class HashParams(_Linkable):
    """``length``: hex characters kept from the HMAC-SHA256 (8..64)."""

    length: int = Field(default=64, ge=8, le=64)


class KeepParams(_Params):
    """Keeping a column in clear text is an explicit, reviewed decision: say why."""

    reason: str = Field(min_length=10)


def column_domain(table: str, column: str, params: Any) -> str:
    """Subkey domain of a non-key strategy: its own (table, column), or the contract's ``link_as`` name.

    Why: one subkey per strategy would let equal pseudonyms link two columns (the same fake SSN in two
    tables says the two rows are one person); ``link_as`` makes that link a reviewed decision.
    """
    link = getattr(params, "link_as", None)
    return f"link/{link}" if link else f"column/{table}.{column}"


# ------------------------------------------------------------------------------------------------------
# what a builder and an output check receive
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildContext:
    """One column of one table, as a strategy's Spark builder sees it.

    ``subkey(purpose, domain)`` derives key bytes on the driver; a builder captures only those bytes in its
    UDF closures, never this context (it holds the keyring's bound method, and the keyring refuses pickling,
    so a mistake fails loudly instead of shipping the master key to executors).
    """

    contract: Contract
    table: str
    field: StructField
    column: Column
    params: Any
    subkey: Callable[[str, str], bytes]

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def where(self) -> str:
        return f"{self.table}.{self.field.name}"

    @property
    def sql_type(self) -> SqlType:
        return self.column.sql_type

    @property
    def dtype(self) -> DataType:
        return self.field.dataType

    @property
    def col(self) -> SparkColumn:
        from pyspark.sql import functions as F

        return F.col(self.field.name)

    @property
    def own_domain(self) -> str:
        """Subkey domain of a non-key strategy: this (table, column), or the contract's ``link_as`` name."""
        return column_domain(self.table, self.name, self.params)

    def masked(self, expr: SparkColumn) -> SparkColumn:
        """NULL in, NULL out: ``expr`` only where the input is not NULL."""
        from pyspark.sql import functions as F

        return F.when(self.col.isNotNull(), expr)


@dataclass(frozen=True)
class CheckInput:
    """One column of the aligned source/staging rows: ``source`` and ``output`` are the row's two values."""

    source: SparkColumn
    output: SparkColumn
    sql_type: SqlType
    params: Any
    settings: Settings


@dataclass(frozen=True)
class ClassifyHint:
    """When the gate meets an unknown column, this strategy is suggested if the hint matches (lowest rank
    first). ``pattern`` is searched in the lower-cased column name; ``families``/``nullable`` restrict it;
    ``key_metadata`` also matches columns of the live primary/foreign keys."""

    rank: int
    classification: Classification
    pattern: str | None = None
    families: frozenset[Family] | None = None
    nullable: bool | None = None
    key_metadata: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    entity_param: bool = False  # add params.entity = the table's first key column (date shifts)
    reason: str | None = None  # default: "name matches /pattern/"


Builder = Callable[[BuildContext], "SparkColumn"]
OutputCheck = Callable[[CheckInput], "SparkColumn"]  # True where an output row is invalid
FitRule = Callable[[SqlType, bool, Any], "str | None"]


@dataclass(frozen=True)
class StrategySpec:
    """Everything about one strategy. See the module docstring for how to add one."""

    name: str
    families: frozenset[Family]
    params: type[_Params]
    summary: str
    build: Builder
    output_check: OutputCheck
    output_rule: str  # what output_check enforces, for README/report readers
    fit: FitRule | None = None
    unchanged_chance: float | None = None  # P(output == source) by chance; None: not checked for pass-through
    overlap_blocking: bool = False  # its output space cannot meet real values: any overlap fails the run
    classify: tuple[ClassifyHint, ...] = ()
    preserves_joins: bool = False  # one permutation per key domain: a PK and its FKs still join
    serves_key_columns: bool = False  # may be applied to a column classified 'key'
    clear_text: bool = False  # the output is the input: refused for identifiers and keys
    shift_days: Callable[[Any, Settings], int] | None = None  # max days of a per-entity date shift
    all_null: bool = False  # NULL in every output row: the staged NULL count is the row count, not the source's


# ------------------------------------------------------------------------------------------------------
# small Spark helpers shared by builders
# ------------------------------------------------------------------------------------------------------


def _integer_bounds(base: str) -> tuple[int, int]:
    bits = INTEGER_BITS[base]
    return -(1 << bits), (1 << bits) - 1


def _str_udf(fn: Callable[[Any], Any], name: str, ctx: BuildContext) -> Callable[..., SparkColumn]:
    from anonymizer import udfs

    return udfs.strings_to_strings(fn, name, ctx.dtype)


# ------------------------------------------------------------------------------------------------------
# key
# ------------------------------------------------------------------------------------------------------


def _fit_key(sql_type: SqlType, nullable: bool, params: Any) -> str | None:
    if sql_type.base == "char":
        return "strategy 'key' on char(n) is not supported: Spark pads char values; declare varchar(n)"
    if isinstance(params, KeyParams) and params.alphabet == "hex" and sql_type.family != "string":
        return "alphabet 'hex' applies to string keys only"
    return None


def _build_key(ctx: BuildContext) -> SparkColumn:
    from pyspark.sql import functions as F

    from anonymizer import transforms, udfs

    key = ctx.subkey("key", ctx.contract.key_domain(ctx.table, ctx.name))
    if ctx.sql_type.family == "integer":
        bits = ctx.sql_type.integer_bits
        udf = udfs.ints_to_ints(lambda v: transforms.key_integers(key, v, bits), "key_int", ctx.dtype)
        return ctx.masked(udf(F.coalesce(ctx.col, F.lit(0).cast(ctx.dtype))))
    alphabet = ctx.params.alphabet
    return ctx.masked(_str_udf(lambda a: transforms.key_strings(key, a, alphabet), "key_string", ctx)(ctx.col))


def _check_key(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    if x.sql_type.family == "integer":
        return (x.source < 0) != (x.output < 0)  # the permutation keeps the sign
    return F.length(x.source) != F.length(x.output)  # format-preserving: same length


# ------------------------------------------------------------------------------------------------------
# pools (realistic names, addresses, cities)
# ------------------------------------------------------------------------------------------------------


def _build_pool(ctx: BuildContext) -> SparkColumn:
    from pyspark.sql import functions as F

    from anonymizer import transforms, udfs

    strategy = ctx.column.strategy
    unique_by = ctx.params.unique_by
    if unique_by is None:
        key = ctx.subkey("pool", f"{strategy}/{ctx.own_domain}")
        return ctx.masked(_str_udf(lambda a: transforms.pool_from_values(key, strategy, a), "pool", ctx)(ctx.col))
    key_col = ctx.contract.tables[ctx.table].columns[unique_by]
    if key_col.sql_type.family != "integer":
        from anonymizer.engine import EngineError

        raise EngineError(
            f"{ctx.where}: unique_by '{unique_by}' is a {key_col.type} key; unique replacements need an "
            "integer key column. Fix: name an integer key column in unique_by, or drop unique_by"
        )
    domain = ctx.contract.key_domain(ctx.table, unique_by)
    key = ctx.subkey("pool-unique", f"{strategy}/{domain}/{ctx.own_domain}")
    udf = udfs.ints_to_strings(lambda v: transforms.pool_from_keys(key, strategy, v), "pool_unique", ctx.dtype)
    key_expr = F.coalesce(F.col(unique_by).cast("bigint"), F.lit(0).cast("bigint"))
    return ctx.masked(udf(key_expr))


def _check_pool(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    return F.length(F.trim(x.output)) == 0  # a realistic value is never blank


def _pool(name: str, summary: str, chance: float, *hints: ClassifyHint) -> StrategySpec:
    return StrategySpec(
        name,
        _STRING,
        PoolParams,
        summary,
        build=_build_pool,
        output_check=_check_pool,
        output_rule="not blank",
        unchanged_chance=chance,
        classify=hints,
    )


# ------------------------------------------------------------------------------------------------------
# SSN, phone, email
# ------------------------------------------------------------------------------------------------------

EMAIL_FORMAT = r"^[a-z0-9][a-z0-9._+-]*@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"


def _build_ssn(ctx: BuildContext) -> SparkColumn:
    from anonymizer import transforms

    key = ctx.subkey("ssn", ctx.own_domain)
    space = ctx.params.space
    return ctx.masked(_str_udf(lambda a: transforms.ssn(key, a, space), "ssn", ctx)(ctx.col))


def _build_phone(ctx: BuildContext) -> SparkColumn:
    from anonymizer import transforms

    key = ctx.subkey("phone", ctx.own_domain)
    return ctx.masked(_str_udf(lambda a: transforms.phone(key, a), "phone", ctx)(ctx.col))


def _build_email(ctx: BuildContext) -> SparkColumn:
    from anonymizer import transforms

    key = ctx.subkey("email", ctx.own_domain)
    keep_domain = ctx.params.keep_domain
    return ctx.masked(_str_udf(lambda a: transforms.email(key, a, keep_domain=keep_domain), "email", ctx)(ctx.col))


def _check_format(pattern: str) -> OutputCheck:
    def check(x: CheckInput) -> SparkColumn:
        return x.output.isNotNull() & ~x.output.rlike(pattern)

    return check


def _check_ssn(x: CheckInput) -> SparkColumn:
    from anonymizer.transforms import SSN_FORMATS

    return x.output.isNotNull() & ~x.output.rlike(SSN_FORMATS[x.params.space])


def _check_phone(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    # Digits encrypted, everything else kept: the non-digit skeleton and the length are unchanged.
    # (?U): Unicode digits in the source count as digits (the strategy reads them as their values).
    return F.regexp_replace(x.source, r"(?U)\d", "9") != F.regexp_replace(x.output, r"(?U)\d", "9")


# ------------------------------------------------------------------------------------------------------
# date_shift
# ------------------------------------------------------------------------------------------------------


def _max_shift_days(params: Any, settings: Settings) -> int:
    return int(params.max_days or settings.date_shift_max_days)


def _date_fallback(c: SparkColumn, data_type: DataType) -> SparkColumn:
    """Per-row PRF input for a date whose entity is NULL: the date itself (tz-independent integer)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(data_type, T.DateType):
        return F.unix_date(c).cast("bigint")
    if isinstance(data_type, T.TimestampNTZType):
        return F.unix_date(c.cast("date")).cast("bigint")
    return F.unix_micros(c)


def _build_date_shift(ctx: BuildContext) -> SparkColumn:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from anonymizer import transforms, udfs

    params = ctx.params
    domain = ctx.contract.entity_domain(ctx.table, ctx.name)
    entity_col = ctx.contract.tables[ctx.table].columns[params.entity]
    max_days = _max_shift_days(params, ctx.contract.settings)
    string_entity = entity_col.sql_type.family == "string"
    key, null_key = ctx.subkey("date-shift", domain), ctx.subkey("date-shift-null", domain)
    udf = udfs.day_offsets(
        lambda v: transforms.shift_days(key, v, max_days),
        lambda v: transforms.shift_days(null_key, v, max_days),
        string_entity,
    )
    entity = F.col(params.entity)
    entity_in = F.coalesce(entity, F.lit("")) if string_entity else F.coalesce(entity.cast("bigint"), F.lit(0))
    offset = udf(entity_in, entity.isNull(), F.coalesce(_date_fallback(ctx.col, ctx.dtype), F.lit(0).cast("bigint")))
    if isinstance(ctx.dtype, T.DateType):
        return F.date_add(ctx.col, offset)
    # whole days of exact duration: intervals between two timestamps of an entity stay exact
    return ctx.col + F.make_dt_interval(days=offset)


def _check_date_shift(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    days = F.datediff(x.output.cast("date"), x.source.cast("date"))
    return (days < -_max_shift_days(x.params, x.settings)) | (days > -1)


# ------------------------------------------------------------------------------------------------------
# generalize
# ------------------------------------------------------------------------------------------------------


def _fit_generalize(sql_type: SqlType, nullable: bool, params: Any) -> str | None:
    given = [n for n in ("to", "bin_width", "prefix_length") if getattr(params, n) is not None]
    wanted = {"date": "to", "timestamp": "to", "string": "prefix_length"}.get(sql_type.family, "bin_width")
    if given != [wanted]:
        return f"generalize on {sql_type} takes exactly params.{wanted}"
    return None


def _generalize(c: SparkColumn, sql_type: SqlType, params: GeneralizeParams, field: StructField) -> SparkColumn:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fam = sql_type.family
    if fam in ("date", "timestamp"):
        unit = params.to or "month"
        if isinstance(field.dataType, T.DateType):
            return F.trunc(c, unit)
        if isinstance(field.dataType, T.TimestampNTZType):
            return F.trunc(c.cast("date"), unit).cast("timestamp_ntz")
        return F.date_trunc(unit, c)
    if fam == "string":
        return F.substring(c, 1, int(params.prefix_length or 0))
    width = params.bin_width
    assert width is not None
    if fam == "floating":
        return c - F.pmod(c, F.lit(float(width)))
    wide = T.DecimalType(38, 10)
    w = F.lit(Decimal(repr(width))).cast(wide)
    if fam == "integer":
        lo, _ = _integer_bounds(sql_type.base)
        x = c.cast(wide)
        return F.greatest(F.floor(x - F.pmod(x, w)), F.lit(lo).cast("decimal(38,0)"))
    # decimal(p, s): bin in the column's own precision; clamp at the type's minimum
    p, s = sql_type.precision or 10, sql_type.scale or 0
    lowest = -(Decimal(10) ** (p - s) - Decimal(1).scaleb(-s))
    return F.greatest(c - F.pmod(c, w), F.lit(lowest).cast(T.DecimalType(p, s)))


def _build_generalize(ctx: BuildContext) -> SparkColumn:
    # masked: greatest() would turn NULL into the minimum
    return ctx.masked(_generalize(ctx.col, ctx.sql_type, ctx.params, ctx.field))


def _check_generalize(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    if x.sql_type.family == "string":
        return x.output != F.substring(x.source, 1, int(x.params.prefix_length or 0))
    return x.output > x.source  # truncating a date or binning a number never moves it up


# ------------------------------------------------------------------------------------------------------
# hash, null, keep
# ------------------------------------------------------------------------------------------------------


def _fit_hash(sql_type: SqlType, nullable: bool, params: Any) -> str | None:
    if isinstance(params, HashParams) and sql_type.length is not None and params.length > sql_type.length:
        return f"hash length {params.length} exceeds {sql_type}: set params.length <= {sql_type.length}"
    return None


def _build_hash(ctx: BuildContext) -> SparkColumn:
    from pyspark.sql import types as T

    from anonymizer import transforms, udfs

    key = ctx.subkey("hash", ctx.own_domain)
    binary = isinstance(ctx.dtype, T.BinaryType)
    udf = udfs.digests(lambda values: transforms.hmac_sha256(key, values), ctx.params.length, binary, ctx.dtype)
    return ctx.masked(udf(ctx.col))


def _check_hash(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    length = int(x.params.length)
    if x.sql_type.family == "binary":
        return F.length(x.output) != math.ceil(length / 2)
    return x.output.isNotNull() & ~x.output.rlike(f"^[0-9a-f]{{{length}}}$")


def _fit_null(sql_type: SqlType, nullable: bool, params: Any) -> str | None:
    if not nullable:
        return "strategy 'null' needs a nullable column (output nullability must equal the source's)"
    return None


def _build_null(ctx: BuildContext) -> SparkColumn:
    from pyspark.sql import functions as F

    return F.lit(None).cast(ctx.dtype)


def _check_null(x: CheckInput) -> SparkColumn:
    return x.output.isNotNull()


def _build_keep(ctx: BuildContext) -> SparkColumn:
    return ctx.col


def _check_keep(x: CheckInput) -> SparkColumn:
    from pyspark.sql import functions as F

    if x.sql_type.family == "complex":  # maps are not comparable in Spark: compare their JSON
        source, output = F.to_json(F.struct(x.source.alias("v"))), F.to_json(F.struct(x.output.alias("v")))
        return ~source.eqNullSafe(output)
    return ~x.source.eqNullSafe(x.output)


# ------------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------------

_STRING: frozenset[Family] = frozenset({"string"})
_DATES: frozenset[Family] = frozenset({"date", "timestamp"})
_ALL_SCALAR: frozenset[Family] = frozenset(
    {"integer", "decimal", "floating", "string", "date", "timestamp", "boolean", "binary"}
)


def _name_hint(rank: int, classification: Classification, pattern: str, **kw: Any) -> ClassifyHint:
    return ClassifyHint(rank, classification, pattern=pattern, **kw)


STRATEGIES: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (
        StrategySpec(
            "key",
            frozenset({"integer", "string"}),
            KeyParams,
            "keyed format-preserving permutation; same mapping for a PK and every FK to it",
            build=_build_key,
            output_check=_check_key,
            output_rule="integers keep their sign; strings keep their length",
            fit=_fit_key,
            unchanged_chance=1e-4,
            classify=(
                ClassifyHint(
                    0,
                    "key",
                    pattern=r"_id$",
                    families=frozenset({"integer", "string"}),
                    key_metadata=True,
                    reason="name ends in _id",
                ),
            ),
            preserves_joins=True,
            serves_key_columns=True,
        ),
        # Pool sizes (conservative): first names ~700, last ~1,000, cities/organizations ~3,000, addresses ~10,000.
        _pool(
            "person_name",
            "realistic full name from a Faker-made pool",
            1e-4,
            _name_hint(15, "direct_identifier", r"(^|_)(full_)?name$"),
        ),
        _pool(
            "first_name",
            "realistic first name from a Faker-made pool",
            2e-3,
            _name_hint(13, "direct_identifier", r"(^|_)(first_name|given_name|firstname)$"),
        ),
        _pool(
            "last_name",
            "realistic last name from a Faker-made pool",
            1e-3,
            _name_hint(14, "direct_identifier", r"(^|_)(last_name|surname|family_name|lastname)$"),
        ),
        _pool("organization_name", "realistic hospital/company name", 1e-3),
        _pool(
            "address",
            "realistic one-line street address",
            2e-4,
            _name_hint(16, "direct_identifier", r"(^|_)(address|street|addr)($|_|_line)"),
        ),
        _pool("city", "realistic city name", 1e-3, _name_hint(17, "quasi_identifier", r"(^|_)(city|town)$")),
        StrategySpec(
            "ssn",
            _STRING,
            SsnParams,
            "fake SSN in a never-issued space (area 9xx, group 01-49) by default, format kept",
            build=_build_ssn,
            output_check=_check_ssn,
            output_rule="ddd-dd-dddd in the contract's space (never_issued: 9xx-01..49; issuable: a valid SSN)",
            unchanged_chance=1e-6,
            classify=(_name_hint(10, "direct_identifier", r"(^|_)(ssn|social_security|bsn|national_id)($|_)"),),
        ),
        StrategySpec(
            "phone",
            _STRING,
            PhoneParams,
            "fake number: country code kept, valid NANP area code, never the source number",
            build=_build_phone,
            output_check=_check_phone,
            output_rule="the source's non-digit skeleton and length",
            unchanged_chance=1e-4,
            classify=(_name_hint(12, "direct_identifier", r"(^|_)(phone|mobile|fax|tel|telephone)(_number)?($|_)"),),
        ),
        StrategySpec(
            "email",
            _STRING,
            EmailParams,
            "unique pseudonymous local part at a reserved domain",
            build=_build_email,
            output_check=_check_format(EMAIL_FORMAT),
            output_rule="a well-formed e-mail address",
            unchanged_chance=0.0,
            overlap_blocking=True,
            classify=(_name_hint(11, "direct_identifier", r"(^|_)e?mail($|_|_address)"),),
        ),
        StrategySpec(
            "date_shift",
            _DATES,
            DateShiftParams,
            "shift by a keyed per-entity offset in [-max_days, -1]",
            build=_build_date_shift,
            output_check=_check_date_shift,
            output_rule="moved back by 1..max_days days",
            classify=(
                _name_hint(
                    19, "quasi_identifier", r"(^|_)(dob|birth|birth_date|date_of_birth|birthdate)$", entity_param=True
                ),
                ClassifyHint(
                    100,
                    "quasi_identifier",
                    families=_DATES,
                    entity_param=True,
                    reason="dates identify people: shift by entity",
                ),
            ),
            shift_days=_max_shift_days,
        ),
        StrategySpec(
            "generalize",
            frozenset({"date", "timestamp", "integer", "decimal", "floating", "string"}),
            GeneralizeParams,
            "coarsen: date to month/year, number to bin, string to prefix",
            build=_build_generalize,
            output_check=_check_generalize,
            output_rule="never above the source value; strings: the source's prefix",
            fit=_fit_generalize,
            classify=(
                _name_hint(
                    18, "quasi_identifier", r"(^|_)(zip|zipcode|postal_code|postcode)$", params={"prefix_length": 3}
                ),
                ClassifyHint(
                    103,
                    "sensitive",
                    params={"bin_width": 10},
                    reason="unknown non-null number/value: generalized until reviewed",
                ),
            ),
        ),
        StrategySpec(
            "hash",
            frozenset({"string", "binary"}),
            HashParams,
            "HMAC-SHA256, hex, truncatable",
            build=_build_hash,
            output_check=_check_hash,
            output_rule="params.length lower-case hex digits (binary: ceil(length/2) bytes)",
            fit=_fit_hash,
            unchanged_chance=0.0,
            overlap_blocking=True,
            classify=(
                ClassifyHint(
                    102,
                    "sensitive",
                    families=_STRING,
                    params={"length": 16},
                    reason="unknown non-null text: hashed until reviewed",
                ),
            ),
        ),
        StrategySpec(
            "null",
            _ALL_SCALAR | {"complex"},
            NoParams,
            "replace with NULL (column must be nullable)",
            build=_build_null,
            output_check=_check_null,
            output_rule="NULL",
            fit=_fit_null,
            all_null=True,
            classify=(
                ClassifyHint(101, "sensitive", nullable=True, reason="unknown content: withheld (null) until reviewed"),
            ),
            serves_key_columns=True,
        ),
        StrategySpec(
            "keep",
            _ALL_SCALAR | {"complex"},
            KeepParams,
            "copy unchanged (explicit approval)",
            build=_build_keep,
            output_check=_check_keep,
            output_rule="equal to the source value",
            clear_text=True,
        ),
    )
}

POOL_STRATEGIES = frozenset(name for name, spec in STRATEGIES.items() if spec.build is _build_pool)


def key_strategies() -> frozenset[str]:
    """Strategies that keep joins (a PK and its FKs through one permutation): FKs and params.entity /
    params.unique_by must use one of them."""
    return frozenset(name for name, spec in STRATEGIES.items() if spec.preserves_joins)


def classify_hints() -> list[tuple[ClassifyHint, str]]:
    """Every strategy's classification hints with the strategy they suggest, lowest rank first."""
    hints = [(hint, name) for name, spec in STRATEGIES.items() for hint in spec.classify]
    return sorted(hints, key=lambda pair: pair[0].rank)


def fit_problem(strategy: str, sql_type: SqlType, nullable: bool, params: _Params) -> str | None:
    """Why ``strategy`` cannot produce a valid value of ``sql_type`` (None when it fits)."""
    spec = STRATEGIES[strategy]
    if sql_type.family not in spec.families:
        allowed = sorted(n for n, s in STRATEGIES.items() if sql_type.family in s.families)
        return f"strategy '{strategy}' does not fit type {sql_type}; strategies for it: {', '.join(allowed)}"
    return spec.fit(sql_type, nullable, params) if spec.fit is not None else None


# ------------------------------------------------------------------------------------------------------
# content-scan findings -> a suggested strategy (classify reads this; strategy names live only here)
# ------------------------------------------------------------------------------------------------------

# Content-scan pattern -> the strategy that replaces such a value (string columns holding only that pattern).
_PATTERN_STRATEGY = {"ssn": "ssn", "email": "email", "phone": "phone"}


def apply_findings(entry: dict[str, Any], family: str, nullable: bool, findings: dict[str, float]) -> str | None:
    """Let content-scan findings (pattern -> rate) override a name-based guess; returns the reason, if any.

    A column whose values are identifiers is a direct identifier whatever its name says. One pattern with a
    dedicated strategy (a ``contact`` column full of emails) gets that strategy; mixed or free text is hashed
    (non-null text) or withheld (nullable) until reviewed.
    """
    if not findings or entry.get("classification") == "key":
        return None
    seen = ", ".join(f"{p} {r:.1%}" for p, r in sorted(findings.items()))
    only = next(iter(findings)) if len(findings) == 1 else None
    entry.pop("params", None)
    entry["classification"] = "direct_identifier"
    if family == "string" and only in _PATTERN_STRATEGY:
        entry["strategy"] = _PATTERN_STRATEGY[only]
    elif nullable:
        entry["strategy"] = "null"
    elif family == "string":
        entry |= {"strategy": "hash", "params": {"length": 16}}
    else:
        entry |= {"strategy": "generalize", "params": {"bin_width": 10}}
    return f"content scan found {seen} of sampled values"
