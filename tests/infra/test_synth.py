"""The real entry point (``make synth`` / cdktf.json ``app``): output layout, providers, errors."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.synth import EXIT_CONFIG_ERROR, main
from infra.wheel import JOBS_DIR
from tests.infra.conftest import PROD_CONFIG, prod_config_dict

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    outdir = tmp_path_factory.mktemp("cdktf.out")
    capture = tmp_path_factory.mktemp("capture") / "stdout"
    with capture.open("w") as stdout, contextlib.redirect_stdout(stdout):
        assert main(["--outdir", str(outdir)]) == 0
    return outdir, capture.read_text()


def _stack(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / "stacks" / "anonymizer-prod" / "cdk.tf.json").read_text())


def test_synth_writes_the_example_stack_and_reports_it(synthesized: tuple[Path, str]) -> None:
    outdir, stdout = synthesized
    stack_file = outdir / "stacks" / "anonymizer-prod" / "cdk.tf.json"
    assert stack_file.is_file()
    assert f"{stack_file} (" in stdout and " resources)" in stdout
    assert "synthesized 1 stack(s)" in stdout
    assert json.loads((outdir / "manifest.json").read_text())["stacks"]["anonymizer-prod"]


def test_output_is_plain_terraform_with_qualified_providers(synthesized: tuple[Path, str]) -> None:
    stack = _stack(synthesized[0])
    assert stack["terraform"]["required_providers"] == {
        "databricks": {"source": "databricks/databricks", "version": "1.99.0"},
    }
    assert stack["provider"]["databricks"] == [{"host": "https://dbc-prod-0000.cloud.databricks.com"}]
    assert "s3" in stack["terraform"]["backend"]


def test_construct_paths_stay_in_the_output_for_policy_scans(synthesized: tuple[Path, str]) -> None:
    stack = _stack(synthesized[0])
    for rtype, items in stack["resource"].items():
        for name, body in items.items():
            assert body["//"]["metadata"]["uniqueId"] == name, rtype


def test_wheel_asset_is_inside_the_stack_directory(synthesized: tuple[Path, str]) -> None:
    outdir = synthesized[0]
    [file] = _stack(outdir)["resource"]["databricks_file"].values()
    asset = outdir / "stacks" / "anonymizer-prod" / file["source"]
    assert asset.is_file() and asset.name == "anonymizer-0.1.0-py3-none-any.whl"
    assert not list(outdir.glob(".wheels"))


def test_no_secret_literal_in_the_output(synthesized: tuple[Path, str]) -> None:
    text = (synthesized[0] / "stacks" / "anonymizer-prod" / "cdk.tf.json").read_text()
    stack = json.loads(text)
    assert "databricks_secret" not in stack["resource"], "key-init: the key never enters the JSON or the state"
    assert "variable" not in stack or all("default" not in v for v in stack["variable"].values())
    for forbidden in ("client_secret", "DATABRICKS_TOKEN", '"token"', '"password"'):
        assert forbidden not in text


def test_config_error_exits_non_zero_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = prod_config_dict()
    data["principals"]["developers_group"] = "account users"
    bad = tmp_path / "prod.yaml"
    bad.write_text(yaml.safe_dump(data))
    outdir = tmp_path / "out"
    assert main(["--outdir", str(outdir), "--config", str(bad)]) == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert f"invalid environment config {bad}" in err
    assert "principals.developers_group: 'account users' contains every user" in err
    assert not outdir.exists()  # nothing partial is written


def test_contract_error_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "contract.yaml"
    broken.write_text("contract_version: 1\nname: x\n")
    assert (
        main(["--outdir", str(tmp_path / "out"), "--config", str(PROD_CONFIG), "--contract", str(broken)])
        == EXIT_CONFIG_ERROR
    )
    assert "invalid data contract" in capsys.readouterr().err


def test_cdktf_project_files() -> None:
    cdktf = json.loads((REPO / "cdktf.json").read_text())
    assert cdktf["language"] == "python"
    assert cdktf["app"].endswith("-m infra.synth")
    package = json.loads((REPO / "package.json").read_text())
    assert package["devDependencies"] == {"cdktf-cli": "0.21.0"}


def test_stale_stack_of_a_removed_config_is_dropped(tmp_path: Path) -> None:
    stale = tmp_path / "stacks" / "anonymizer-old"
    stale.mkdir(parents=True)
    (stale / "cdk.tf.json").write_text("{}")
    keep = tmp_path / "stacks" / "not-a-stack"
    keep.mkdir()
    assert main(["--outdir", str(tmp_path), "--config", str(PROD_CONFIG)]) == 0
    assert not stale.exists()
    assert keep.exists()
    assert (tmp_path / "stacks" / "anonymizer-prod" / "cdk.tf.json").is_file()


def test_missing_task_entry_point_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs"
    shutil.copytree(JOBS_DIR, jobs, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
    pyproject = jobs / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('anonymizer-rollback = "anonymizer.cli:rollback_entry"\n', ""))
    assert (
        main(["--outdir", str(tmp_path / "out"), "--config", str(PROD_CONFIG), "--jobs-dir", str(jobs)])
        == EXIT_CONFIG_ERROR
    )
    assert "[project.scripts] lacks ['anonymizer-rollback']" in capsys.readouterr().err
