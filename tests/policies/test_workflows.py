"""The GitHub workflows: valid per actionlint, and shaped so the gate cannot be bypassed.

actionlint catches what YAML cannot (expression typos, unknown contexts, secrets in ``if:``, shell errors
when shellcheck is installed); the structural tests pin the properties a reviewer relies on: every pull
request runs the tests and the policy gate, the SARIF path is the one the gate writes, production applies
only behind a GitHub environment, and each job has only the token permissions it uses.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies import scan

WORKFLOWS = scan.REPO / ".github" / "workflows"
ALLOWED_WRITE_SCOPES = {"security-events", "id-token", "pull-requests"}


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text("utf-8"))
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def _runs(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for _, step in _steps(workflow))


@pytest.fixture(scope="module")
def pr() -> dict[str, Any]:
    return _load("pull-request.yml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _load("deploy.yml")


def test_actionlint_accepts_every_workflow() -> None:
    configured = os.environ.get("ANONYMIZER_ACTIONLINT")
    binary = Path(configured) if configured else scan.REPO / ".tools" / "bin" / "actionlint"
    if not binary.is_file():
        pytest.fail(f"actionlint not found at {binary}; run `make tools`")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.y*ml"))
    assert len(files) >= 2
    proc = subprocess.run([str(binary), "-no-color", *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pull_requests_run_tests_synth_and_the_gate_in_order(pr: dict[str, Any]) -> None:
    assert "pull_request" in pr["on"] and "pull_request_target" not in pr["on"]
    commands = [step["run"].strip() for _, step in _steps(pr) if step.get("run", "").startswith("make ")]
    assert commands == ["make test", "make synth", "make scan"]


def test_sarif_upload_reads_the_file_the_gate_writes(pr: dict[str, Any]) -> None:
    uploads = [
        step for _, step in _steps(pr) if str(step.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
    ]
    assert len(uploads) == 1
    expected = (scan.DEFAULT_REPORTS / "results_sarif.sarif").relative_to(scan.REPO)
    assert Path(uploads[0]["with"]["sarif_file"]) == expected
    assert "always()" in uploads[0]["if"], "a failing scan is exactly when the SARIF matters"


def test_plan_needs_credentials_and_says_so_when_missing(pr: dict[str, Any]) -> None:
    plan = pr["jobs"]["plan"]
    assert plan["needs"] == "test-and-scan"
    steps = plan["steps"]
    detect = steps[0]
    assert "::notice" in detect["run"] and "GITHUB_STEP_SUMMARY" in detect["run"]
    gated = steps[1:]
    assert all("steps.creds.outputs.mode != 'none'" in s.get("if", "") for s in gated)
    assert any('terraform -chdir="$dir" plan' in s.get("run", "") for s in gated)
    comment = [s for s in gated if str(s.get("uses", "")).startswith("actions/github-script@")]
    assert len(comment) == 1 and "createComment" in comment[0]["with"]["script"]


def test_pull_request_plan_is_read_only_in_its_own_environment(pr: dict[str, Any]) -> None:
    """The PR's code runs in this job: it gets a read-only OIDC identity and no secret value at all."""
    plan = pr["jobs"]["plan"]
    assert plan["environment"]["name"] == "pull-request-plan"
    text = yaml.safe_dump(plan)
    assert "secrets." not in text, "no secret may reach the job that runs a pull request's code"
    assert "DATABRICKS_AUTH_TYPE: github-oidc" in text
    assert "-lock=false" in text
    run = next(s["run"] for s in plan["steps"] if 'terraform -chdir="$dir" plan' in s.get("run", ""))
    assert '"databricks_secret" in json.load' in run and "continue" in run, "state-held keys are never planned"
    assert 'rm -f "$dir/tfplan"' in run


def _applies(job: dict[str, Any]) -> bool:
    return any(re.search(r"terraform\s.*\bapply\b", step.get("run", "")) for step in job.get("steps", []))


