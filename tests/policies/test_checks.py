"""Every CKV_DBX policy, run by the real checkov over the passing and failing fixture stacks.

The failing stack holds one resource per way of breaking a rule, named after the rule it breaks; each
must fail exactly that rule (a resource that also failed another rule would be a false positive of that
other rule). The passing stack uses the same resource types the shipped stacks use, written the ways cdktf
writes them (references to resources and data sources, computed ids, variables), and must fail nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies import scan
from policies.stack_rules import STACK_RULE_IDS
from tests.policies.conftest import FAIL_STACK, PASS_STACK, UNENCRYPTED_STACK

# CKV_DBX_19 (the state backend) is enforced by scan.py, not checkov: see test_scan.py.
CHECKOV_IDS = [f"CKV_DBX_{n}" for n in (*range(1, 19), 20)]

# policy id -> every resource of the failing stack that must fail it (and no other resource may).
EXPECTED_FAILURES: dict[str, set[str]] = {
    "CKV_DBX_1": {"databricks_catalog.dbx1_open_catalog", "databricks_catalog.dbx1_isolation_unset"},
    "CKV_DBX_2": {
        "databricks_workspace_binding.dbx2_read_write",
        "databricks_workspace_binding.dbx2_binding_type_unset",
    },
    "CKV_DBX_3": {
        "databricks_workspace_binding.dbx3_source_bound",
        "databricks_workspace_binding.dbx3_literal_source",
        "databricks_workspace_binding.dbx3_unresolvable",
        "databricks_catalog_workspace_binding.dbx3_legacy_source",
    },
    "CKV_DBX_4": {
        "databricks_grant.dbx4_additive_on_catalog",
        "databricks_sql_permissions.dbx4_legacy_acl",
        "databricks_grants.dbx4_duplicate_a",
        "databricks_grants.dbx4_duplicate_b",
    },
    "CKV_DBX_5": {"databricks_grants.dbx5_account_users", "databricks_grant.dbx5_users_on_location"},
    "CKV_DBX_6": {
        "databricks_grants.dbx6_developers_on_source_catalog",
        "databricks_grants.dbx6_developers_on_source_schema",
        "databricks_grants.dbx6_developers_unresolved",
        "databricks_grants.dbx6_developers_on_location",
    },
    "CKV_DBX_7": {"databricks_grants.dbx7_developers_modify", "databricks_grants.dbx7_developers_read_volume"},
    "CKV_DBX_8": {"databricks_grants.dbx8_developers_on_staging", "databricks_grants.dbx8_developers_catalog_select"},
    "CKV_DBX_9": {"databricks_grants.dbx9_sp_all_privileges", "databricks_grants.dbx9_stewards_manage"},
    "CKV_DBX_10": {
        "databricks_secret.dbx10_literal",
        "databricks_secret.dbx10_variable_default",
        "databricks_secret.dbx10_mixed_literal",
    },
    "CKV_DBX_11": {"databricks_secret_acl.dbx11_write", "databricks_secret_acl.dbx11_manage"},
    "CKV_DBX_12": {"databricks_secret_acl.dbx12_users"},
    "CKV_DBX_13": {"databricks_job.dbx13_no_run_as", "databricks_job.dbx13_run_as_user"},
    "CKV_DBX_14": {"databricks_job.dbx14_no_failure_notification"},
    "CKV_DBX_15": {"databricks_job.dbx15_concurrency_unset", "databricks_job.dbx15_parallel_runs"},
    "CKV_DBX_16": {
        "databricks_job.dbx16_standard_cluster",
        "databricks_job.dbx16_existing_cluster",
        "databricks_cluster.dbx16_cluster_mode_unset",
    },
    "CKV_DBX_17": {"databricks_job.dbx17_dbfs_init_script", "databricks_cluster.dbx17_cluster_file_on_dbfs"},
    "CKV_DBX_18": {
        "databricks_job.dbx18_dbfs_wheel",
        "databricks_job.dbx18_unversioned_wheel",
        "databricks_job.dbx18_workspace_wheel",
        "databricks_job.dbx18_pypi_library",
        "databricks_job.dbx18_unresolved_wheel",
    },
    "CKV_DBX_20": {
        "databricks_job.dbx20_no_permissions",
        "databricks_job.dbx20_two_permission_sets",
        "databricks_permissions.dbx20_developers_manage_run",
        "databricks_permissions.dbx20_all_users_manage_run",
        "databricks_permissions.dbx20_sp_can_manage",
        "databricks_permissions.dbx20_stewards_can_manage",
        "databricks_permissions.dbx20_group_owner",
        "databricks_permissions.dbx20_user_owner",
        "databricks_permissions.dbx20_unresolved_manager",
        "databricks_permissions.dbx20_unknown_level",
    },
}


def _failed(run: scan.CheckovRun, stack: str, check_id: str | None = None) -> set[str]:
    return {f.address for f in run.failed if f.stack == stack and check_id in (None, f.check_id)}


def test_every_policy_in_the_source_has_fixtures() -> None:
    """A policy added without failing fixtures would never be shown to catch anything."""
    source = "".join(p.read_text("utf-8") for p in (scan.REPO / "policies" / "checks").glob("*.py"))
    declared = set(re.findall(r'check_id = "(CKV_DBX_\d+)"', source))
    assert declared == set(CHECKOV_IDS) == set(EXPECTED_FAILURES)


def test_checkov_loaded_our_checks_without_errors(fixture_run: scan.CheckovRun) -> None:
    assert "Cannot load external check" not in fixture_run.stderr
    assert fixture_run.parsing_errors == []


@pytest.mark.parametrize("check_id", CHECKOV_IDS)
def test_policy_fails_exactly_the_resources_that_break_it(fixture_run: scan.CheckovRun, check_id: str) -> None:
    assert _failed(fixture_run, FAIL_STACK, check_id) == EXPECTED_FAILURES[check_id]


@pytest.mark.parametrize("check_id", CHECKOV_IDS)
def test_policy_passes_the_compliant_stack(fixture_run: scan.CheckovRun, check_id: str) -> None:
    """No failure, and at least one pass: a policy that silently never ran would also have no failure."""
    assert _failed(fixture_run, PASS_STACK, check_id) == set()
    assert any(p.check_id == check_id and p.stack == PASS_STACK for p in fixture_run.passed)


def test_each_failing_resource_breaks_only_its_own_policy(fixture_run: scan.CheckovRun) -> None:
    """Resource names carry the rule they break (dbx7_... -> CKV_DBX_7): any other failure is a false positive."""
    for finding in fixture_run.failed:
        if finding.stack != FAIL_STACK:
            continue
        number = re.match(r"dbx(\d+)_", finding.address.split(".", 1)[1])
        expected = f"CKV_DBX_{number.group(1)}" if number else None
        assert finding.check_id == expected, finding.render()
    assert _failed(fixture_run, UNENCRYPTED_STACK) == set()


def test_findings_name_the_real_resource_and_construct(fixture_run: scan.CheckovRun) -> None:
    """checkov says ``resource.<name>``; the gate must say the type and the cdktf construct path."""
    duplicates = {f.address: f for f in fixture_run.failed if f.check_id == "CKV_DBX_4"}
    assert duplicates["databricks_grants.dbx4_duplicate_a"].construct_path == f"{FAIL_STACK}/dbx4/duplicate_a"
    for finding in fixture_run.failed:
        assert finding.address.startswith("databricks_"), finding.address
        assert finding.construct_path.startswith(f"{finding.stack}/"), finding.render()
        assert Path(finding.file).name == "cdk.tf.json"
        assert finding.details, f"{finding.render()} explains nothing"


def test_details_say_what_is_wrong(fixture_run: scan.CheckovRun) -> None:
    details = {f.address: " ".join(f.details) for f in fixture_run.failed}
    assert "catalog medical is source data" in details["databricks_workspace_binding.dbx3_source_bound"]
    assert "inherited by every schema" in details["databricks_grants.dbx8_developers_catalog_select"]
    assert "MODIFY" in details["databricks_grants.dbx7_developers_modify"]
    assert "SELECT" not in details["databricks_grants.dbx7_developers_modify"].split("allowed")[0]
    assert "merge them" in details["databricks_job.dbx20_two_permission_sets"]
    assert "two_permission_sets_acl_a" in details["databricks_job.dbx20_two_permission_sets"]
    assert "CAN_VIEW at most" in details["databricks_permissions.dbx20_developers_manage_run"]
    assert "a group cannot own a job" in details["databricks_permissions.dbx20_group_owner"]
    assert "(unresolved)" in details["databricks_permissions.dbx20_unresolved_manager"]


def test_job_acl_rule_ignores_permissions_on_other_objects(fixture_run: scan.CheckovRun) -> None:
    """A cluster ACL is not a job ACL: CKV_DBX_20 must neither pass nor fail it (so it cannot hide a job's)."""
    results = [
        f
        for f in (*fixture_run.passed, *fixture_run.failed)
        if f.check_id == "CKV_DBX_20" and f.address == "databricks_permissions.debug_cluster"
    ]
    assert results == []
    passed = {f.address for f in fixture_run.passed if f.check_id == "CKV_DBX_20" and f.stack == PASS_STACK}
    assert {
        "databricks_job.anonymize",
        "databricks_job.report",
        "databricks_permissions.anonymize_job",
        "databricks_permissions.report_job",
    } <= passed


def test_literal_secret_values_never_reach_the_reports(fixture_run: scan.CheckovRun) -> None:
    """The SARIF is uploaded to code scanning: a literal key caught by CKV_DBX_10 must not be copied there."""
    literal = "not-a-real-key-but-a-literal"
    assert literal in (scan.REPO / "tests/policies/fixtures/fail/fail-dev/cdk.tf.json").read_text("utf-8")
    for finding in fixture_run.failed:
        assert literal not in " ".join(finding.details)
    for report in fixture_run.reports_dir.glob("results_*"):
        assert literal not in report.read_text("utf-8"), report.name


def test_readme_documents_every_policy() -> None:
    readme = (scan.REPO / "policies" / "README.md").read_text("utf-8")
    rows = set(re.findall(r"^\| (CKV_DBX_\d+) \|", readme, flags=re.MULTILINE))
    assert rows == {*CHECKOV_IDS, "CKV_DBX_19", *STACK_RULE_IDS}
