"""The one pattern every SQL identifier must match before it is spliced into a statement.

Why: values travel to Spark as named parameters (``spark.sql(query, args=...)``), so a quote inside a run id
or a contract value can never change a statement. Identifiers (catalog, schema, table, column names) cannot
be parameters in Spark SQL; they are spliced in, backtick-quoted, only after matching this pattern, which
admits no quote, backtick, dot, space or comment characters at all.

(Helper "registry" may define a similar pattern for contract names; unify on this module.)
"""

from __future__ import annotations

import re

SQL_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnsafeIdentifier(ValueError):
    """A name that is not a plain SQL identifier reached a statement builder."""


def is_identifier(name: str) -> bool:
    return bool(SQL_IDENTIFIER.match(name))


def identifier(name: str, what: str = "name") -> str:
    """``name`` unchanged if it is a plain identifier; raise :class:`UnsafeIdentifier` otherwise."""
    if not isinstance(name, str) or not SQL_IDENTIFIER.match(name):
        raise UnsafeIdentifier(f"{what} {name!r} is not a plain identifier (letters, digits, underscore)")
    return name


def backticked(name: str, what: str = "column") -> str:
    """A validated identifier in backticks, ready to splice into SQL."""
    return f"`{identifier(name, what)}`"
