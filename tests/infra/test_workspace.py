"""Plan-time guards: the stack refuses another workspace and principals not assigned to production."""

from __future__ import annotations

from tests.infra.conftest import SP, StackJson


def _data(stack: StackJson, kind: str) -> list[dict[str, object]]:
    return [{k: v for k, v in body.items() if k != "//"} for body in stack["data"].get(kind, {}).values()]


def test_current_config_must_be_the_configured_production_host(prod_stack: StackJson) -> None:
    [current] = _data(prod_stack, "databricks_current_config")
    [condition] = current["lifecycle"]["postcondition"]  # type: ignore[index]
    assert condition["condition"] == (
        '${trimsuffix(self.host, "/") == "https://dbc-prod-0000.cloud.databricks.com" && !self.is_account}'
    )
    assert "1111111111111111" in condition["error_message"]


def test_acl_principals_must_be_assigned_to_the_workspace(prod_stack: StackJson, variant_stack: StackJson) -> None:
    """A lookup of a principal not assigned to the workspace fails the plan, before any change."""
    assert _data(prod_stack, "databricks_service_principal") == [{"application_id": SP}]
    assert _data(prod_stack, "databricks_group") == [{"display_name": "data-platform-admins"}]
    assert sorted(g["display_name"] for g in _data(variant_stack, "databricks_group")) == [  # type: ignore[type-var]
        "data-platform-admins",
        "medical-developers",
    ]
