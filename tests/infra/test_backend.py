"""State backends: remote and encrypted in every shipped config; local only behind the test flag."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from infra.settings import config_files
from tests.infra.conftest import StackJson, config_from_dict, prod_config_dict


def test_example_config_uses_an_encrypted_s3_backend(prod_stack: StackJson) -> None:
    assert prod_stack["terraform"]["backend"] == {
        "s3": {
            "bucket": "example-terraform-state-prod",
            "key": "anonymizer/prod.tfstate",
            "region": "eu-central-1",
            "encrypt": True,
            "use_lockfile": True,
        }
    }


def test_every_shipped_config_is_remote() -> None:
    files = config_files()
    assert [f.name for f in files] == ["prod.yaml"]
    for path in files:
        assert config_from_dict(yaml.safe_load(path.read_text()), path.stem).backend.type != "local"


def test_azurerm_backend(variant_stack: StackJson) -> None:
    assert variant_stack["terraform"]["backend"] == {
        "azurerm": {
            "resource_group_name": "rg-tfstate",
            "storage_account_name": "sttfstate",
            "container_name": "tfstate",
            "key": "anonymizer/preprod.tfstate",
            "use_azuread_auth": True,
        }
    }


def test_remote_backend(stack_factory: Callable[..., StackJson]) -> None:
    data = prod_config_dict()
    data["backend"] = {"type": "remote", "organization": "acme", "workspace": "anonymizer-prod"}
    stack = stack_factory(config_from_dict(data))
    assert stack["terraform"]["backend"] == {
        "remote": {
            "hostname": "app.terraform.io",
            "organization": "acme",
            "workspaces": {"name": "anonymizer-prod"},
        }
    }


def test_local_backend_only_with_the_test_flag(stack_factory: Callable[..., StackJson]) -> None:
    data = prod_config_dict()
    data["backend"] = {"type": "local", "path": "test.tfstate"}
    stack = stack_factory(config_from_dict(data, allow_local_backend=True))
    assert stack["terraform"]["backend"] == {"local": {"path": "test.tfstate"}}
