"""The policy gate: synthesize the stacks, run the CKV_DBX checks with checkov, enforce the backend rule.

``python -m policies.scan`` (``make scan``) exits 0 when every stack passes every CKV_DBX policy, 1 when a
policy fails (each failure is printed with its id, the real resource address and the cdktf construct path)
and 2 when the gate itself could not run (synth failed, checkov missing, a check failed to load, a file
failed to parse): a gate that cannot run must not look like a gate that passed.

Only our policies gate (``--check CKV_DBX_*``): checkov's built-in checks have no rule for
``databricks/databricks`` resources, and the generic Terraform ones (module pinning and the like) do not
apply to cdktf output, so running them would only add noise to the SARIF upload.

Reports go to ``reports/scan/`` (git-ignored): checkov's CLI text, JSON, SARIF (uploaded to code scanning
by the pull-request workflow) and JUnit XML, each with the CKV_DBX_19 backend results merged in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies import backend, stack_rules
from policies.findings import Finding, parse_report

REPO = Path(__file__).resolve().parents[1]
CHECKS_DIR = REPO / "policies" / "checks"
DEFAULT_OUTDIR = REPO / "cdktf.out"
DEFAULT_REPORTS = REPO / "reports" / "scan"
CHECK_SELECTION = "CKV_DBX_*"
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
_LOAD_ERROR = re.compile(r"Cannot load external check|Failed to run check (CKV_DBX_\d+)")


class ScanError(RuntimeError):
    """The gate could not run; the message says what to fix."""


@dataclass
class CheckovRun:
    """The outcome of one checkov run over a directory of stacks."""

    failed: list[Finding]
    passed: list[Finding]
    seconds: float
    reports_dir: Path
    stderr: str = ""
    parsing_errors: list[str] = field(default_factory=list)


def checkov_binary() -> Path:
    """checkov lives in its own venv (it pins packaging<24, which pytest 9 cannot use)."""
    configured = os.environ.get("ANONYMIZER_CHECKOV")
    path = Path(configured) if configured else REPO / ".tools" / "checkov" / "bin" / "checkov"
    if not path.is_file():
        raise ScanError(f"checkov not found at {path}; run `make tools` (or set ANONYMIZER_CHECKOV)")
    return path


def _display(path: Path) -> str:
    """Repo-relative when possible: SARIF locations must be relative for code scanning to place them."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path.resolve())