def test_deploy_applies_the_saved_plan_the_approver_saw(deploy: dict[str, Any]) -> None:
    """verify -> plan (read-only, saved, shown in the summary) -> environment approval -> apply of that file."""
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert [job_id for job_id, job in deploy["jobs"].items() if _applies(job)] == ["apply"]
    plan, apply = deploy["jobs"]["plan"], deploy["jobs"]["apply"]
    assert plan["needs"] == "verify" and apply["needs"] == "plan"
    assert plan["environment"]["name"] == "production-plan"
    assert apply["environment"]["name"] == "production"
    assert "secrets." not in yaml.safe_dump(plan)
    plan_run = "\n".join(step.get("run", "") for step in plan["steps"])
    assert "-out=tfplan" in plan_run and "GITHUB_STEP_SUMMARY" in plan_run and "sha256sum" in plan_run
    assert '"databricks_secret" in json.load' in plan_run and "exit 1" in plan_run
    [upload] = [s for s in plan["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["with"]["retention-days"] == 1 and "cdktf.out/" in upload["with"]["path"]
    apply_run = "\n".join(step.get("run", "") for step in apply["steps"])
    assert "apply -input=false -no-color tfplan" in apply_run
    assert not re.search(r"terraform\s.*\bplan\b", apply_run), "the apply job must not plan again"
    assert "sha256sum --check" in apply_run and "needs.plan.outputs.digest" in yaml.safe_dump(apply)
    verify_runs = "\n".join(step.get("run", "") for step in deploy["jobs"]["verify"]["steps"])
    assert "make test" in verify_runs and "make scan" in verify_runs
    assert deploy["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_permissions_are_least_privilege(name: str) -> None:
    workflow = _load(name)
    assert workflow["permissions"] == {"contents": "read"}, "the default token must be read-only"
    for job_id, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{job_id} must declare its permissions"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= ALLOWED_WRITE_SCOPES, f"{job_id}: {writes}"
        uses = " ".join(str(step.get("uses", "")) for step in job.get("steps", []))
        runs = " ".join(str(step.get("run", "")) for step in job.get("steps", []))
        assert ("security-events" in writes) == ("upload-sarif" in uses), job_id
        assert ("pull-requests" in writes) == ("github-script" in uses), job_id
        assert ("id-token" in writes) == ("terraform" in runs), f"{job_id}: OIDC only where Terraform runs"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{job_id}: no token left in .git/config"


def test_pull_request_plans_never_leave_the_runner(pr: dict[str, Any]) -> None:
    """Only the deploy keeps a saved plan (for its own apply, one day); a pull request keeps none."""
    assert 'rm -f "$dir/tfplan"' in _runs(pr)
    for _, step in _steps(pr):
        if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
            assert "tfplan" not in str(step["with"]["path"]) and "plans" not in str(step["with"]["path"])


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_actions_are_pinned_by_commit_sha(name: str) -> None:
    """A tag can be moved to other code; a commit SHA cannot. The tag stays readable in the comment."""
    text = (WORKFLOWS / name).read_text("utf-8")
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action
        assert re.search(r"#\s*v\d", comment), f"{action}: say which version the SHA is"


def test_sarif_upload_cannot_break_private_repositories(pr: dict[str, Any]) -> None:
    [upload] = [s for _, s in _steps(pr) if "upload-sarif@" in str(s.get("uses", ""))]
    assert upload["continue-on-error"] is True
    assert "github.event.repository.private" in upload["if"]


def test_job_tests_run_on_python_312_with_runtime_and_dev_versions(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["job-tests"]
    assert job["strategy"]["matrix"] == {"python": ["3.12"], "libraries": ["dev-pins", "dbr-17.3"]}
    install = next(s["run"] for s in job["steps"] if "constraints-dbr-17.3.txt" in s.get("run", ""))
    assert "constraints.txt" in install
    constraints = (scan.REPO / "constraints-dbr-17.3.txt").read_text("utf-8")
    pins = dict(line.split("==") for line in constraints.splitlines() if line and not line.startswith("#"))
    assert {"pandas", "numpy", "pyarrow", "cryptography", "pyyaml", "pydantic"} <= set(pins)
    assert "release-notes/runtime/17.3lts" in constraints
    assert all(
        s["with"]["python-version"] == "3.12"
        for _, s in _steps(pr)
        if "setup-python@" in str(s.get("uses", "")) and "matrix" not in str(s["with"]["python-version"])
    )
    assert "--durations" in "\n".join(s.get("run", "") for s in job["steps"])


def test_pre_commit_runs_lint_types_synth_and_the_gate() -> None:
    config = yaml.safe_load((scan.REPO / ".pre-commit-config.yaml").read_text("utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert list(hooks) == ["ruff", "ruff-format", "mypy", "synth", "policy-scan"], "synth must run before the scan"
    assert hooks["synth"]["entry"].endswith("-m infra.synth")
    assert hooks["policy-scan"]["entry"].endswith("-m policies.scan --skip-synth")
    for hook in hooks.values():
        executable = scan.REPO / hook["entry"].split()[0]
        assert executable.parent == scan.REPO / ".venv" / "bin", "hooks run the pinned tools of .venv"
