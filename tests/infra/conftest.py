"""Fixtures for the stack tests: synthesizing costs ~1 s after a ~2 s import, so stacks are built once per
session and shared. Every cdktf app writes into pytest's tmp directories (``outdir=``), never into /tmp."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from anonymizer.contract import Contract, load_contract
from infra.settings import CONFIG_DIR, EnvironmentConfig, load_config, parse_config
from infra.wheel import JOBS_DIR, Wheel, build_wheel

os.environ.setdefault("CHECKPOINT_DISABLE", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROD_CONFIG = CONFIG_DIR / "prod.yaml"
DEV_WORKSPACE_ID = 2222222222222222
PROD_WORKSPACE_ID = 1111111111111111
SP = "00000000-0000-4000-8000-000000000001"
DEVELOPERS = "medical-developers"

StackJson = dict[str, Any]


def prod_config_dict() -> dict[str, Any]:
    """The shipped example config as a dict, for tests that derive a variant from it."""
    return copy.deepcopy(yaml.safe_load(PROD_CONFIG.read_text("utf-8")))


def config_from_dict(
    data: dict[str, Any], name: str | None = None, *, allow_local_backend: bool = False
) -> EnvironmentConfig:
    env = name or data["environment"]
    return parse_config(
        yaml.safe_dump(data, sort_keys=False), f"infra/config/{env}.yaml", allow_local_backend=allow_local_backend
    )


def synth_stack(outdir: Path, config: EnvironmentConfig, contract: Contract, wheel: Wheel) -> StackJson:
    """Build one stack in its own Testing app and return the parsed cdk.tf.json."""
    from cdktf import Testing as TfTesting

    from infra.stack import AnonymizerStack

    app = TfTesting.app(outdir=str(outdir))
    stack = AnonymizerStack(app, config, contract, wheel)
    return json.loads(TfTesting.synth(stack))


def resources(stack: StackJson, rtype: str) -> dict[str, dict[str, Any]]:
    """Resources of one type without cdktf's "//" metadata (the metadata stays in the real output)."""
    return {
        name: {k: v for k, v in body.items() if k != "//"}
        for name, body in stack.get("resource", {}).get(rtype, {}).items()
    }


def only(stack: StackJson, rtype: str) -> dict[str, Any]:
    found = resources(stack, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))


def ref(stack: StackJson, rtype: str, path: str, attribute: str) -> str:
    """The interpolation ``${type.name.attribute}`` of the resource at construct ``path`` (below the stack).

    ``Testing.synth`` drops the "//" metadata, so the path is matched on cdktf's logical id, which is the path
    joined with "_" plus an 8-character hash.
    """
    section = stack["data"] if rtype.startswith("data.") else stack["resource"]
    kind = rtype.removeprefix("data.")
    names = [n for n in section[kind] if n.rsplit("_", 1)[0] == path.replace("/", "_")]
    assert len(names) == 1, f"{rtype} at {path}: {names} among {sorted(section[kind])}"
    return f"${{{rtype}.{names[0]}.{attribute}}}"


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    return build_wheel(JOBS_DIR, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def prod_config(contract: Contract) -> EnvironmentConfig:
    return load_config(PROD_CONFIG, contract)


@pytest.fixture(scope="session")
def prod_stack(
    tmp_path_factory: pytest.TempPathFactory, prod_config: EnvironmentConfig, contract: Contract, wheel: Wheel
) -> StackJson:
    return synth_stack(tmp_path_factory.mktemp("prod"), prod_config, contract, wheel)


def variant_config_dict() -> dict[str, Any]:
    """A non-production environment exercising every optional branch of the config."""
    data = prod_config_dict()
    data["environment"] = "preprod"
    data["production"] = False
    data["catalogs"]["create_source_catalog"] = True
    data["catalogs"]["source"]["storage_root"] = "abfss://medical@stprod.dfs.core.windows.net/medical"
    data["principals"]["developers_view_job"] = True
    data["notifications"]["webhook_destination_ids"] = ["0f2c7a3e-webhook-destination"]
    data["job"]["cluster"] = {"node_type_id": "Standard_D4ds_v5", "num_workers": 2, "data_security_mode": "DEDICATED"}
    data["secret"]["source"] = "variable"
    data["secret"]["key_in_state_acknowledged"] = True
    data["backend"] = {
        "type": "azurerm",
        "resource_group_name": "rg-tfstate",
        "storage_account_name": "sttfstate",
        "container_name": "tfstate",
        "key": "anonymizer/preprod.tfstate",
    }
    return data


@pytest.fixture(scope="session")
def variant_stack(tmp_path_factory: pytest.TempPathFactory, contract: Contract, wheel: Wheel) -> StackJson:
    return synth_stack(tmp_path_factory.mktemp("preprod"), config_from_dict(variant_config_dict()), contract, wheel)


@pytest.fixture
def stack_factory(tmp_path: Path, contract: Contract, wheel: Wheel) -> Callable[..., StackJson]:
    """Synthesize an ad-hoc stack: ``stack_factory(config, contract=..., wheel=...)``."""

    def build(
        config: EnvironmentConfig, *, contract_: Contract | None = None, wheel_: Wheel | None = None
    ) -> StackJson:
        return synth_stack(tmp_path / "app", config, contract_ or contract, wheel_ or wheel)

    return build
