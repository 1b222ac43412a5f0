"""The anonymization key: generated (or supplied) outside the JSON, readable by the job's SP only."""

from __future__ import annotations

import base64
import re
import secrets
import string
from collections.abc import Callable

import pytest

from anonymizer.keys import MIN_KEY_BYTES, Keyring, decode_key_text
from infra.constructs.secret import KEY_LENGTH, SUPPLIED_KEY_PATTERN
from infra.settings import ConfigError
from tests.infra.conftest import SP, StackJson, config_from_dict, only, prod_config_dict, ref, resources


def test_key_init_declares_the_scope_and_acl_only(prod_stack: StackJson) -> None:
    """Default: no value anywhere in the JSON or the state; `anonymizer key init` writes it."""
    assert only(prod_stack, "databricks_secret_scope") == {"name": "anonymizer"}
    assert "databricks_secret" not in prod_stack["resource"]
    assert "random_password" not in prod_stack["resource"]
    assert "random" not in prod_stack.get("provider", {})
    assert "variable" not in prod_stack


def test_generated_key_when_acknowledged(stack_factory: Callable[..., StackJson]) -> None:
    data = prod_config_dict()
    data["secret"].update(source="generated", key_in_state_acknowledged=True)
    stack = stack_factory(config_from_dict(data))
    assert only(stack, "random_password") == {
        "length": 64,
        "special": False,
        "min_lower": 8,
        "min_upper": 8,
        "min_numeric": 8,
        "keepers": {"generation": "1"},
    }
    assert only(stack, "databricks_secret") == {
        "scope": ref(stack, "databricks_secret_scope", "key/scope", "name"),
        "key": "anonymization-key",
        "string_value": ref(stack, "random_password", "key/value", "result"),
    }


def test_acknowledgement_without_a_state_held_key_is_refused() -> None:
    data = prod_config_dict()
    data["secret"]["key_in_state_acknowledged"] = True
    with pytest.raises(ConfigError, match="key_in_state_acknowledged is true but source is key-init"):
        config_from_dict(data)


def test_secret_acl_grants_read_to_the_service_principal_only(prod_stack: StackJson) -> None:
    acls = resources(prod_stack, "databricks_secret_acl")
    assert list(acls.values()) == [
        {
            "scope": ref(prod_stack, "databricks_secret_scope", "key/scope", "name"),
            "principal": SP,
            "permission": "READ",
        }
    ]


def test_supplied_key_is_a_sensitive_variable_without_default(variant_stack: StackJson) -> None:
    assert "random_password" not in variant_stack.get("resource", {})
    variable = variant_stack["variable"]["anonymization_key"]
    assert variable["sensitive"] is True
    assert variable["nullable"] is False
    assert "default" not in variable
    assert variable["validation"][0]["condition"] == (
        '${can(regex("^([0-9a-fA-F]{64,}|[A-Za-z0-9+/_-]{43,}={0,2})$", var.anonymization_key))}'
    )
    assert only(variant_stack, "databricks_secret")["string_value"] == "${var.anonymization_key}"


def test_no_secret_value_is_a_literal(prod_stack: StackJson, variant_stack: StackJson) -> None:
    for stack in (prod_stack, variant_stack):
        for secret in resources(stack, "databricks_secret").values():
            value = secret["string_value"]
            assert value.startswith("${") and value.endswith("}")


def test_generated_key_format_is_accepted_by_the_job() -> None:
    # What random_password(length=64, special=false, min_* = 8) produces: the job must decode it to >= 32 bytes.
    alphabet = string.ascii_letters + string.digits
    for _ in range(20):
        key = "".join(secrets.choice(alphabet) for _ in range(KEY_LENGTH))
        raw = decode_key_text(key)
        assert len(raw) >= MIN_KEY_BYTES
        Keyring.from_text(key)


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        (secrets.token_hex(32), True),
        (base64.b64encode(secrets.token_bytes(32)).decode(), True),
        (base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="), True),
        (secrets.token_hex(16), False),
        (base64.b64encode(secrets.token_bytes(24)).decode(), False),
        ("correct horse battery staple correct horse battery", False),
    ],
)
def test_variable_validation_matches_what_the_job_accepts(key: str, accepted: bool) -> None:
    assert bool(re.fullmatch(SUPPLIED_KEY_PATTERN, key)) is accepted
    if accepted:
        assert len(decode_key_text(key)) >= MIN_KEY_BYTES
