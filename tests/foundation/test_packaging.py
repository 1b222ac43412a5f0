"""The production wheel holds the job only, and the job's modules import without a cycle.

Why: the wheel runs on a production cluster with access to patient data; development tooling (the
benchmark shells out to git and the synth, the generator needs Faker) has no business there. A module that
imports a dev module, or an import cycle, shows up here as a failing test rather than on a cluster.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.wheel import JOBS_DIR, build_wheel

PACKAGE = JOBS_DIR / "src" / "anonymizer"
TOOLS = JOBS_DIR.parent / "tools" / "anonymizer_tools"
DEV_MODULES = {"bench", "generate", "demo", "load"}


def job_modules() -> list[str]:
    return sorted(f"anonymizer.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__main__")


def test_wheel_file_list_is_exactly_the_job(tmp_path: Path) -> None:
    wheel = build_wheel(JOBS_DIR, tmp_path)
    with zipfile.ZipFile(wheel.path) as zf:
        names = set(zf.namelist())
    modules = {n for n in names if n.endswith(".py")}
    expected_modules = {
        f"anonymizer/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts
    }
    assert modules == expected_modules
    assert not {f"anonymizer/{m}.py" for m in DEV_MODULES} & names
    assert not [n for n in names if "anonymizer_tools" in n or "faker" in n.lower()]
    data = names - modules
    pools = {f"anonymizer/pools/{p.name}" for p in (PACKAGE / "pools").glob("*.txt")}
    assert len(pools) == 5
    expected_data = {
        "anonymizer/log4j2.properties",
        "anonymizer/py.typed",
        "anonymizer/contracts/medical_visits.yaml",
        "anonymizer/contracts/contract.schema.json",
        *pools,
        *(
            f"anonymizer-0.1.0.dist-info/{n}"
            for n in ("METADATA", "WHEEL", "entry_points.txt", "top_level.txt", "RECORD")
        ),
    }
    assert data == expected_data
    metadata = zipfile.ZipFile(wheel.path).read("anonymizer-0.1.0.dist-info/METADATA").decode()
    assert "faker" not in metadata.lower()


def test_job_modules_never_import_the_dev_tools() -> None:
    offenders = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if (
                    name.startswith("anonymizer_tools")
                    or name.split(".")[-1] in DEV_MODULES - {"load"}
                    or (name in {f"anonymizer.{m}" for m in DEV_MODULES})
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


@pytest.mark.parametrize("module", [*job_modules(), "anonymizer_tools.commands", "anonymizer_tools.bench"])
def test_each_module_imports_fresh_without_a_cycle(module: str) -> None:
    """A fresh interpreter importing only this module: a cycle fails with a partially initialized module."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_cli_without_dev_tools_says_how_to_get_them(tmp_path: Path) -> None:
    """A cluster has no dev tools: `anonymizer generate` must say so (exit 2), and the job commands still work."""
    code = (
        "import sys, importlib.metadata as m\n"
        "real = m.entry_points\n"
        "m.entry_points = lambda **kw: [] if kw.get('group') == 'anonymizer.commands' else real(**kw)\n"
        "from anonymizer import cli\n"
        "rc = cli.main(['generate', '--visits', '10'])\n"
        "help_rc = cli.main(['gate', '--lakehouse', sys.argv[1], '--run-id', '../bad'])\n"
        "print(rc, help_rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "2"], result.stderr
    assert "dev tools are not installed" in result.stderr and "make setup" in result.stderr
    assert "Traceback" not in result.stderr
