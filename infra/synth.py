"""Synthesize one stack per environment config into ``cdktf.out/`` without network access.

``make synth`` and the cdktf CLI (``cdktf.json`` ``app``) both run this module. Every config is validated
(and checked against the contract) before anything is written, so a broken config never yields a partial
``cdktf.out``. Exit status 2 means a configuration problem; the message names the file, field and fix.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from anonymizer.contract import DEFAULT_CONTRACT, Contract, ContractError, load_contract
from infra.allowlist import ColumnMaskError, column_mask_plan
from infra.settings import CONFIG_DIR, ConfigError, EnvironmentConfig, config_files, load_config
from infra.wheel import JOBS_DIR, Wheel, WheelBuildError, build_wheel

EXIT_CONFIG_ERROR = 2


class SynthError(RuntimeError):
    """Synthesis refused to run; the message is meant for the person who ran it."""


@dataclass(frozen=True)
class SynthInputs:
    """Everything a synth reads; validated up front so that errors come before any output."""

    configs: list[EnvironmentConfig]
    contract: Contract
    wheel: Wheel


def contract_in_jobs(jobs_dir: Path) -> Path:
    """The contract the wheel will ship: the stacks tag production with exactly this file by default."""
    return jobs_dir / "src" / "anonymizer" / "contracts" / DEFAULT_CONTRACT


def prepare(
    wheel_dir: Path,
    *,
    config_paths: Sequence[Path] | None = None,
    contract_path: Path | None = None,
    jobs_dir: Path = JOBS_DIR,
    allow_local_backend: bool = False,
) -> SynthInputs:
    """Load the contract, validate every config against it, then build the wheel into ``wheel_dir``."""
    paths = list(config_paths) if config_paths is not None else config_files(CONFIG_DIR)
    if not paths:
        raise SynthError(f"no environment config in {CONFIG_DIR} (*.yaml); start from the example prod.yaml")
    contract = load_contract(contract_path or contract_in_jobs(jobs_dir))
    errors: list[str] = []
    configs: list[EnvironmentConfig] = []
    for path in paths:
        try:
            config = load_config(path, contract, allow_local_backend=allow_local_backend)
            column_mask_plan(config, contract)  # refuses masks the contract's columns cannot get
            configs.append(config)
        except ConfigError as exc:
            errors.append(str(exc))
        except ColumnMaskError as exc:
            errors.append(f"{path}: {exc}")
    if errors:
        raise SynthError("\n".join(errors))
    names = [c.stack_name for c in configs]
    if len(set(names)) != len(names):
        raise SynthError(f"two configs produce the same stack name: {names}")
    wheel = build_wheel(jobs_dir, wheel_dir)
    from infra.constructs.job import STEPS  # imports provider bindings: only after the cheap checks passed

    missing = sorted({step.entry_point for step in STEPS} - wheel.entry_points)
    if missing:
        raise SynthError(
            f"{jobs_dir / 'pyproject.toml'}: [project.scripts] lacks {missing}, which the job's "
            "tasks run; add them (or rename the steps in infra/constructs/job.py)"
        )
    return SynthInputs(configs=configs, contract=contract, wheel=wheel)


def synth(outdir: Path, inputs: SynthInputs) -> list[Path]:
    """Build the app from validated inputs and write it; returns the cdk.tf.json written, one per stack."""
    # Imported here: the provider bindings take seconds to import; config errors should not wait for them.
    from cdktf import App

    from infra.stack import AnonymizerStack

    app = App(outdir=str(outdir))
    for config in inputs.configs:
        AnonymizerStack(app, config, inputs.contract, inputs.wheel)
    app.synth()
    _remove_stale_stacks(outdir, {c.stack_name for c in inputs.configs})
    return [outdir / "stacks" / c.stack_name / "cdk.tf.json" for c in inputs.configs]


def _remove_stale_stacks(outdir: Path, current: set[str]) -> None:
    """Drop stacks of configs that no longer exist: a policy scan of cdktf.out must see only what deploys."""
    stacks = outdir / "stacks"
    for directory in sorted(stacks.iterdir()) if stacks.is_dir() else []:
        if directory.name not in current and (directory / "cdk.tf.json").is_file():
            shutil.rmtree(directory)
            print(f"removed stale stack {directory}")


def _resource_count(stack_json: Path) -> int:
    data = json.loads(stack_json.read_text("utf-8"))
    return sum(len(v) for v in data.get("resource", {}).values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outdir",
        type=Path,
        default=Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out")),
        help="output directory (default: $CDKTF_OUTDIR or cdktf.out)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        dest="configs",
        help="an environment config (repeatable; default: every infra/config/*.yaml)",
    )
    parser.add_argument(
        "--contract", type=Path, default=None, help="the data contract (default: the one packaged in the job wheel)"
    )
    parser.add_argument("--jobs-dir", type=Path, default=JOBS_DIR, help="the job project to package")
    parser.add_argument(
        "--allow-local-backend",
        action="store_true",
        help="tests only: accept backend type 'local' (unencrypted state on disk)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    # The wheel is built into a scratch directory; synth copies it into each stack's assets/ folder.
    with tempfile.TemporaryDirectory(prefix="anonymizer-wheel-") as scratch:
        try:
            inputs = prepare(
                Path(scratch),
                config_paths=args.configs,
                contract_path=args.contract,
                jobs_dir=args.jobs_dir,
                allow_local_backend=args.allow_local_backend,
            )
        except (SynthError, ConfigError, ContractError, WheelBuildError) as exc:
            print(f"synth: {exc}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
        if (
            args.contract is not None
            and load_contract(contract_in_jobs(args.jobs_dir)).digest() != inputs.contract.digest()
        ):
            print(
                "synth: warning: --contract differs from the contract packaged in the wheel; the job's gate "
                "will refuse to run until both agree",
                file=sys.stderr,
            )
        written = synth(args.outdir, inputs)
    for path in written:
        print(f"{path} ({_resource_count(path)} resources)")
    print(f"wheel {inputs.wheel.filename} sha256 {inputs.wheel.sha256}")
    print(f"synthesized {len(written)} stack(s) in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
