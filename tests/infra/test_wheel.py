"""The job wheel: reproducible, and its upload path changes exactly when the packaged content changes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from anonymizer.contract import load_contract
from infra.settings import EnvironmentConfig
from infra.wheel import JOBS_DIR, Wheel, WheelBuildError, build_wheel
from tests.infra.conftest import StackJson, only

STEP_ENTRY_POINTS = {f"anonymizer-{s}" for s in ("gate", "anonymize", "check", "risk", "promote", "report", "rollback")}


@pytest.fixture
def jobs_copy(tmp_path: Path) -> Path:
    """A copy of the job project, as a developer's working tree would be, to modify freely."""
    target = tmp_path / "jobs"
    shutil.copytree(
        JOBS_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache")
    )
    return target


def test_build_is_reproducible(tmp_path: Path, wheel: Wheel) -> None:
    again = build_wheel(JOBS_DIR, tmp_path / "again")
    assert again.sha256 == wheel.sha256
    assert again.path.read_bytes() == wheel.path.read_bytes()
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == again.sha256


def test_hash_does_not_depend_on_location_or_build_leftovers(jobs_copy: Path, tmp_path: Path, wheel: Wheel) -> None:
    (jobs_copy / "src" / "anonymizer" / "__pycache__").mkdir(exist_ok=True)
    (jobs_copy / "src" / "anonymizer" / "__pycache__" / "contract.cpython-311.pyc").write_bytes(b"\0stale")
    (jobs_copy / "README.md").write_text("docs are not packaged\n")
    assert build_wheel(jobs_copy, tmp_path / "out").sha256 == wheel.sha256


def test_code_change_changes_the_upload_path(
    jobs_copy: Path,
    tmp_path: Path,
    wheel: Wheel,
    prod_stack: StackJson,
    prod_config: EnvironmentConfig,
    stack_factory: Callable[..., StackJson],
) -> None:
    module = jobs_copy / "src" / "anonymizer" / "tags.py"
    module.write_text(module.read_text("utf-8") + "\n# a reviewed change\n", "utf-8")
    changed = build_wheel(jobs_copy, tmp_path / "out")
    assert changed.sha256 != wheel.sha256
    path_before = only(prod_stack, "databricks_file")["path"]
    path_after = only(stack_factory(prod_config, wheel_=changed), "databricks_file")["path"]
    assert path_before != path_after
    assert path_after == path_before.replace(wheel.short_hash, changed.short_hash)


def test_contract_change_changes_the_wheel(jobs_copy: Path, tmp_path: Path, wheel: Wheel) -> None:
    contract = jobs_copy / "src" / "anonymizer" / "contracts" / "medical_visits.yaml"
    contract.write_text(contract.read_text("utf-8").replace("date_shift_max_days: 365", "date_shift_max_days: 180"))
    assert build_wheel(jobs_copy, tmp_path / "out").sha256 != wheel.sha256


def test_wheel_contents_and_metadata(wheel: Wheel) -> None:
    assert wheel.filename == "anonymizer-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel.path) as zf:
        names = zf.namelist()
        assert "anonymizer/contracts/medical_visits.yaml" in names
        assert "anonymizer/tags.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert names[-1] == "anonymizer-0.1.0.dist-info/RECORD"
        entry_points = zf.read("anonymizer-0.1.0.dist-info/entry_points.txt").decode()
        metadata = zf.read("anonymizer-0.1.0.dist-info/METADATA").decode()
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in zf.infolist())
    assert wheel.entry_points >= STEP_ENTRY_POINTS
    for name in STEP_ENTRY_POINTS:
        assert f"\n{name} = anonymizer.cli:" in "\n" + entry_points
    assert "Name: anonymizer\nVersion: 0.1.0\n" in metadata
    assert 'Requires-Dist: pyspark==4.0.1; extra == "local"' in metadata  # never installed on a cluster


def test_wheel_ships_the_contract_the_stack_tags(wheel: Wheel) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import anonymizer, anonymizer.contract as c; "
        "assert anonymizer.__file__.startswith(sys.argv[1]), anonymizer.__file__; "
        "print(c.load_contract().digest())"
    )
    out = subprocess.run([sys.executable, "-c", code, str(wheel.path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == load_contract().digest()


def test_missing_version_is_a_clear_error(jobs_copy: Path, tmp_path: Path) -> None:
    pyproject = jobs_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text("utf-8").replace('version = "0.1.0"\n', ""))
    with pytest.raises(WheelBuildError, match=r"\[project\]\.version is missing"):
        build_wheel(jobs_copy, tmp_path / "out")
