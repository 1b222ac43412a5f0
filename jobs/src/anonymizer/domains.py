"""Contract rules of the keyed strategies: small FPE domains and ``link_as`` groups.

Small domains: NIST SP 800-38G approves FF1 only on domains of at least 10^6 values. On a ``tinyint`` or a
two-character string a keyed permutation is one shuffle of a few values that anyone holding a handful of
(real, fake) pairs can largely undo, so ``key`` on such a domain is refused unless the contract says why it
is acceptable (``params: {small_domain_ok: "<reason>"}``). The gate and the report list every such column.

``link_as``: a link name shares one mapping between columns, so they must use the same strategy and
parameters (otherwise "linked" columns would silently not match).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anonymizer.sqltypes import SqlType, TypeParseError, parse_type

if TYPE_CHECKING:
    from anonymizer.contract import Contract

MIN_FPE_DOMAIN = 10**6
SMALL_DOMAIN_FIX = (
    "a keyed shuffle of few values is easy to undo from a few known pairs: widen the type or use hash/null"
)
# upper bound of one position's alphabet for string keys (letters of one case): the best case for a shape
_MAX_RADIX = 26


@dataclass(frozen=True)
class SmallDomain:
    table: str
    column: str
    type: str
    size: int  # an upper bound of the number of distinct values the key can take
    reason: str | None  # the contract's acknowledgement, None when not acknowledged

    def render(self) -> str:
        ack = f"acknowledged: {self.reason}" if self.reason else "NOT acknowledged"
        return f"{self.table}.{self.column} ({self.type}, <= {self.size:,} values; {ack})"


def key_domain_size(sql_type: SqlType) -> int | None:
    """Upper bound of a key column's domain size, or None when the type does not bound it (string)."""
    if sql_type.family == "integer":
        return 1 << (sql_type.integer_bits + 1)
    if sql_type.family == "string" and sql_type.length is not None:
        return int(_MAX_RADIX**sql_type.length)
    return None


def small_domain_columns(contract: Contract) -> list[SmallDomain]:
    """Every ``key`` column whose domain is below 10^6 values, with its acknowledgement (if any)."""
    found = []
    for table, name, col in contract.iter_columns():
        if col.strategy != "key":
            continue
        try:
            sql_type = parse_type(col.type)
            params = col.strategy_params()
        except (TypeParseError, ValueError, KeyError):
            continue  # reported by the contract validator (bad type, params or an unknown strategy)
        size = key_domain_size(sql_type)
        if size is not None and size < MIN_FPE_DOMAIN:
            found.append(SmallDomain(table, name, col.type, size, getattr(params, "small_domain_ok", None)))
    return found


def domain_issues(contract: Contract) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Contract issues (path, message, fix): unacknowledged small domains, inconsistent ``link_as`` groups."""
    for small in small_domain_columns(contract):
        if small.reason is None:
            yield (
                ("tables", small.table, "columns", small.column, "strategy"),
                f"strategy 'key' on {small.type} has at most {small.size:,} values, below the 10^6 that NIST "
                "SP 800-38G requires for format-preserving encryption",
                "widen the type, use another strategy (hash, null, generalize), or acknowledge it with "
                'params: {small_domain_ok: "<why this is acceptable>"}',
            )
    links: dict[str, tuple[str, str, str, dict[str, Any]]] = {}
    for table, name, col in contract.iter_columns():
        try:
            params = col.strategy_params()
        except (ValueError, KeyError):  # reported by the contract validator
            continue
        link = getattr(params, "link_as", None)
        if link is None:
            continue
        shape = {
            k: v for k, v in params.model_dump().items() if k not in ("link_as", "unique_by", "length")
        }  # length: a truncation
        first = links.setdefault(link, (table, name, col.strategy, shape))
        if (first[2], first[3]) != (col.strategy, shape):
            yield (
                ("tables", table, "columns", name, "params", "link_as"),
                f"link_as '{link}' joins {first[0]}.{first[1]} ({first[2]} {first[3]}) and {table}.{name} "
                f"({col.strategy} {shape}): linked columns must share strategy and parameters",
                "give both columns the same strategy and params, or use different link names",
            )
