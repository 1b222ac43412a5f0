"""Column types as the contract writes them, and how they map to Spark.

The contract uses Databricks SQL type names (``int``, ``varchar(255)``, ``decimal(10,2)``, ...). One parser
serves the contract validator, the gate (which compares live Spark schemas with the contract) and the engine
(which needs the integer range and the VARCHAR bound), so the three can never disagree about what a type is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Family = Literal["integer", "decimal", "floating", "string", "date", "timestamp", "boolean", "binary", "complex"]

# Bit width of the non-negative range of each integer type: INT keys are permuted within [0, 2^31).
INTEGER_BITS: dict[str, int] = {"tinyint": 7, "smallint": 15, "int": 31, "bigint": 63}

_ALIASES = {
    "integer": "int",
    "byte": "tinyint",
    "short": "smallint",
    "long": "bigint",
    "real": "float",
    "bool": "boolean",
    "timestamp_ltz": "timestamp",
    "dec": "decimal",
    "numeric": "decimal",
}
_SIMPLE = {
    "tinyint": "integer",
    "smallint": "integer",
    "int": "integer",
    "bigint": "integer",
    "float": "floating",
    "double": "floating",
    "string": "string",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp",
    "boolean": "boolean",
    "binary": "binary",
}
_PARAM = re.compile(r"^(?P<base>[a-z_]+)\s*\(\s*(?P<a>\d+)\s*(?:,\s*(?P<b>\d+)\s*)?\)$")


class TypeParseError(ValueError):
    """A type string the contract cannot accept."""


@dataclass(frozen=True)
class SqlType:
    """A parsed column type: ``name`` is canonical (``int``, ``varchar(20)``, ``decimal(10,2)``)."""

    name: str
    family: Family
    base: str
    length: int | None = None  # VARCHAR/CHAR bound
    precision: int | None = None
    scale: int | None = None

    @property
    def integer_bits(self) -> int:
        """Bits of the non-negative range of an integer type (INT -> 31)."""
        return INTEGER_BITS[self.base]

    def __str__(self) -> str:
        return self.name


def parse_type(text: str) -> SqlType:
    """Parse a Databricks SQL type name into its canonical form; raise TypeParseError when unknown."""
    raw = " ".join(str(text).strip().lower().split())
    if not raw:
        raise TypeParseError("empty type")
    if raw.startswith(("array<", "map<", "struct<")) and raw.endswith(">"):
        return SqlType(name=raw.replace(" ", ""), family="complex", base=raw.split("<", 1)[0])
    raw = _ALIASES.get(raw, raw)
    if raw in _SIMPLE:
        return SqlType(name=raw, family=_SIMPLE[raw], base=raw)  # type: ignore[arg-type]
    match = _PARAM.match(raw)
    if match:
        base = _ALIASES.get(match["base"], match["base"])
        a = int(match["a"])
        b = match["b"]
        if base in ("varchar", "char") and b is None:
            if not 1 <= a <= 65535:
                raise TypeParseError(f"{base} length {a} outside 1..65535")
            return SqlType(name=f"{base}({a})", family="string", base=base, length=a)
        if base == "decimal":
            scale = int(b) if b is not None else 0
            if not 1 <= a <= 38 or not 0 <= scale <= a:
                raise TypeParseError(f"decimal({a},{scale}) needs 1 <= precision <= 38, 0 <= scale <= precision")
            return SqlType(name=f"decimal({a},{scale})", family="decimal", base="decimal", precision=a, scale=scale)
    if raw == "decimal":
        return SqlType(name="decimal(10,0)", family="decimal", base="decimal", precision=10, scale=0)
    raise TypeParseError(
        f"unknown type '{text}': use a Databricks SQL type such as int, bigint, string, varchar(n), "
        "decimal(p,s), double, date, timestamp, timestamp_ntz, boolean, binary, array<...>"
    )


def spark_type_name(data_type: object, metadata: dict[str, object] | None = None) -> str:
    """Canonical contract type name of a live Spark column (``StructField.dataType`` + metadata).

    Spark stores VARCHAR/CHAR columns as strings with the declared type in the field metadata key
    ``__CHAR_VARCHAR_TYPE_STRING``; reading it back keeps ``varchar(20)`` distinct from ``string``.
    """
    declared = (metadata or {}).get("__CHAR_VARCHAR_TYPE_STRING")
    if isinstance(declared, str):
        return parse_type(declared).name
    simple = getattr(data_type, "simpleString", None)
    text = simple() if callable(simple) else str(data_type)
    return parse_type(str(text)).name


def spark_cast_type(text: str) -> str:
    """The type to ``cast`` a column to before inserting into a table declared with ``text``.

    Spark has no VARCHAR/CHAR data type in DataFrames (only in table schemas, where inserts enforce the
    bound), so those cast to string.
    """
    parsed = parse_type(text)
    return "string" if parsed.family == "string" else parsed.name
