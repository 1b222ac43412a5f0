"""Config validation: a wrong environment file must fail before synth, naming the file, line, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anonymizer.contract import Contract
from infra.settings import ConfigError, load_config, parse_config
from tests.infra.conftest import PROD_CONFIG, config_from_dict, prod_config_dict


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
    data["catalogs"]["anonymized"]["catalog"] = "medical_anon_v2"
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path, contract)
    [issue] = info.value.issues
    assert issue.field == "catalogs.anonymized.catalog"
    assert "'medical_anon_v2' differs from the data contract's 'medical_anonymized'" in issue.message
    assert "override_contract: true" in issue.fix

    data["catalogs"]["override_contract"] = True
    path.write_text(yaml.safe_dump(data))
    assert load_config(path, contract).catalogs.anonymized.catalog == "medical_anon_v2"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.yaml")
