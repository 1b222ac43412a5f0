"""The gate as CI runs it (``python -m policies.scan``): exit status, printed findings, reports, real stacks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from policies import scan
from policies.findings import parse_report
from policies.stack_rules import STACK_RULE_IDS
from tests.policies.conftest import FAIL_STACK, FIXTURES, UNENCRYPTED_STACK, CliRun, Synthesized, run_cli
from tests.policies.test_checks import CHECKOV_IDS, EXPECTED_FAILURES


def test_failing_stacks_exit_1_and_print_id_address_and_construct(failing_scan: CliRun) -> None:
    assert failing_scan.returncode == scan.EXIT_FAILED, failing_scan.stderr
    lines = [line for line in failing_scan.stdout.splitlines() if line.startswith("FAILED ")]
    # + CKV_DBX_19 on both failing stacks, + CKV_DBX_21 on both: no environment config produces them, so the
    # allowlist rules fail each as a whole (fail closed) instead of guessing what they may grant.
    expected = sum(len(v) for v in EXPECTED_FAILURES.values()) + 2 + 2
    assert len(lines) == expected
    assert any(
        line.startswith(
            f"FAILED CKV_DBX_6 databricks_grants.dbx6_developers_on_source_schema [{FAIL_STACK}/dbx6/source_schema] "
        )
        for line in lines
    )


def test_backend_rule_fails_local_and_unencrypted_state(failing_scan: CliRun) -> None:
    backend_lines = [line for line in failing_scan.stdout.splitlines() if line.startswith("FAILED CKV_DBX_19 ")]
    assert len(backend_lines) == 2
    assert any(f"[{FAIL_STACK} (stack backend)]" in line for line in backend_lines)
    assert any(f"[{UNENCRYPTED_STACK} (stack backend)]" in line for line in backend_lines)
    assert "encrypt = true" in failing_scan.stdout


def test_sarif_names_real_resources_and_includes_the_backend_rule(failing_scan: CliRun) -> None:
    sarif = json.loads((failing_scan.reports / "results_sarif.sarif").read_text("utf-8"))
    run = sarif["runs"][0]
    rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert "CKV_DBX_19" in rule_ids and rule_ids <= {*CHECKOV_IDS, "CKV_DBX_19", *STACK_RULE_IDS}
    assert "CKV_DBX_21" in rule_ids
    results = Counter(result["ruleId"] for result in run["results"])
    assert results["CKV_DBX_19"] == 2
    assert results["CKV_DBX_3"] == len(EXPECTED_FAILURES["CKV_DBX_3"])
    messages = [result["message"]["text"] for result in run["results"]]
    assert any("databricks_workspace_binding.dbx3_source_bound [fail-dev/dbx3/source]" in m for m in messages)
    for result in run["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert not Path(uri).is_absolute(), "code scanning needs repo-relative locations"


def test_junit_has_a_backend_suite_and_consistent_totals(failing_scan: CliRun) -> None:
    root = ET.parse(failing_scan.reports / "results_junitxml.xml").getroot()  # noqa: S314  # our own report
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    backend = suites["CKV_DBX_19 state backend"]
    assert backend.get("failures") == "2"
    assert suites["CKV_DBX_21 allowlist"].get("failures") == "2"
    assert {f"{check_id} allowlist" for check_id in STACK_RULE_IDS} <= set(suites)
    assert int(root.get("failures", "0")) == sum(int(s.get("failures", "0")) for s in suites.values())


def test_nothing_to_scan_is_an_error_not_a_pass(tmp_path: Path) -> None:
    result = run_cli("--skip-synth", outdir=tmp_path / "empty", reports=tmp_path / "reports")
    assert result.returncode == scan.EXIT_ERROR
    assert "nothing to scan" in result.stderr


CRASHING_CHECK = """
from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class Crash(BaseResourceCheck):
    def __init__(self):
        super().__init__(name="crash", id="CKV_DBX_99", categories=[CheckCategories.IAM],
                         supported_resources=["databricks_catalog"])

    def scan_resource_conf(self, conf):
        raise RuntimeError("a bug in a policy")


check = Crash()
"""


def test_a_crashing_check_stops_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov logs a check's exception and still exits 0: without the gate's guard, a policy with a bug
    would pass every stack."""
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "__init__.py").write_text("")
    (checks / "crash.py").write_text(CRASHING_CHECK)
    monkeypatch.setattr(scan, "CHECKS_DIR", checks)
    with pytest.raises(scan.ScanError, match="CKV_DBX_99"):
        scan.run_checkov(FIXTURES / "pass", tmp_path / "reports")


def test_shipped_stacks_pass_every_policy(real_scan: CliRun) -> None:
    """Zero false positives on what would deploy, and every rule that applies to it really ran."""
    assert real_scan.returncode == scan.EXIT_OK, real_scan.stdout + real_scan.stderr
    assert list((real_scan.outdir / "stacks").glob("*/cdk.tf.json")), "the gate did not synthesize"
    payload = json.loads((real_scan.reports / "results_json.json").read_text("utf-8"))
    assert parse_report(payload, "failed") == []
    ran = {finding.check_id for finding in parse_report(payload, "passed")}
    # The shipped stacks declare catalogs, bindings, grants, a secret scope and ACL and a job: every rule but
    # CKV_DBX_10 applies. There is no databricks_secret (key-init: the key never enters the JSON or the
    # state); CKV_DBX_10 runs on the state-held variants in test_config_variations.py.
    assert ran == set(CHECKOV_IDS) - {"CKV_DBX_10"}
    assert "0 failed" in real_scan.stdout


def test_iterated_resources_fail_closed_instead_of_crashing_checkov(tmp_path: Path, shipped: Synthesized) -> None:
    """checkov 3.3.30 raised inside its own dynamic-block expansion on Terraform JSON (the gate then stopped
    only because it detects crashed checks). Now every check runs and fails such a resource with a reason."""
    document = json.loads(json.dumps(shipped.document))
    grants = document["resource"]["databricks_grants"]
    [catalog] = [n for n, c in grants.items() if c["//"]["metadata"]["path"].endswith("source_grants/catalog")]
    grants[catalog]["dynamic"] = {
        "grant": {"for_each": "${var.readers}", "content": {"principal": "${grant.value}", "privileges": ["SELECT"]}}
    }
    [acl] = document["resource"]["databricks_permissions"].values()
    acl["dynamic"] = {
        "access_control": {
            "for_each": "${var.readers}",
            "content": {"group_name": "${access_control.value}", "permission_level": "CAN_MANAGE"},
        }
    }
    document["resource"]["databricks_secret_acl"]["each"] = {
        "for_each": "${toset(var.readers)}",
        "scope": "anonymizer",
        "principal": "${each.value}",
        "permission": "READ",
    }
    document["variable"] = {"readers": {"type": "list(string)"}}
    stack = tmp_path / "stacks" / "iterated"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text(json.dumps(document, indent=2), "utf-8")
    run = scan.run_checkov(tmp_path / "stacks", tmp_path / "reports")  # raises ScanError on a crashed check
    assert "Failed to run check" not in run.stderr
    failed = {(f.check_id, f.address.split(".")[0]) for f in run.failed}
    assert ("CKV_DBX_6", "databricks_grants") in failed  # every grants rule fails the iterated grants
    assert ("CKV_DBX_20", "databricks_permissions") in failed
    assert ("CKV_DBX_12", "databricks_secret_acl") in failed
    assert all(any("known only at apply" in d for d in f.details) for f in run.failed)
