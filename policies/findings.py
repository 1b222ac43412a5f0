"""Turn checkov's JSON report into findings that name the real resource and its cdktf construct.

checkov 3.3.30 names a resource that a Python check flags in Terraform JSON ``resource.<name>``: the resource
type is lost, and two resources of different types with one name are indistinguishable. The record still
carries the file and the line range, so the real address is recovered by locating each resource's lines in
the file (PyYAML's composer gives line marks for JSON, exactly as checkov's own loader does), and the
construct path comes from the resource's cdktf ``//`` metadata: that is what a developer searches in infra/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Finding:
    """One failed policy on one resource (or, for CKV_DBX_19, on one stack)."""

    check_id: str
    title: str
    address: str
    construct_path: str
    file: str
    lines: tuple[int, int]
    details: tuple[str, ...] = field(default=())

    @property
    def stack(self) -> str:
        return Path(self.file).parent.name

    def render(self) -> str:
        head = f"{self.check_id} {self.address} [{self.construct_path}] {self.file}:{self.lines[0]}-{self.lines[1]}"
        body = "".join(f"\n    - {detail}" for detail in self.details)
        return f"{head}\n    {self.title}{body}"


@dataclass(frozen=True)
class _Located:
    type: str
    name: str
    start: int
    end: int
    construct_path: str


@lru_cache(maxsize=64)
def _locate(path: str) -> tuple[_Located, ...]:
    """Every ``resource`` of a Terraform JSON file with its line range and construct path."""
    text = Path(path).read_text("utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    document = json.loads(text)
    found: list[_Located] = []
    if not isinstance(root, yaml.MappingNode):
        return ()
    for key, section in root.value:
        if key.value != "resource" or not isinstance(section, yaml.MappingNode):
            continue
        for type_key, by_name in section.value:
            if not isinstance(by_name, yaml.MappingNode):
                continue
            for name_key, node in by_name.value:
                if name_key.value == "//":
                    continue
                conf = document["resource"][type_key.value][name_key.value]
                meta = conf.get("//", {}).get("metadata", {}) if isinstance(conf, dict) else {}
                construct = meta.get("path") if isinstance(meta, dict) else None
                found.append(
                    _Located(
                        type_key.value,
                        name_key.value,
                        node.start_mark.line + 1,
                        node.end_mark.line + 1,
                        construct or f"{type_key.value}.{name_key.value}",
                    )
                )
    return tuple(found)


def locate(file: str, checkov_resource: str, lines: tuple[int, int]) -> tuple[str, str]:
    """(address, construct path) of the resource checkov reported as ``checkov_resource`` at ``lines``."""
    name = checkov_resource.split(".", 1)[1] if "." in checkov_resource else checkov_resource
    try:
        candidates = [r for r in _locate(str(Path(file).resolve())) if r.name == name]
    except (OSError, ValueError, yaml.YAMLError):
        candidates = []
    exact = [r for r in candidates if r.start == lines[0]]
    chosen = exact or (candidates if len(candidates) == 1 else [])
    if len(chosen) == 1:
        return f"{chosen[0].type}.{chosen[0].name}", chosen[0].construct_path
    return checkov_resource, "<construct path unknown>"


def _reports(payload: Any) -> list[dict[str, Any]]:
    """checkov writes one report object per framework, or a list of them."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, dict)]
    return []


def parse_report(payload: Any, result: str = "failed") -> list[Finding]:
    """Findings of checkov's JSON output; ``result`` "passed" lists the passed checks the same way."""
    findings = []
    for report in _reports(payload):
        for record in report.get("results", {}).get(f"{result}_checks", []):
            file = record.get("file_abs_path") or record.get("file_path", "")
            lines = tuple(record.get("file_line_range") or (0, 0))
            start_end = (int(lines[0]), int(lines[-1]))
            address, construct = locate(file, record.get("resource", ""), start_end)
            findings.append(
                Finding(
                    check_id=record["check_id"],
                    title=record.get("check_name", ""),
                    address=address,
                    construct_path=construct,
                    file=file,
                    lines=start_end,
                    details=tuple(record.get("details") or ()),
                )
            )
    return sorted(findings, key=lambda f: (f.file, f.check_id, f.address))
