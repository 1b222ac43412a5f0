"""Catalogs and the workspace binding: the anonymized copy is isolated and read-only in development."""

from __future__ import annotations

from tests.infra.conftest import DEV_WORKSPACE_ID, PROD_WORKSPACE_ID, StackJson, ref, resources


def test_anonymized_catalog_is_isolated_with_final_and_staging_schemas(prod_stack: StackJson) -> None:
    catalogs = resources(prod_stack, "databricks_catalog")
    assert [c["name"] for c in catalogs.values()] == ["medical_anonymized"]
    [catalog] = catalogs.values()
    assert catalog["isolation_mode"] == "ISOLATED"
    catalog_name = ref(prod_stack, "databricks_catalog", "anonymized/catalog", "name")
    schemas = {s["name"]: s for s in resources(prod_stack, "databricks_schema").values()}
    assert sorted(schemas) == ["visits", "visits_staging"]
    assert all(s["catalog_name"] == catalog_name for s in schemas.values())


def test_staging_holds_the_artifacts_and_reports_volumes(prod_stack: StackJson) -> None:
    staging = ref(prod_stack, "databricks_schema", "anonymized/staging", "name")
    volumes = {v["name"]: v for v in resources(prod_stack, "databricks_volume").values()}
    assert sorted(volumes) == ["artifacts", "reports"]
    for volume in volumes.values():
        assert volume["schema_name"] == staging
        assert volume["volume_type"] == "MANAGED"


def test_source_catalog_is_referenced_not_created(prod_stack: StackJson) -> None:
    assert [c["name"] for c in prod_stack["data"]["databricks_catalog"].values()] == ["medical"]
    assert [s["name"] for s in prod_stack["data"]["databricks_schema"].values()] == ["medical.visits"]


def test_created_source_catalog_is_isolated(variant_stack: StackJson) -> None:
    catalogs = {c["name"]: c for c in resources(variant_stack, "databricks_catalog").values()}
    assert sorted(catalogs) == ["medical", "medical_anonymized"]
    assert catalogs["medical"]["isolation_mode"] == "ISOLATED"
    assert "data" not in variant_stack or "databricks_catalog" not in variant_stack["data"]


def test_binding_is_read_only_to_the_development_workspace_only(prod_stack: StackJson) -> None:
    bindings = resources(prod_stack, "databricks_workspace_binding")
    assert list(bindings.values()) == [
        {
            "securable_type": "catalog",
            "securable_name": ref(prod_stack, "databricks_catalog", "anonymized/catalog", "name"),
            "workspace_id": DEV_WORKSPACE_ID,
            "binding_type": "BINDING_TYPE_READ_ONLY",
        }
    ]


def test_production_workspace_is_never_bound_explicitly(prod_stack: StackJson, variant_stack: StackJson) -> None:
    # ISOLATED auto-binds the creating workspace; an explicit binding breaks destroy (provider #5300).
    for stack in (prod_stack, variant_stack):
        for binding in resources(stack, "databricks_workspace_binding").values():
            assert binding["workspace_id"] != PROD_WORKSPACE_ID


def test_source_catalog_is_never_bound(variant_stack: StackJson) -> None:
    source = ref(variant_stack, "databricks_catalog", "source/catalog", "name")
    anonymized = ref(variant_stack, "databricks_catalog", "anonymized/catalog", "name")
    bound = [b["securable_name"] for b in resources(variant_stack, "databricks_workspace_binding").values()]
    assert bound == [anonymized]
    assert source not in bound
