"""The contract's tables as DDL inputs: columns and foreign keys in the shape the runtime creates them.

Why a module of its own: the job (staging and final tables), the journal and the local dev tools (generator,
loader) all create tables from the contract, and they must agree exactly on types and NOT NULL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anonymizer.contract import Contract
from anonymizer.runtime import LiveColumn, Runtime

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def contract_columns(contract: Contract, table: str) -> list[LiveColumn]:
    """The table's columns as the contract declares them (name, canonical type, nullability)."""
    return [LiveColumn(name, col.type, col.nullable) for name, col in contract.tables[table].columns.items()]


def read_source(runtime: Runtime, contract: Contract, table: str, versions: dict[str, int] | None) -> DataFrame:
    """A source table at the run's pinned Delta version (``versions``, from its gate), else its current one.

    Why pinned: the source is written by other jobs. Without a pin, a commit between two steps would be
    anonymized without having passed the gate (a new NULL key, an orphan, a changed column) and the checks
    would compare staging with rows it was never made from.
    """
    return runtime.read(contract.source_name(table), (versions or {}).get(table))


def foreign_keys(contract: Contract, table: str, side: str = "source") -> list[tuple[list[str], str, list[str]]]:
    """(columns, parent UC name, parent columns) per foreign key, on the source or the target side."""
    name = contract.source_name if side == "source" else contract.target_name
    return [
        (fk.columns, name(fk.references.table), fk.references.columns) for fk in contract.tables[table].foreign_keys
    ]
