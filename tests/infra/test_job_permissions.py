"""The job's ACL: admins manage, developers view only when the config says so, nobody else; it decides who can
run code as the production SP."""

from __future__ import annotations

from collections.abc import Callable

from tests.infra.conftest import DEVELOPERS, SP, StackJson, config_from_dict, only, prod_config_dict, resources


def _job_ref(stack: StackJson) -> str:
    [name] = resources(stack, "databricks_job")
    return f"${{databricks_job.{name}.id}}"


def test_job_acl_is_exactly_admins_manage(prod_stack: StackJson) -> None:
    """The whole resource, not a subset: an extra entry (CAN_MANAGE_RUN for developers, the SP, IS_OWNER for
    someone) is precisely the bug this resource exists to prevent. Developers are not in the production ACL
    by default: it would need them assigned to the production workspace."""
    assert only(prod_stack, "databricks_permissions") == {
        "job_id": _job_ref(prod_stack),
        "access_control": [{"group_name": "data-platform-admins", "permission_level": "CAN_MANAGE"}],
    }


def test_developers_view_the_job_only_when_configured(variant_stack: StackJson) -> None:
    assert only(variant_stack, "databricks_permissions")["access_control"] == [
        {"group_name": "data-platform-admins", "permission_level": "CAN_MANAGE"},
        {"group_name": DEVELOPERS, "permission_level": "CAN_VIEW"},
    ]


def test_no_owner_and_no_service_principal_entry(prod_stack: StackJson) -> None:
    """run_as needs no job ACL, and a group cannot own a job: the deploying identity stays the implicit owner."""
    entries = only(prod_stack, "databricks_permissions")["access_control"]
    assert all(e["permission_level"] != "IS_OWNER" for e in entries)
    assert all(SP not in e.values() for e in entries)
    assert only(prod_stack, "databricks_job")["run_as"] == {"service_principal_name": SP}


def test_admins_group_comes_from_the_config(stack_factory: Callable[..., StackJson]) -> None:
    data = prod_config_dict()
    data["principals"]["job_admins_group"] = "medical-job-admins"
    data["principals"]["developers_group"] = "medical-analytics-developers"
    data["principals"]["developers_view_job"] = True
    stack = stack_factory(config_from_dict(data))
    assert only(stack, "databricks_permissions")["access_control"] == [
        {"group_name": "medical-job-admins", "permission_level": "CAN_MANAGE"},
        {"group_name": "medical-analytics-developers", "permission_level": "CAN_VIEW"},
    ]


def test_admins_group_defaults_to_data_platform_admins() -> None:
    data = prod_config_dict()
    del data["principals"]["job_admins_group"]
    assert config_from_dict(data).principals.job_admins_group == "data-platform-admins"


def test_every_environment_gets_the_acl(variant_stack: StackJson) -> None:
    """Non-production stacks read production too (the variant creates the source catalog): same ACL."""
    acl = only(variant_stack, "databricks_permissions")
    assert acl["job_id"] == _job_ref(variant_stack)
    assert {e["permission_level"] for e in acl["access_control"]} == {"CAN_MANAGE", "CAN_VIEW"}
