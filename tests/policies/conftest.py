"""Session fixtures for the policy tests: checkov costs ~4 s per run, so each directory is scanned once.

checkov runs for real, from its own venv (``ANONYMIZER_CHECKOV`` or ``.tools/checkov``): a test that mocked it
could not catch a check that fails to load, a value that arrives list-wrapped, or a wrong resource name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from policies import scan

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PASS_STACK = "pass-prod"
FAIL_STACK = "fail-dev"
UNENCRYPTED_STACK = "fail-unencrypted-state"


def _require_checkov() -> None:
    try:
        scan.checkov_binary()
    except scan.ScanError as exc:
        pytest.fail(f"{exc} (the policy tests need the real checkov)")


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> scan.CheckovRun:
    """One checkov run over both the passing and the failing fixture stacks."""
    _require_checkov()
    return scan.run_checkov(FIXTURES, tmp_path_factory.mktemp("fixture-reports"))


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    outdir: Path
    reports: Path


def run_cli(*args: str, outdir: Path, reports: Path) -> CliRun:
    """``python -m policies.scan`` exactly as ``make scan`` runs it (a subprocess, exit status included)."""
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    proc = subprocess.run(
        [sys.executable, "-m", "policies.scan", "--outdir", str(outdir), "--reports-dir", str(reports), *args],
        cwd=scan.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, outdir, reports)


@pytest.fixture(scope="session")
def real_scan(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """The shipped stacks: the gate synthesizes them (into a scratch outdir, never the developer's cdktf.out)
    through the infra entry point, then scans them."""
    if not (scan.REPO / "infra" / "synth.py").is_file():
        pytest.skip("infra/synth.py does not exist yet: no shipped stack to scan")
    _require_checkov()
    return run_cli(outdir=tmp_path_factory.mktemp("cdktf-out"), reports=tmp_path_factory.mktemp("real-reports"))


@pytest.fixture(scope="session")
def failing_scan(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """The gate over the failing fixtures (no synth): the exit status and reports a pull request sees."""
    _require_checkov()
    return run_cli("--skip-synth", outdir=FIXTURES / "fail", reports=tmp_path_factory.mktemp("fail-reports"))


@dataclass(frozen=True)
class Synthesized:
    """One config's synthesized stack (parsed) and the allowlist the gate derives from the same config."""

    document: dict[str, Any]
    allowlist: dict[str, Any]
    path: Path


@pytest.fixture(scope="session")
def synth_inputs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped configs, contract and wheel, validated and built once (``infra.synth.prepare``)."""
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.synth import prepare

    return prepare(tmp_path_factory.mktemp("wheel"))


def synthesize_configs(outdir: Path, inputs: Any, configs: list[Any]) -> list[Path]:
    """Synthesize ``configs`` (one stack each) with the shipped contract and wheel into ``outdir``."""
    from infra.synth import SynthInputs, synth

    return synth(outdir, SynthInputs(configs=configs, contract=inputs.contract, wheel=inputs.wheel))


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory, synth_inputs: Any) -> Synthesized:
    """The production stack exactly as ``make synth`` writes it, with its allowlist."""
    from infra.allowlist import allowlist_for

    [config] = [c for c in synth_inputs.configs if c.environment == "prod"]
    [path] = synthesize_configs(tmp_path_factory.mktemp("shipped"), synth_inputs, [config])
    return Synthesized(json.loads(path.read_text("utf-8")), allowlist_for(config), path)