def run_checkov(target: Path, reports_dir: Path) -> CheckovRun:
    """Run the CKV_DBX checks over every ``*.tf.json`` under ``target``; reports land in ``reports_dir``."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    for stale in reports_dir.glob("results_*"):
        stale.unlink()
    command = [
        str(checkov_binary()),
        "-d",
        _display(target),
        "--framework",
        "terraform_json",
        "--external-checks-dir",
        _display(CHECKS_DIR),
        "--skip-download",
        "--check",
        CHECK_SELECTION,
        # A literal secret (what CKV_DBX_10 catches) would otherwise be copied into every report's snippet,
        # and the SARIF goes to GitHub code scanning.
        "--mask",
        "databricks_secret:string_value",
        "-o",
        "cli",
        "-o",
        "json",
        "-o",
        "sarif",
        "-o",
        "junitxml",
        "--output-file-path",
        _display(reports_dir),
    ]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise ScanError(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    problems = sorted({m.group(0) for m in _LOAD_ERROR.finditer(proc.stderr)})
    if problems:
        raise ScanError(f"checkov could not load or run our checks ({problems}):\n{proc.stderr[-4000:]}")
    json_report = reports_dir / "results_json.json"
    if not json_report.is_file():
        raise ScanError(f"checkov wrote no JSON report into {reports_dir}:\n{proc.stderr[-4000:]}")
    payload = json.loads(json_report.read_text("utf-8"))
    parsing_errors = [
        e
        for r in (payload if isinstance(payload, list) else [payload])
        if isinstance(r, dict)
        for e in r.get("results", {}).get("parsing_errors", [])
    ]
    return CheckovRun(
        parse_report(payload, "failed"),
        parse_report(payload, "passed"),
        seconds,
        reports_dir,
        proc.stderr,
        parsing_errors,
    )


def stack_files(target: Path) -> list[Path]:
    """The synthesized stacks: ``<outdir>/stacks/<stack>/cdk.tf.json`` (or any *.tf.json under target)."""
    return sorted(target.rglob("*.tf.json"))


def backend_findings(files: Sequence[Path]) -> list[Finding]:
    """CKV_DBX_19 on each stack (checkov cannot see ``terraform.backend``; see policies/backend.py)."""
    findings = []
    for path in files:
        text = path.read_text("utf-8")
        problems = backend.backend_violations(json.loads(text))
        if problems:
            line = next((i for i, raw in enumerate(text.splitlines(), 1) if raw.strip().startswith('"terraform"')), 1)
            findings.append(
                Finding(
                    backend.CHECK_ID,
                    backend.TITLE,
                    "terraform.backend",
                    f"{path.parent.name} (stack backend)",
                    _display(path),
                    (line, line),
                    tuple(problems),
                )
            )
    return findings


Allowlists = dict[str, dict[str, Any]]


def allowlists_from_configs() -> Allowlists:
    """The allowlist of every environment config, keyed by stack name (what ``infra.synth`` names its stacks)."""
    # Imported here: the infra package (pydantic, the contract) is only needed when the configs are read.
    from anonymizer.contract import ContractError, load_contract
    from infra.allowlist import allowlist_for
    from infra.settings import CONFIG_DIR, ConfigError, config_files, load_config
    from infra.synth import contract_in_jobs
    from infra.wheel import JOBS_DIR

    try:
        contract = load_contract(contract_in_jobs(JOBS_DIR))
        configs = [load_config(path, contract) for path in config_files(CONFIG_DIR)]
    except (ConfigError, ContractError) as exc:
        raise ScanError(f"cannot derive the allowlists from the environment configs: {exc}") from None
    try:
        return {config.stack_name: allowlist_for(config, contract) for config in configs}
    except ValueError as exc:  # ColumnMaskError: masks the contract's columns cannot get
        raise ScanError(f"cannot derive the allowlists from the environment configs: {exc}") from None


def load_allowlists(path: Path | None) -> Allowlists:
    """``--allowlist FILE`` (JSON: stack name -> allowlist; tests and fixtures) or the configs' allowlists."""
    if path is None:
        return allowlists_from_configs()
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ScanError(f"cannot read the allowlist file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ScanError(f"{path}: expected a JSON object mapping stack names to allowlists")
    return data


def _line_of(text: str, address: str) -> int:
    """The line of ``address`` (``type.name``, ``data.type.name``, ``output.name``...) in the stack file."""
    name = address.rsplit(".", 1)[-1]
    needle = re.compile(rf'^\s*"{re.escape(name)}": ' + "{")
    for number, raw in enumerate(text.splitlines(), 1):
        if needle.match(raw):
            return number
    return 1


def stack_rule_findings(files: Sequence[Path], allowlists: Allowlists) -> list[Finding]:
    """CKV_DBX_21..28 (``policies/stack_rules.py``) on each stack, against the allowlist of its config."""
    findings = []
    for path in files:
        text = path.read_text("utf-8")
        document = json.loads(text)
        stack = path.parent.name
        for violation in stack_rules.evaluate(document, allowlists.get(stack), stack):
            line = _line_of(text, violation.address) if violation.address != "stack" else 1
            construct = _construct_of(document, violation.address) or f"{stack} (stack)"
            findings.append(
                Finding(
                    violation.check_id,
                    stack_rules.TITLES[violation.check_id],
                    violation.address,
                    construct,
                    _display(path),
                    (line, line),
                    (violation.message,),
                )
            )
    return findings


def _construct_of(document: dict[str, Any], address: str) -> str | None:
    parts = address.split(".")
    section = "data" if parts[0] == "data" else "resource"
    if section == "data":
        parts = parts[1:]
    if len(parts) != 2:
        return None
    conf = document.get(section, {}).get(parts[0], {}).get(parts[1])
    meta = conf.get("//", {}).get("metadata", {}) if isinstance(conf, dict) else {}
    path = meta.get("path") if isinstance(meta, dict) else None
    return path if isinstance(path, str) else None


def _sarif_message(finding: Finding) -> str:
    details = "; ".join(finding.details)
    return f"{finding.title}: {finding.address} [{finding.construct_path}]" + (f": {details}" if details else "")


def enrich_sarif(path: Path, findings: Sequence[Finding], extra: Sequence[Finding]) -> None:
    """Put the real address, construct path and reason into each SARIF message; add the backend results."""
    sarif: dict[str, Any] = json.loads(path.read_text("utf-8"))
    run = sarif["runs"][0]
    by_location = {(f.check_id, f.file, f.lines[0]): f for f in findings}
    for result in run.get("results", []):
        location = result.get("locations", [{}])[0].get("physicalLocation", {})
        key = (
            result.get("ruleId"),
            location.get("artifactLocation", {}).get("uri"),
            location.get("region", {}).get("startLine"),
        )
        if key in by_location:
            result["message"] = {"text": _sarif_message(by_location[key])}
    rules = run["tool"]["driver"].setdefault("rules", [])
    for finding in extra:
        if not any(rule.get("id") == finding.check_id for rule in rules):
            rules.append(
                {
                    "id": finding.check_id,
                    "name": finding.title,
                    "shortDescription": {"text": finding.title},
                    "fullDescription": {"text": finding.title},
                    "help": {"text": f"{finding.title} (policies/backend.py)"},
                    "defaultConfiguration": {"level": "error"},
                }
            )
        index = next(i for i, rule in enumerate(rules) if rule.get("id") == finding.check_id)
        run.setdefault("results", []).append(
            {
                "ruleId": finding.check_id,
                "ruleIndex": index,
                "level": "error",
                "message": {"text": _sarif_message(finding)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": finding.file},
                            "region": {"startLine": finding.lines[0], "endLine": finding.lines[1]},
                        }
                    }
                ],
            }
        )
    path.write_text(json.dumps(sarif, indent=2), "utf-8")


