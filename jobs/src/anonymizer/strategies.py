"""The contract's strategy vocabulary: which strategy fits which column type, and its parameters.

This table is the single place that decides whether a strategy may be applied to a type. The contract
validator rejects a misfit before any job runs, so the engine never meets a column it would have to pass
through in clear text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from anonymizer.sqltypes import Family, SqlType

Classification = Literal["key", "direct_identifier", "quasi_identifier", "sensitive", "non_sensitive"]


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


@dataclass(frozen=True)
class StrategySpec:
    name: str
    families: frozenset[Family]
    params: type[_Params]
    summary: str


_STRING: frozenset[Family] = frozenset({"string"})
_ALL_SCALAR: frozenset[Family] = frozenset(
    {"integer", "decimal", "floating", "string", "date", "timestamp", "boolean", "binary"}
)

STRATEGIES: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (
        StrategySpec(
            "key",
            frozenset({"integer", "string"}),
            KeyParams,
            "keyed format-preserving permutation; same mapping for a PK and every FK to it",
        ),
        StrategySpec("person_name", _STRING, PoolParams, "realistic full name from a Faker-made pool"),
        StrategySpec("first_name", _STRING, PoolParams, "realistic first name from a Faker-made pool"),
        StrategySpec("last_name", _STRING, PoolParams, "realistic last name from a Faker-made pool"),
        StrategySpec("organization_name", _STRING, PoolParams, "realistic hospital/company name"),
        StrategySpec("address", _STRING, PoolParams, "realistic one-line street address"),
        StrategySpec("city", _STRING, PoolParams, "realistic city name"),
        StrategySpec(
            "ssn", _STRING, SsnParams, "fake SSN in a never-issued space (area 9xx, group 01-49), format kept"
        ),
        StrategySpec("phone", _STRING, PhoneParams, "fake number: country code kept, valid NANP area code"),
        StrategySpec("email", _STRING, EmailParams, "unique pseudonymous local part at a reserved domain"),
        StrategySpec(
            "date_shift",
            frozenset({"date", "timestamp"}),
            DateShiftParams,
            "shift by a keyed per-entity offset in [-max_days, -1]",
        ),
        StrategySpec(
            "generalize",
            frozenset({"date", "timestamp", "integer", "decimal", "floating", "string"}),
            GeneralizeParams,
            "coarsen: date to month/year, number to bin, string to prefix",
        ),
        StrategySpec("hash", frozenset({"string", "binary"}), HashParams, "HMAC-SHA256, hex, truncatable"),
        StrategySpec("null", _ALL_SCALAR | {"complex"}, NoParams, "replace with NULL (column must be nullable)"),
        StrategySpec("keep", _ALL_SCALAR | {"complex"}, KeepParams, "copy unchanged (explicit approval)"),
    )
}

POOL_STRATEGIES = frozenset({"person_name", "first_name", "last_name", "organization_name", "address", "city"})


def fit_problem(strategy: str, sql_type: SqlType, nullable: bool, params: _Params) -> str | None:
    """Why ``strategy`` cannot produce a valid value of ``sql_type`` (None when it fits)."""
    spec = STRATEGIES[strategy]
    if sql_type.family not in spec.families:
        allowed = sorted(n for n, s in STRATEGIES.items() if sql_type.family in s.families)
        return f"strategy '{strategy}' does not fit type {sql_type}; strategies for it: {', '.join(allowed)}"
    if strategy == "null" and not nullable:
        return "strategy 'null' needs a nullable column (output nullability must equal the source's)"
    if strategy == "key" and sql_type.base == "char":
        return "strategy 'key' on char(n) is not supported: Spark pads char values; declare varchar(n)"
    if isinstance(params, KeyParams) and params.alphabet == "hex" and sql_type.family != "string":
        return "alphabet 'hex' applies to string keys only"
    if isinstance(params, HashParams) and sql_type.length is not None and params.length > sql_type.length:
        return f"hash length {params.length} exceeds {sql_type}: set params.length <= {sql_type.length}"
    if isinstance(params, GeneralizeParams):
        given = [n for n in ("to", "bin_width", "prefix_length") if getattr(params, n) is not None]
        wanted = {"date": "to", "timestamp": "to", "string": "prefix_length"}.get(sql_type.family, "bin_width")
        if given != [wanted]:
            return f"generalize on {sql_type} takes exactly params.{wanted}"
    return None
