"""Catalogs and the workspace binding: the anonymized copy is isolated and read-only in development."""

from __future__ import annotations

import pytest

from infra.settings import ConfigError
from tests.infra.conftest import (
    DEV_WORKSPACE_ID,
    PROD_WORKSPACE_ID,
    StackJson,
    config_from_dict,
    prod_config_dict,
    ref,
    resources,
)


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


def test_new_catalog_gets_the_configured_storage_root(prod_stack: StackJson) -> None:
    [anonymized] = [
        c for c in resources(prod_stack, "databricks_catalog").values() if c["name"] == "medical_anonymized"
    ]
    assert anonymized["storage_root"] == "s3://example-anonymized-prod/medical_anonymized"


def test_referenced_source_catalog_must_be_isolated_at_plan_time(prod_stack: StackJson) -> None:
    """The data source's postcondition stops the plan when production is OPEN (visible to development)."""
    [source] = [body for body in prod_stack["data"]["databricks_catalog"].values() if body.get("name") == "medical"]
    [condition] = source["lifecycle"]["postcondition"]
    assert condition["condition"] == '${self.catalog_info[0].isolation_mode == "ISOLATED"}'
    assert "not ISOLATED" in condition["error_message"] and "medical" in condition["error_message"]


@pytest.mark.parametrize(
    ("root", "accepted"),
    [
        ("s3://bucket-name/path/x", True),
        ("abfss://container@account.dfs.core.windows.net/x", True),
        ("gs://bucket_1/x", True),
        ("s3://bucket", True),
        ("https://bucket.s3.amazonaws.com/x", False),
        ("dbfs:/mnt/x", False),
        ("s3://", False),
        ("s3://bucket/with space", False),
        ("/Volumes/a/b/c", False),
    ],
)
def test_storage_root_is_validated(root: str, accepted: bool) -> None:
    data = prod_config_dict()
    data["catalogs"]["anonymized"]["storage_root"] = root
    if accepted:
        assert config_from_dict(data).catalogs.anonymized.storage_root == root
    else:
        with pytest.raises(ConfigError, match=r"catalogs\.anonymized\.storage_root"):
            config_from_dict(data)


def test_storage_root_is_required_for_every_created_catalog() -> None:
    data = prod_config_dict()
    del data["catalogs"]["anonymized"]["storage_root"]
    with pytest.raises(ConfigError, match="storage_root"):
        config_from_dict(data)
    data = prod_config_dict()
    data["catalogs"]["create_source_catalog"] = True
    with pytest.raises(ConfigError, match=r"needs catalogs\.source\.storage_root"):
        config_from_dict(data)
