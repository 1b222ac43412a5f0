"""Column tags and the contract-hash tag, derived from the data contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from anonymizer.contract import Contract, load_contract, packaged_contract_path
from anonymizer.tags import CLASSIFICATION_TAG, CONTRACT_HASH_TAG, STRATEGY_TAG, column_tags
from infra.settings import EnvironmentConfig
from tests.infra.conftest import StackJson, resources


def _column_tags(stack: StackJson) -> dict[tuple[str, str], str]:
    return {
        (t["entity_name"], t["tag_key"]): t["tag_value"]
        for t in resources(stack, "databricks_entity_tag_assignment").values()
        if t["entity_type"] == "columns"
    }


def test_every_contract_column_has_both_tags_with_values(prod_stack: StackJson, contract: Contract) -> None:
    expected = {
        (f"medical.visits.{table}.{name}", key): value
        for table, name, column in contract.iter_columns()
        for key, value in column_tags(column).items()
    }
    assert _column_tags(prod_stack) == expected
    assert {k for _, k in expected} == {CLASSIFICATION_TAG, STRATEGY_TAG}
    assert len(expected) == 2 * sum(1 for _ in contract.iter_columns())
    assert all(value for value in expected.values())


def test_contract_hash_tag_on_the_source_schema(prod_stack: StackJson) -> None:
    schema_tags = [
        t for t in resources(prod_stack, "databricks_entity_tag_assignment").values() if t["entity_type"] == "schemas"
    ]
    assert schema_tags == [
        {
            "entity_type": "schemas",
            "entity_name": "medical.visits",
            "tag_key": CONTRACT_HASH_TAG,
            "tag_value": load_contract().digest(),
        }
    ]


def test_tags_wait_for_a_created_source_catalog(variant_stack: StackJson) -> None:
    for tag in resources(variant_stack, "databricks_entity_tag_assignment").values():
        assert sorted(tag["depends_on"]) == sorted(
            f"databricks_{kind}.{name}"
            for kind in ("catalog", "schema")
            for name in variant_stack["resource"][f"databricks_{kind}"]
            if name.startswith("source_")
        )


def test_contract_change_adds_exactly_the_new_column_tags(
    tmp_path: Path, prod_stack: StackJson, prod_config: EnvironmentConfig, stack_factory: Callable[..., StackJson]
) -> None:
    data = yaml.safe_load(packaged_contract_path().read_text("utf-8"))
    data["tables"]["dim_patients"]["columns"]["email"] = {
        "type": "string",
        "nullable": True,
        "classification": "direct_identifier",
        "strategy": "email",
    }
    changed_path = tmp_path / "medical_visits.yaml"
    changed_path.write_text(yaml.safe_dump(data, sort_keys=False))
    changed = load_contract(changed_path)
    stack = stack_factory(prod_config, contract_=changed)

    before = resources(prod_stack, "databricks_entity_tag_assignment")
    after = resources(stack, "databricks_entity_tag_assignment")
    added = {name: after[name] for name in after.keys() - before.keys()}
    assert sorted((t["entity_name"], t["tag_key"], t["tag_value"]) for t in added.values()) == [
        ("medical.visits.dim_patients.email", CLASSIFICATION_TAG, "direct_identifier"),
        ("medical.visits.dim_patients.email", STRATEGY_TAG, "email"),
    ]
    assert not before.keys() - after.keys()
    # Stable ids: only the contract-hash value changes among the existing assignments.
    changed_names = [n for n in before if before[n] != after[n]]
    assert [(before[n]["tag_key"], after[n]["tag_value"]) for n in changed_names] == [
        (CONTRACT_HASH_TAG, changed.digest())
    ]
