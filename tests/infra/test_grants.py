"""Authoritative grants: exactly these principals with exactly these privileges, nothing else survives."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import DEVELOPERS, SP, StackJson, ref, resources


def _grants_on(stack: StackJson, field: str, securable: str) -> dict[str, list[str]]:
    matching = [g for g in resources(stack, "databricks_grants").values() if g.get(field) == securable]
    assert len(matching) == 1, f"expected one databricks_grants on {field} {securable}, found {len(matching)}"
    return {g["principal"]: g["privileges"] for g in matching[0]["grant"]}


def test_grants_are_authoritative_one_resource_per_securable(prod_stack: StackJson) -> None:
    # databricks_grant (singular) would be additive and leave hand-made grants in place.
    assert "databricks_grant" not in prod_stack["resource"]
    grants = resources(prod_stack, "databricks_grants")
    securables = [tuple((k, v) for k, v in g.items() if k != "grant") for g in grants.values()]
    assert len(securables) == len(set(securables)) == 7


def test_source_catalog_grants_are_the_sp_and_declared_readers(prod_stack: StackJson) -> None:
    catalog = ref(prod_stack, "data.databricks_catalog", "source/catalog", "name")
    assert _grants_on(prod_stack, "catalog", catalog) == {
        SP: ["USE_CATALOG"],
        "medical-data-stewards": ["USE_CATALOG"],
    }


def test_source_schema_grants_let_the_sp_read_only(prod_stack: StackJson) -> None:
    schema = ref(prod_stack, "data.databricks_schema", "source/schema", "name")
    assert _grants_on(prod_stack, "schema", schema) == {
        SP: ["SELECT", "USE_SCHEMA"],
        "medical-data-stewards": ["SELECT", "USE_SCHEMA"],
    }


def test_anonymized_catalog_grants(prod_stack: StackJson) -> None:
    catalog = ref(prod_stack, "databricks_catalog", "anonymized/catalog", "name")
    assert _grants_on(prod_stack, "catalog", catalog) == {SP: ["USE_CATALOG"], DEVELOPERS: ["USE_CATALOG"]}


def test_final_schema_sp_writes_developers_read(prod_stack: StackJson) -> None:
    final = ref(prod_stack, "databricks_schema", "anonymized/final", "id")
    assert _grants_on(prod_stack, "schema", final) == {
        SP: ["CREATE_TABLE", "MODIFY", "SELECT", "USE_SCHEMA"],
        DEVELOPERS: ["SELECT", "USE_SCHEMA"],
    }


def test_developers_have_nothing_on_staging(prod_stack: StackJson) -> None:
    staging = ref(prod_stack, "databricks_schema", "anonymized/staging", "id")
    assert _grants_on(prod_stack, "schema", staging) == {SP: ["CREATE_TABLE", "MODIFY", "SELECT", "USE_SCHEMA"]}
    for volume in ("anonymized/artifacts_volume", "anonymized/reports_volume"):
        grants = _grants_on(prod_stack, "volume", ref(prod_stack, "databricks_volume", volume, "id"))
        assert DEVELOPERS not in grants


def test_volume_grants_are_minimal(prod_stack: StackJson) -> None:
    artifacts = ref(prod_stack, "databricks_volume", "anonymized/artifacts_volume", "id")
    reports = ref(prod_stack, "databricks_volume", "anonymized/reports_volume", "id")
    assert _grants_on(prod_stack, "volume", artifacts) == {SP: ["READ_VOLUME"]}
    assert _grants_on(prod_stack, "volume", reports) == {SP: ["READ_VOLUME", "WRITE_VOLUME"]}


def test_account_users_appear_in_no_grant(prod_stack: StackJson, variant_stack: StackJson) -> None:
    for stack in (prod_stack, variant_stack):
        principals: list[Any] = [
            g["principal"] for body in resources(stack, "databricks_grants").values() for g in body["grant"]
        ]
        assert principals
        assert not {p.lower() for p in principals} & {"account users", "users", "all users"}
        assert "account users" not in json.dumps(stack).lower()


def test_no_privilege_beyond_the_declared_sets(prod_stack: StackJson) -> None:
    privileges = {
        p
        for body in resources(prod_stack, "databricks_grants").values()
        for g in body["grant"]
        for p in g["privileges"]
    }
    assert privileges == {
        "USE_CATALOG",
        "USE_SCHEMA",
        "SELECT",
        "MODIFY",
        "CREATE_TABLE",
        "READ_VOLUME",
        "WRITE_VOLUME",
    }
