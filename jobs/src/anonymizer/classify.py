"""Suggested classifications for columns the contract does not know yet.

When the gate meets a new or changed column it stops, and the fix is a pull request to the contract. To make
that pull request quick to write and easy to review, we guess a classification from the column's name, type
and key metadata, and mark every guess for review. A guess never runs: only the reviewed contract does.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from anonymizer.runtime import KeyMetadata, LiveColumn
from anonymizer.sqltypes import parse_type

# (name pattern, strategy, classification, params) — first match wins, checked against the column name.
_RULES: list[tuple[str, str, str, dict[str, Any]]] = [
    (r"(^|_)(ssn|social_security|bsn|national_id)($|_)", "ssn", "direct_identifier", {}),
    (r"(^|_)e?mail($|_|_address)", "email", "direct_identifier", {}),
    (r"(^|_)(phone|mobile|fax|tel|telephone)(_number)?($|_)", "phone", "direct_identifier", {}),
    (r"(^|_)(first_name|given_name|firstname)$", "first_name", "direct_identifier", {}),
    (r"(^|_)(last_name|surname|family_name|lastname)$", "last_name", "direct_identifier", {}),
    (r"(^|_)(full_)?name$", "person_name", "direct_identifier", {}),
    (r"(^|_)(address|street|addr)($|_|_line)", "address", "direct_identifier", {}),
    (r"(^|_)(city|town)$", "city", "quasi_identifier", {}),
    (r"(^|_)(zip|zipcode|postal_code|postcode)$", "generalize", "quasi_identifier", {"prefix_length": 3}),
    (r"(^|_)(dob|birth|birth_date|date_of_birth|birthdate)$", "date_shift", "quasi_identifier", {}),
]


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


def suggest(
    table: str,
    column: LiveColumn,
    keys: KeyMetadata,
    key_columns: list[str],
    findings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A contract entry for ``column`` with a guessed strategy; ``review`` says why it was guessed.

    ``findings`` (content-scan pattern -> rate, from ``anonymizer scan``) outrank the name-based guess.
    """
    name = column.name.lower()
    family = parse_type(column.type).family
    fk_cols = {c for cols, _, _ in keys.foreign_keys for c in cols}
    entry: dict[str, Any] = {"type": column.type, "nullable": column.nullable}
    if name in keys.primary_key or name in fk_cols or (name.endswith("_id") and family in ("integer", "string")):
        entry |= {"classification": "key", "strategy": "key"}
        reason = "primary/foreign key metadata" if name in keys.primary_key or name in fk_cols else "name ends in _id"
    else:
        for pattern, strategy, classification, params in _RULES:
            if re.search(pattern, name):
                entry |= {"classification": classification, "strategy": strategy}
                if strategy == "date_shift" and key_columns:
                    params = {"entity": key_columns[0]}
                if params:
                    entry["params"] = dict(params)
                reason = f"name matches /{pattern}/"
                break
        else:
            if family == "date" or family == "timestamp":
                entry |= {"classification": "quasi_identifier", "strategy": "date_shift"}
                if key_columns:
                    entry["params"] = {"entity": key_columns[0]}
                reason = "dates identify people: shift by entity"
            elif column.nullable:
                entry |= {"classification": "sensitive", "strategy": "null"}
                reason = "unknown content: withheld (null) until reviewed"
            elif family == "string":
                entry |= {"classification": "sensitive", "strategy": "hash", "params": {"length": 16}}
                reason = "unknown non-null text: hashed until reviewed"
            else:
                entry |= {"classification": "sensitive", "strategy": "generalize", "params": {"bin_width": 10}}
                reason = "unknown non-null number/value: generalized until reviewed"
    reason = apply_findings(entry, family, column.nullable, findings or {}) or reason
    entry["review"] = f"SUGGESTED for {table}.{column.name} ({reason}); review before merging"
    return entry


def patch_yaml(suggestions: dict[str, dict[str, dict[str, Any]]], removed: dict[str, list[str]]) -> str:
    """Render the suggested contract change (YAML the reviewer pastes into the contract's tables)."""
    doc: dict[str, Any] = {"tables": {}}
    for table, cols in suggestions.items():
        doc["tables"].setdefault(table, {"columns": {}})["columns"].update(
            {c: {k: v for k, v in e.items() if k != "review"} for c, e in cols.items()}
        )
    header = ["# Suggested contract patch (generated by the anonymizer gate). REVIEW EVERY LINE:"]
    for cols in suggestions.values():
        header += [f"#   {e['review']}" for e in cols.values()]
    for table, names in removed.items():
        header += [f"#   REMOVE from tables.{table}.columns: {c} (no longer in the source)" for c in names]
    return "\n".join(header) + "\n" + yaml.safe_dump(doc, sort_keys=False)
