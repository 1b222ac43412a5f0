"""The one pattern every SQL identifier must match before it is spliced into a statement.

Why: values travel to Spark as named parameters (``spark.sql(query, args=...)``), so a quote inside a run id
or a contract value can never change a statement. Identifiers (catalog, schema, table, column names) cannot
be parameters in Spark SQL; they are spliced in, backtick-quoted, only after matching this pattern, which
admits no quote, backtick, dot, space or comment characters at all.

The contract loader, the privacy and release sections, the infra settings and the JSON schema all take their
name patterns from here, so what a contract may name is exactly what a statement may splice.
"""

from __future__ import annotations

import re

NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # one plain name, unanchored (to compose dotted references)
IDENTIFIER = rf"^{NAME}$"  # anchored, for pydantic / JSON schema patterns (no trailing-newline leniency there)
# Python's ``$`` also matches before a final newline: statement builders use fullmatch instead.
SQL_IDENTIFIER = re.compile(NAME)


class UnsafeIdentifier(ValueError):
    """A name that is not a plain SQL identifier reached a statement builder."""


def is_identifier(name: object) -> bool:
    return isinstance(name, str) and SQL_IDENTIFIER.fullmatch(name) is not None


def identifier(name: str, what: str = "name") -> str:
    """``name`` unchanged if it is a plain identifier; raise :class:`UnsafeIdentifier` otherwise."""
    if not is_identifier(name):
        raise UnsafeIdentifier(f"{what} {name!r} is not a plain identifier (letters, digits, underscore)")
    return name


def backticked(name: str, what: str = "column") -> str:
    """A validated identifier in backticks, ready to splice into SQL."""
    return f"`{identifier(name, what)}`"
