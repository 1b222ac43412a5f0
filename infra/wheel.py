"""A deterministic, offline build of the job's wheel, and the content-addressed path it is uploaded to.

Why not ``python -m build``: an isolated build downloads setuptools (``make synth`` must work offline) and a
non-isolated one depends on whatever setuptools/wheel the venv has (setuptools 65 needs the ``wheel``
package for bdist_wheel) and leaves ``build/`` leftovers that can ship deleted modules. The job is a pure
Python ``src/`` package, so building its PEP 427 wheel is a zip of the package files plus ``.dist-info``
metadata written from ``jobs/pyproject.toml``. Fixed timestamps, permissions and file order make the wheel
byte-for-byte reproducible, so its SHA-256 changes exactly when the job code or the packaged contract
changes, and the upload path ``.../<version>/<sha12>/<wheel>`` changes with it. Clusters cache libraries by
path: a new path is what makes a new version actually run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOBS_DIR = Path(__file__).resolve().parents[1] / "jobs"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry: no build time leaks in
_IGNORED_DIRS = {"__pycache__"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}


class WheelBuildError(RuntimeError):
    """The job's pyproject cannot be turned into a wheel (a missing field or package)."""


@dataclass(frozen=True)
class Wheel:
    """A built wheel: where it is on disk and what identifies its content."""

    name: str
    version: str
    path: Path
    sha256: str
    entry_points: frozenset[str]

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def volume_path(self, volume_root: str) -> str:
        """``<volume>/<name>/<version>/<sha12>/<file>``: a new path whenever the content changes."""
        return f"{volume_root.rstrip('/')}/{self.name}/{self.version}/{self.short_hash}/{self.filename}"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _read_project(jobs_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    pyproject = jobs_dir / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WheelBuildError(f"{pyproject}: cannot read the job's pyproject ({exc})") from None
    project = data.get("project", {})
    for field in ("name", "version"):
        if field not in project:
            raise WheelBuildError(f"{pyproject}: [project].{field} is missing; the wheel needs a static {field}")
    setuptools_cfg = data.get("tool", {}).get("setuptools", {})
    return project, setuptools_cfg


def _package_dirs(src: Path) -> list[Path]:
    """Packages as setuptools' find_packages sees them: directories with ``__init__.py`` all the way down."""
    found: list[Path] = []

    def visit(directory: Path) -> None:
        found.append(directory)
        for child in sorted(directory.iterdir()):
            if child.is_dir() and child.name not in _IGNORED_DIRS and (child / "__init__.py").is_file():
                visit(child)

    for top in sorted(src.iterdir()):
        if top.is_dir() and (top / "__init__.py").is_file():
            visit(top)
    return found


def _package_files(src: Path, package_data: dict[str, list[str]]) -> dict[str, Path]:
    """Archive name -> file: every module of every package plus the declared package data."""
    files: dict[str, Path] = {}
    for pkg_dir in _package_dirs(src):
        package = ".".join(pkg_dir.relative_to(src).parts)
        candidates = [p for p in pkg_dir.glob("*.py")]
        for pattern in package_data.get(package, []) + package_data.get("*", []):
            candidates.extend(pkg_dir.glob(pattern))
        for path in candidates:
            if path.is_file() and path.suffix not in _IGNORED_SUFFIXES and _IGNORED_DIRS.isdisjoint(path.parts):
                files[path.relative_to(src).as_posix()] = path
    return files


def _metadata(project: dict[str, Any]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in sorted(project.get("optional-dependencies", {}).items()):
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    return "\n".join(lines) + "\n"


def _entry_points(project: dict[str, Any]) -> str:
    sections = [("console_scripts", project.get("scripts", {}))]
    sections += sorted(project.get("entry-points", {}).items())
    out = []
    for group, entries in sections:
        if entries:
            out.append(f"[{group}]")
            out += [f"{name} = {target}" for name, target in sorted(entries.items())]
            out.append("")
    return "\n".join(out)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data, compresslevel=9)


def build_wheel(jobs_dir: Path = JOBS_DIR, outdir: Path | None = None) -> Wheel:
    """Build ``<name>-<version>-py3-none-any.whl`` from ``jobs_dir`` into ``outdir`` (reproducibly).

    ``jobs_dir`` is injectable so tests can prove that one changed source file changes the hash.
    """
    jobs_dir = Path(jobs_dir)
    project, setuptools_cfg = _read_project(jobs_dir)
    where = setuptools_cfg.get("packages", {}).get("find", {}).get("where", ["src"])
    src = jobs_dir / where[0]
    files = _package_files(src, setuptools_cfg.get("package-data", {}))
    if not files:
        raise WheelBuildError(f"{src}: no Python package found (a directory with __init__.py)")
    name, version = _normalize(project["name"]), str(project["version"])
    dist_info = f"{name}-{version}.dist-info"
    top_level = sorted({n.split("/", 1)[0] for n in files})
    entries: list[tuple[str, bytes]] = [(n, files[n].read_bytes()) for n in sorted(files)]
    entries += [
        (f"{dist_info}/METADATA", _metadata(project).encode()),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: infra.wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{dist_info}/entry_points.txt", _entry_points(project).encode()),
        (f"{dist_info}/top_level.txt", ("\n".join(top_level) + "\n").encode()),
    ]
    record = "\n".join([*(_record_line(n, d) for n, d in entries), f"{dist_info}/RECORD,,"]) + "\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for entry_name, data in entries:
            _add(zf, entry_name, data)
    content = buffer.getvalue()
    sha256 = hashlib.sha256(content).hexdigest()
    filename = f"{name}-{version}-py3-none-any.whl"
    # One directory per content hash: stacks synthesized from different sources never share a file.
    target_dir = (outdir or jobs_dir / "dist") / sha256[:12]
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / filename
    if not path.exists() or path.read_bytes() != content:
        path.write_bytes(content)
    return Wheel(
        name=name, version=version, path=path, sha256=sha256, entry_points=frozenset(project.get("scripts", {}))
    )
