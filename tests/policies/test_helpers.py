"""The stdlib helpers the checks and the gate stand on, tested without checkov (milliseconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.backend import backend_violations
from policies.checks._hcl import blocks, unwrap
from policies.checks._naming import is_admins, is_all_users, is_anonymized_catalog, is_developers
from policies.checks._stack import StackDocument, reference_target
from policies.findings import locate

STACK = StackDocument(
    {
        "resource": {
            "databricks_catalog": {"anon": {"name": "medical_anonymized"}},
            "databricks_schema": {
                "staging": {"catalog_name": "${databricks_catalog.anon.name}", "name": "visits_staging"}
            },
            "databricks_volume": {
                "artifacts": {
                    "catalog_name": "${databricks_catalog.anon.name}",
                    "schema_name": "${databricks_schema.staging.name}",
                    "name": "artifacts",
                }
            },
            "databricks_file": {"wheel": {"path": "${databricks_volume.artifacts.volume_path}/a-1.0-py3-none-any.whl"}},
            "databricks_grants": {
                "loop_a": {"catalog": "${databricks_grants.loop_b.catalog}"},
                "loop_b": {"catalog": "${databricks_grants.loop_a.catalog}"},
            },
        },
        "data": {"databricks_schema": {"source": {"name": "medical.visits"}}},
        "variable": {"with_default": {"default": "medical"}, "without_default": {"type": "string"}},
    }
)


def test_unwrap_undoes_checkov_list_wrapping() -> None:
    """checkov's shape for {"isolation_mode": "ISOLATED", "grant": [{"principal": .., "privileges": [..]}]}."""
    conf = {
        "isolation_mode": ["ISOLATED"],
        "max_concurrent_runs": [1],
        "grant": [{"principal": ["dev"], "privileges": [["USE_SCHEMA", "SELECT"]], "__startline__": 3}],
        "run_as": [{"service_principal_name": ["sp"]}],
        "//": {"metadata": {"path": "stack/x"}},
        "__startline__": 1,
        "__endline__": 9,
    }
    assert unwrap(conf) == {
        "isolation_mode": "ISOLATED",
        "max_concurrent_runs": 1,
        "grant": [{"principal": "dev", "privileges": ["USE_SCHEMA", "SELECT"]}],
        "run_as": [{"service_principal_name": "sp"}],
    }


def test_blocks_reads_cdktf_dicts_and_checkov_lists_alike() -> None:
    assert blocks({"run_as": {"user_name": "u"}}, "run_as") == [{"user_name": "u"}]
    assert blocks({"run_as": [{"user_name": "u"}]}, "run_as") == [{"user_name": "u"}]
    assert blocks({}, "run_as") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("medical", "medical"),
        (2222222222222222, "2222222222222222"),
        ("${databricks_catalog.anon.name}", "medical_anonymized"),
        ("${databricks_catalog.anon.id}", "medical_anonymized"),
        ("${databricks_schema.staging.id}", "medical_anonymized.visits_staging"),
        ("${databricks_volume.artifacts.id}", "medical_anonymized.visits_staging.artifacts"),
        (
            "${databricks_file.wheel.path}",
            "/Volumes/medical_anonymized/visits_staging/artifacts/a-1.0-py3-none-any.whl",
        ),
        ("${data.databricks_schema.source.name}", "medical.visits"),
        ("${var.with_default}.visits", "medical.visits"),
        ("${var.without_default}", None),
        ("${databricks_catalog.missing.name}", None),
        ("${upper(databricks_catalog.anon.name)}", None),
        ("${databricks_catalog.anon.name}.${var.without_default}", None),
        ("${databricks_grants.loop_a.catalog}", None),  # a reference cycle ends, unresolved
        (None, None),
    ],
)
def test_resolve_follows_the_references_cdktf_writes(value: object, expected: str | None) -> None:
    assert STACK.resolve(value) == expected


def test_securable_is_the_first_securable_argument_resolved() -> None:
    securable = STACK.securable({"schema": "${databricks_schema.staging.id}", "grant": []})
    assert securable is not None
    assert (securable.kind, securable.catalog, securable.schema) == ("schema", "medical_anonymized", "visits_staging")
    assert STACK.securable({"grant": []}) is None


def test_reference_target_accepts_only_a_whole_reference() -> None:
    assert reference_target("${random_password.key.result}") == ("resource", "random_password", "key", "result")
    assert reference_target("${var.key}") == ("var", "", "key", "")
    assert reference_target("salt-${random_password.key.result}") is None
    assert reference_target('${base64encode("literal")}') is None


def test_naming_contract() -> None:
    assert is_anonymized_catalog("medical_anonymized") and not is_anonymized_catalog("medical")
    assert not is_anonymized_catalog("medical_anonymized_backup")
    assert is_developers("medical-developers") and not is_developers("medical-data-stewards")
    assert is_admins("metastore-admins") and not is_admins("admins-readers")
    assert is_all_users(" Account Users ") and not is_all_users("medical-users")


@pytest.mark.parametrize(
    ("terraform", "problem"),
    [
        ({"backend": {"s3": {"bucket": "b", "key": "k", "region": "r", "encrypt": True}}}, None),
        ({"backend": {"azurerm": {"container_name": "tfstate"}}}, None),
        ({"cloud": {"organization": "o", "workspaces": {"name": "w"}}}, None),
        ({"backend": {"s3": {"bucket": "b", "key": "k", "region": "r"}}}, "encrypt = true"),
        ({"backend": {"local": {"path": "/abs/terraform.tfstate"}}}, "on the machine running Terraform"),
        ({"required_providers": {}}, "no backend is declared"),
    ],
)
def test_backend_rule(terraform: dict[str, object], problem: str | None) -> None:
    problems = backend_violations({"terraform": terraform})
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


def test_locate_tells_same_named_resources_of_different_types_apart(tmp_path: Path) -> None:
    """checkov reports both as ``resource.medical``; only the line range tells them apart."""
    document = {
        "resource": {
            "databricks_catalog": {"medical": {"//": {"metadata": {"path": "s/catalog"}}, "name": "medical"}},
            "databricks_grants": {"medical": {"//": {"metadata": {"path": "s/grants"}}, "catalog": "medical"}},
        }
    }
    path = tmp_path / "cdk.tf.json"
    text = json.dumps(document, indent=2)
    path.write_text(text, "utf-8")
    grants_line = text.splitlines().index('    "databricks_grants": {') + 2
    assert locate(str(path), "resource.medical", (grants_line, grants_line + 8)) == (
        "databricks_grants.medical",
        "s/grants",
    )
    assert locate(str(path), "resource.medical", (4, 11)) == ("databricks_catalog.medical", "s/catalog")
