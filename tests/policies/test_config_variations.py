"""Every config the validator accepts synthesizes a stack that checkov scans without crashing, and the gate's
verdict on it is what the config says: clean, or (state-held key without acknowledgement) CKV_DBX_26 only.

Table-driven over the config's branches (backend kinds, key sources, cluster modes, readers of every
principal kind, contract override, optional ACL entries), all synthesized into one output and scanned by one
checkov run, as the gate would see a repository with all of them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.allowlist import allowlist_for
from infra.settings import CONFIG_DIR, EnvironmentConfig, parse_config
from policies import backend, scan, stack_rules
from tests.policies.conftest import synthesize_configs

PROD = yaml.safe_load((CONFIG_DIR / "prod.yaml").read_text("utf-8"))


def _variant(environment: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(yaml.safe_dump(PROD))
    data["environment"] = environment
    data["production"] = False
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


VARIANTS: dict[str, dict[str, Any]] = {
    "prod": PROD,
    "preprod": _variant(
        "preprod",
        catalogs__create_source_catalog=True,
        catalogs__source__storage_root="abfss://medical@stprod.dfs.core.windows.net/medical",
        principals__developers_view_job=True,
        notifications__webhook_destination_ids=["0f2c7a3e-webhook-destination"],
        job__cluster={"node_type_id": "Standard_D4ds_v5", "num_workers": 2, "data_security_mode": "DEDICATED"},
        secret__source="variable",
        secret__key_in_state_acknowledged=True,
        backend={
            "type": "azurerm",
            "resource_group_name": "rg-tfstate",
            "storage_account_name": "sttfstate",
            "container_name": "tfstate",
            "key": "anonymizer/preprod.tfstate",
        },
    ),
    "test": _variant(
        "test",
        catalogs__override_contract=True,
        catalogs__source={"catalog": "medical_test", "schema": "visits"},
        catalogs__anonymized={
            "catalog": "medical_test_anonymized",
            "schema": "visits",
            "staging_schema": "visits_staging",
            "storage_root": "gs://anonymized-test/medical",
        },
        principals__production_readers=[
            {
                "principal": "jane.doe@example.com",
                "schema_privileges": ["USE_SCHEMA", "SELECT"],
                "reason": "incident review",
            },
            {
                "principal": "11111111-2222-4333-8444-555555555555",
                "catalog_privileges": ["USE_CATALOG", "BROWSE"],
                "reason": "catalog explorer",
            },
        ],
        job__cluster={"node_type_id": "i3.xlarge", "num_workers": 0, "spark_version": "17.3.x-scala2.13"},
        secret__source="generated",
        secret__key_in_state_acknowledged=True,
        secret__generation=3,
        backend={"type": "remote", "organization": "example", "workspace": "anonymizer-test"},
    ),
    "dr": _variant(
        "dr",
        production=True,
        principals__production_readers=[],
        principals__job_admins_group="dr-admins",
        backend={
            "type": "s3",
            "bucket": "state-dr",
            "key": "anonymizer/dr.tfstate",
            "region": "eu-west-1",
            "kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/abc",
            "dynamodb_table": "locks",
            "use_lockfile": False,
        },
    ),
    "masked": _variant(
        "masked",
        column_masks={"mask_functions": {"string": "medical.governance.mask_string"}},
    ),
    # Accepted by the validator (the config is well-formed) but refused by the gate: the key is in state.
    "sandbox": _variant("sandbox", secret__source="generated"),
}
EXPECTED_VIOLATIONS = {"sandbox": {"CKV_DBX_26"}}


def _config(name: str, data: dict[str, Any]) -> EnvironmentConfig:
    return parse_config(yaml.safe_dump(data, sort_keys=False), f"infra/config/{name}.yaml")


@pytest.fixture(scope="module")
def variations(tmp_path_factory: pytest.TempPathFactory, synth_inputs: Any) -> tuple[list[EnvironmentConfig], Path]:
    configs = [_config(name, data) for name, data in VARIANTS.items()]
    outdir = tmp_path_factory.mktemp("variations")
    synthesize_configs(outdir, synth_inputs, configs)
    return configs, outdir


def test_checkov_scans_every_accepted_config_without_crashing(
    variations: tuple[list[EnvironmentConfig], Path], tmp_path: Path
) -> None:
    configs, outdir = variations
    run = scan.run_checkov(outdir / "stacks", tmp_path / "reports")  # ScanError if a check crashed
    assert run.parsing_errors == []
    assert "Failed to run check" not in run.stderr
    assert run.failed == [], "\n".join(f.render() for f in run.failed)
    scanned = {f.stack for f in run.passed}
    assert scanned == {c.stack_name for c in configs}
    literal_rule = {f.stack for f in run.passed if f.check_id == "CKV_DBX_10"}
    assert literal_rule == {c.stack_name for c in configs if c.secret.key_in_state}


def _stack(variations: tuple[list[EnvironmentConfig], Path], name: str) -> tuple[EnvironmentConfig, dict[str, Any]]:
    configs, outdir = variations
    [config] = [c for c in configs if c.environment == name]
    return config, json.loads((outdir / "stacks" / config.stack_name / "cdk.tf.json").read_text("utf-8"))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_allowlist_and_backend_verdicts_match_the_config(
    variations: tuple[list[EnvironmentConfig], Path], synth_inputs: Any, name: str
) -> None:
    config, document = _stack(variations, name)
    violations = stack_rules.evaluate(document, allowlist_for(config, synth_inputs.contract), config.stack_name)
    assert {v.check_id for v in violations} == EXPECTED_VIOLATIONS.get(name, set()), violations
    assert backend.backend_violations(document) == []


def test_column_masks_cover_the_pii_columns_except_for_the_sp_and_readers(
    variations: tuple[list[EnvironmentConfig], Path],
) -> None:
    """One mask per PII strategy on the source schema, for account users except the SP and declared readers."""
    config, document = _stack(variations, "masked")
    policies = {p["name"]: p for p in document["resource"]["databricks_policy_info"].values()}
    assert sorted(policies) == [f"anonymizer_mask_{s}" for s in ("address", "person_name", "phone", "ssn")]
    ssn = policies["anonymizer_mask_ssn"]
    assert ssn["on_securable_type"] == "SCHEMA" and ssn["on_securable_fullname"] == "medical.visits"
    assert ssn["policy_type"] == "POLICY_TYPE_COLUMN_MASK" and ssn["for_securable_type"] == "TABLE"
    assert ssn["to_principals"] == ["account users"]
    assert ssn["except_principals"] == sorted([config.principals.job_service_principal, "medical-data-stewards"])
    assert ssn["match_columns"] == [
        {
            "alias": "masked",
            "condition": "(has_tag_value('anonymization_class', 'direct_identifier')) AND "
            "has_tag_value('anonymization_strategy', 'ssn')",
        }
    ]
    assert ssn["column_mask"] == {"function_name": "medical.governance.mask_string", "on_column": "masked"}


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda p: p["except_principals"].append("medical-analysts"), "medical-analysts read production unmasked"),
        (lambda p: p["column_mask"].update(function_name="medical.governance.identity"), "mask function"),
        (lambda p: p.update(to_principals=["medical-developers"]), "to_principals"),
    ],
    ids=["extra exception", "identity function", "narrowed to one group"],
)
def test_weakened_column_masks_fail_the_allowlist(
    variations: tuple[list[EnvironmentConfig], Path], synth_inputs: Any, edit: Any, fragment: str
) -> None:
    config, document = _stack(variations, "masked")
    allow = allowlist_for(config, synth_inputs.contract)
    assert stack_rules.evaluate(document, allow, config.stack_name) == []
    weakened = copy.deepcopy(document)
    edit(next(iter(weakened["resource"]["databricks_policy_info"].values())))
    violations = stack_rules.evaluate(weakened, allow, config.stack_name)
    assert any(v.check_id == "CKV_DBX_21" and fragment in v.message for v in violations), violations