def add_junit_suite(path: Path, files: Sequence[Path], extra: Sequence[Finding]) -> None:
    """Append the rules ``scan.py`` runs itself to checkov's JUnit report: one suite per rule (CKV_DBX_19, then
    the allowlist rules), one case per stack, failed with every finding of that rule on that stack."""
    tree = ET.parse(path)  # noqa: S314  # checkov wrote this file a moment ago; it is not external input
    root = tree.getroot()
    suites = [(backend.CHECK_ID, f"{backend.CHECK_ID} state backend", backend.TITLE)]
    suites += [(check_id, f"{check_id} allowlist", title) for check_id, title in stack_rules.TITLES.items()]
    for check_id, suite_name, title in suites:
        failing: dict[str, list[Finding]] = {}
        for finding in extra:
            if finding.check_id == check_id:
                failing.setdefault(finding.file, []).append(finding)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=suite_name,
            tests=str(len(files)),
            failures=str(len(failing)),
            errors="0",
            skipped="0",
        )
        for stack in files:
            case = ET.SubElement(
                suite, "testcase", name=f"[{check_id}] {title}", classname=_display(stack), file=_display(stack)
            )
            found = failing.get(_display(stack), [])
            if found:
                failure = ET.SubElement(case, "failure", type="failure", message=_sarif_message(found[0]))
                failure.text = "\n".join(f"{f.address}: {d}" for f in found for d in f.details)
    for attribute in ("tests", "failures"):
        total = sum(int(s.get(attribute, "0")) for s in root.iter("testsuite"))
        root.set(attribute, str(total))
    tree.write(path, encoding="unicode", xml_declaration=True)


def synthesize(outdir: Path) -> None:
    """Run the infra synth entry point (same interpreter), so the scan sees exactly what would deploy."""
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    proc = subprocess.run(
        [sys.executable, "-m", "infra.synth", "--outdir", str(outdir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ScanError(f"synth failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def _sort_key(finding: Finding) -> tuple[str, int, str]:
    number = finding.check_id.rsplit("_", 1)[-1]
    return (finding.file, int(number) if number.isdigit() else 0, finding.address)


def scan(outdir: Path, reports_dir: Path, *, skip_synth: bool = False, allowlist: Path | None = None) -> int:
    """Synthesize (unless told not to), scan, report; returns the process exit status."""
    allowlists = load_allowlists(allowlist)  # first: a broken config must stop the gate before any work
    if not skip_synth:
        synthesize(outdir)
    target = outdir / "stacks" if (outdir / "stacks").is_dir() else outdir
    files = stack_files(target)
    if not files:
        raise ScanError(f"no *.tf.json under {target}: nothing to scan (run `make synth`)")
    run = run_checkov(target, reports_dir)
    if run.parsing_errors:
        raise ScanError(f"checkov could not parse: {run.parsing_errors}")
    extra = backend_findings(files) + stack_rule_findings(files, allowlists)
    enrich_sarif(reports_dir / "results_sarif.sarif", run.failed, extra)
    add_junit_suite(reports_dir / "results_junitxml.xml", files, extra)
    failures = sorted([*run.failed, *extra], key=_sort_key)
    print(
        f"policy scan: {len(files)} stack(s), {len(run.passed) + len(files) * (1 + len(stack_rules.TITLES)) - len({(f.file, f.check_id) for f in extra})} passed, "
        f"{len(failures)} failed (checkov {run.seconds:.1f}s); reports in {_display(reports_dir)}/"
    )
    for finding in failures:
        print(f"FAILED {finding.render()}")
    return EXIT_FAILED if failures else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.scan", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outdir",
        type=Path,
        default=DEFAULT_OUTDIR,
        help="cdktf output directory to synthesize into and scan (default: cdktf.out)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=DEFAULT_REPORTS,
        help="where checkov writes CLI/JSON/SARIF/JUnit reports (default: reports/scan)",
    )
    parser.add_argument(
        "--skip-synth",
        action="store_true",
        help="scan the existing output (e.g. right after `make synth`) instead of synthesizing",
    )
    parser.add_argument(
        "--allowlist",
        type=Path,
        default=None,
        help="JSON mapping stack name -> allowlist (tests and fixtures); default: derived from infra/config/*.yaml",
    )
    args = parser.parse_args(argv)
    try:
        return scan(
            args.outdir.resolve(),
            args.reports_dir.resolve(),
            skip_synth=args.skip_synth,
            allowlist=args.allowlist.resolve() if args.allowlist else None,
        )
    except ScanError as exc:
        print(f"policy scan: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
