"""Unity Catalog tag keys shared by the stacks (which set them) and the job's gate (which reads them).

One definition on both sides: the gate compares the live tags in ``information_schema`` with the tags the
contract implies, so a renamed key here would otherwise make every run fail closed.
"""

from __future__ import annotations

from anonymizer.contract import Column, Contract

CLASSIFICATION_TAG = "anonymization_class"
STRATEGY_TAG = "anonymization_strategy"
CONTRACT_HASH_TAG = "anonymization_contract_sha256"


def column_tags(column: Column) -> dict[str, str]:
    """The tags a classified column carries in the source catalog (always with a value)."""
    return {CLASSIFICATION_TAG: column.classification, STRATEGY_TAG: column.strategy}


def expected_column_tags(contract: Contract) -> dict[tuple[str, str], dict[str, str]]:
    """(table, column) -> tags, for every column of the contract."""
    return {(t, c): column_tags(col) for t, c, col in contract.iter_columns()}
