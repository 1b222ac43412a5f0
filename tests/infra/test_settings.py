"""Config validation: a wrong environment file must fail before synth, naming the file, line, field and fix."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

from anonymizer.contract import Contract
from infra.settings import ConfigError, load_config, parse_config
from policies.checks._naming import is_admins, is_anonymized_catalog, is_developers, is_staging_schema
from tests.infra.conftest import PROD_CONFIG, config_from_dict, prod_config_dict

REPO = Path(__file__).resolve().parents[2]


def _errors(data: dict, name: str = "prod", **kwargs: bool) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, name, **kwargs)
    return info.value


def test_example_config_is_valid_production_with_remote_backend(contract: Contract) -> None:
    config = load_config(PROD_CONFIG, contract)
    assert config.production is True
    assert config.stack_name == "anonymizer-prod"
    assert config.backend.type == "s3"
    assert config.schedule_paused is False
    assert config.job.cluster.spark_version == "17.3.x-scala2.13"


def test_missing_field_names_file_line_field_and_fix() -> None:
    data = prod_config_dict()
    del data["principals"]["job_service_principal"]
    err = _errors(data)
    assert err.file == "infra/config/prod.yaml"
    [issue] = err.issues
    assert issue.field == "principals.job_service_principal"
    assert issue.line is not None
    assert "add 'job_service_principal'" in issue.fix and "application id" in issue.fix
    assert str(err).startswith("invalid environment config infra/config/prod.yaml (1 problem(s))")


def test_service_principal_must_be_an_application_id() -> None:
    data = prod_config_dict()
    data["principals"]["job_service_principal"] = "anonymizer-sp"
    [issue] = _errors(data).issues
    assert issue.field == "principals.job_service_principal"
    assert "application id (a UUID)" in issue.fix


@pytest.mark.parametrize("everyone", ["account users", "users", "Account Users"])
def test_everyone_groups_are_refused_as_principals(everyone: str) -> None:
    data = prod_config_dict()
    data["principals"]["developers_group"] = everyone
    data["principals"]["production_readers"][0]["principal"] = everyone
    fields = {i.field for i in _errors(data).issues}
    assert fields == {"principals.developers_group", "principals.production_readers.0.principal"}


def test_unknown_privilege_is_reported_with_the_valid_spelling() -> None:
    data = prod_config_dict()
    data["principals"]["production_readers"][0]["schema_privileges"] = ["USE SCHEMA", "SELECT"]
    [issue] = _errors(data).issues
    assert issue.field == "principals.production_readers.0.schema_privileges"
    assert "'USE SCHEMA'" in issue.message and "USE_SCHEMA" in issue.message


def test_local_backend_needs_the_test_flag() -> None:
    data = prod_config_dict()
    data["backend"] = {"type": "local"}
    [issue] = _errors(data).issues
    assert issue.field == "backend.type"
    assert "s3, azurerm or remote" in issue.fix
    assert config_from_dict(data, allow_local_backend=True).backend.type == "local"


def test_s3_backend_must_encrypt() -> None:
    data = prod_config_dict()
    data["backend"]["encrypt"] = False
    [issue] = _errors(data).issues
    assert issue.field == "backend.encrypt"
    assert "state holds the anonymization key" in issue.fix


def test_backend_field_errors_drop_the_union_tag() -> None:
    data = prod_config_dict()
    del data["backend"]["bucket"]
    [issue] = _errors(data).issues
    assert issue.field == "backend.bucket"


def test_cluster_needs_exactly_one_size() -> None:
    data = prod_config_dict()
    data["job"]["cluster"]["num_workers"] = 2
    [issue] = _errors(data).issues
    assert issue.field == "job.cluster"
    assert "exactly one of num_workers or autoscale" in issue.message


def test_cron_must_be_quartz() -> None:
    data = prod_config_dict()
    data["job"]["schedule"]["quartz_cron_expression"] = "0 2 * * *"
    [issue] = _errors(data).issues
    assert issue.field == "job.schedule.quartz_cron_expression"
    assert "Quartz needs 6 or 7" in issue.message


def test_development_workspace_must_differ_from_production() -> None:
    data = prod_config_dict()
    data["databricks"]["development_workspace_id"] = data["databricks"]["production_workspace_id"]
    [issue] = _errors(data).issues
    assert issue.field == "databricks"
    assert "development_workspace_id equals production_workspace_id" in issue.message


def test_environment_must_match_file_name() -> None:
    [issue] = _errors(prod_config_dict(), "staging").issues
    assert issue.field == "environment"
    assert issue.fix == "set environment: staging or rename the file"


def test_unknown_field_is_refused() -> None:
    data = prod_config_dict()
    data["job"]["max_concurrent_runs"] = 3
    [issue] = _errors(data).issues
    assert issue.field == "job.max_concurrent_runs"
    assert "unknown field" in issue.fix


def test_every_problem_is_reported_at_once() -> None:
    data = prod_config_dict()
    data["principals"]["job_service_principal"] = "x"
    data["notifications"]["emails"] = []
    data["secret"]["scope"] = "has space"
    fields = {i.field for i in _errors(data).issues}
    assert fields == {"principals.job_service_principal", "notifications.emails", "secret.scope"}


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("environment: prod\nproduction: [true\n", "infra/config/prod.yaml")
    [issue] = info.value.issues
    assert issue.line is not None and "not valid YAML" in issue.message


def test_catalog_names_must_match_the_contract_unless_overridden(tmp_path: Path, contract: Contract) -> None:
    data = prod_config_dict()
    data["catalogs"]["anonymized"]["catalog"] = "medical_v2_anonymized"
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path, contract)
    [issue] = info.value.issues
    assert issue.field == "catalogs.anonymized.catalog"
    assert "'medical_v2_anonymized' differs from the data contract's 'medical_anonymized'" in issue.message
    assert "override_contract: true" in issue.fix

    data["catalogs"]["override_contract"] = True
    path.write_text(yaml.safe_dump(data))
    assert load_config(path, contract).catalogs.anonymized.catalog == "medical_v2_anonymized"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.yaml")


# --- the policies' naming contract (policies/checks/_naming.py) ------------------------------------------------
# The CKV_DBX policies recognise roles by name only. A config name they would misread makes them pass silently
# (a developers group called "eng-team" is never checked by CKV_DBX_6..8), so the loader refuses it, naming the
# field, the rule and the fix.


@pytest.mark.parametrize(
    ("section", "value", "field", "rule", "fix"),
    [
        (
            ("principals", "developers_group"),
            "eng-team",
            "principals.developers_group",
            "contains 'developer'",
            "e.g. medical-developers",
        ),
        (
            ("principals", "developers_group"),
            "medical-developer-admins",
            "principals.developers_group",
            "ends in 'admins'",
            "does not end in 'admins'",
        ),
        (
            ("principals", "job_admins_group"),
            "data-platform-team",
            "principals.job_admins_group",
            "ends in 'admins'",
            "e.g. data-platform-admins",
        ),
        (
            ("principals", "job_admins_group"),
            "developer-admins",
            "principals.job_admins_group",
            "does not contain 'developer'",
            "e.g. data-platform-admins",
        ),
        (
            ("catalogs", "anonymized", "catalog"),
            "medical_copy",
            "catalogs.anonymized.catalog",
            "ending in '_anonymized'",
            "e.g. medical_anonymized",
        ),
        (
            ("catalogs", "source", "catalog"),
            "legacy_anonymized",
            "catalogs.source.catalog",
            "ends in '_anonymized'",
            "without the '_anonymized' suffix",
        ),
        (
            ("catalogs", "anonymized", "staging_schema"),
            "visits_tmp",
            "catalogs.anonymized.staging_schema",
            "ends in '_staging'",
            "e.g. visits_staging",
        ),
        (
            ("catalogs", "anonymized", "schema"),
            "visits_final_staging",
            "catalogs.anonymized.schema",
            "ends in '_staging'",
            "without the '_staging' suffix",
        ),
    ],
)
def test_names_the_policies_would_misread_are_refused(
    section: tuple[str, ...], value: str, field: str, rule: str, fix: str
) -> None:
    data = prod_config_dict()
    data["catalogs"]["override_contract"] = True  # only the naming rule may refuse these names
    parent = data
    for key in section[:-1]:
        parent = parent[key]
    parent[section[-1]] = value
    [issue] = _errors(data).issues
    assert issue.field == field
    assert issue.line is not None
    assert f"'{value}'" in issue.message and rule in issue.message and "policies" in issue.message
    assert fix in issue.fix


def test_everyone_is_reported_as_everyone_not_as_a_naming_problem() -> None:
    data = prod_config_dict()
    data["principals"]["job_admins_group"] = "users"
    [issue] = _errors(data).issues
    assert issue.field == "principals.job_admins_group" and "contains every user" in issue.message


@pytest.mark.parametrize(
    "name",
    [
        "medical-developers",
        "Developers",
        "eng-team",
        "devs",
        "dev-team",
        "medical-developer-admins",
        "data-developers-ro",
        "admins",
    ],
)
def test_config_and_policies_agree_on_the_developers_group(name: str) -> None:
    """The loader accepts a developers group exactly when CKV_DBX_6..8 would recognise it (and not as admins)."""
    data = prod_config_dict()
    data["principals"]["developers_group"] = name
    accepted = True
    try:
        config_from_dict(data)
    except ConfigError:
        accepted = False
    assert accepted == (is_developers(name) and not is_admins(name))


@pytest.mark.parametrize(
    ("catalog", "staging"),
    [
        ("medical_anonymized", "visits_staging"),
        ("medical_anon", "visits_staging"),
        ("medical_anonymized", "visits_stage"),
        ("medical_anonymized_v2", "staging_visits"),
    ],
)
def test_config_and_policies_agree_on_catalog_and_staging_names(catalog: str, staging: str) -> None:
    data = prod_config_dict()
    data["catalogs"]["override_contract"] = True
    data["catalogs"]["anonymized"]["catalog"] = catalog
    data["catalogs"]["anonymized"]["staging_schema"] = staging
    try:
        config_from_dict(data)
        refused: set[str] = set()
    except ConfigError as exc:
        refused = {i.field for i in exc.issues}
    assert ("catalogs.anonymized.catalog" not in refused) == is_anonymized_catalog(catalog)
    assert ("catalogs.anonymized.staging_schema" not in refused) == is_staging_schema(staging)


def test_naming_rules_stay_importable_without_checkov() -> None:
    """infra/settings.py imports policies/checks/_naming.py; checkov lives in another venv, so that module (and
    the packages above it) may import the standard library only."""
    checked = [
        REPO / "policies" / "__init__.py",
        REPO / "policies" / "checks" / "__init__.py",
        REPO / "policies" / "checks" / "_naming.py",
    ]
    for path in checked:
        tree = ast.parse(path.read_text("utf-8"))
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        }
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}, (path, imported)
