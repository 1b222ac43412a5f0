"""The contract's tables as DDL inputs: columns and foreign keys in the shape the runtime creates them.

Why a module of its own: the job (staging and final tables), the journal and the local dev tools (generator,
loader) all create tables from the contract, and they must agree exactly on types and NOT NULL.
"""

from __future__ import annotations

from anonymizer.contract import Contract
from anonymizer.runtime import LiveColumn


def contract_columns(contract: Contract, table: str) -> list[LiveColumn]:
    """The table's columns as the contract declares them (name, canonical type, nullability)."""
    return [LiveColumn(name, col.type, col.nullable) for name, col in contract.tables[table].columns.items()]


def foreign_keys(contract: Contract, table: str, side: str = "source") -> list[tuple[list[str], str, list[str]]]:
    """(columns, parent UC name, parent columns) per foreign key, on the source or the target side."""
    name = contract.source_name if side == "source" else contract.target_name
    return [
        (fk.columns, name(fk.references.table), fk.references.columns) for fk in contract.tables[table].foreign_keys
    ]
