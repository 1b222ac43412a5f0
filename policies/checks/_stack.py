"""Resolve Terraform references inside one synthesized stack (``cdk.tf.json``).

cdktf writes cross-resource values as references (``"${databricks_catalog.anonymized_catalog_3F2A.name}"``),
and checkov hands Python checks the raw strings. A rule such as "developers get nothing on the source
catalog" must know which catalog a grant is on, so this module reads the whole stack document and evaluates
the small subset of expressions cdktf emits: ``${type.name.attr}``, ``${data.type.name.attr}``, ``${var.x}``
(its default) and ``${local.x}``, also embedded in a longer string. Anything else (function calls,
conditionals, unknown resources, computed attributes it does not model) resolves to ``None``, and every rule
treats ``None`` as "not proven safe". Stdlib only: checkov executes this file too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_REFERENCE = re.compile(r"^(?:(data)\.)?([A-Za-z0-9_]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)$")
_VARIABLE = re.compile(r"^(var|local)\.([A-Za-z0-9_-]+)$")
_MAX_DEPTH = 16  # references chain catalog -> schema -> volume -> file; a cycle must not hang the scan

# Unity Catalog securables whose full name starts with the catalog ("cat", "cat.schema", "cat.schema.obj").
CATALOG_SCOPED = ("catalog", "schema", "table", "volume", "function", "model")
# Every securable argument of databricks_grants / databricks_grant (provider 1.99).
SECURABLE_ARGS = (
    *CATALOG_SCOPED,
    "metastore",
    "external_location",
    "storage_credential",
    "credential",
    "share",
    "foreign_connection",
)


def is_reference(value: Any) -> bool:
    """True when ``value`` is exactly one ``${...}`` expression (no literal text around it)."""
    return isinstance(value, str) and _INTERPOLATION.fullmatch(value) is not None


def reference_target(value: str) -> tuple[str, str, str, str] | None:
    """Split ``${[data.]type.name.attr}`` into (mode, type, name, attr), mode "resource" or "data"."""
    match = _INTERPOLATION.fullmatch(value)
    if match is None:
        return None
    ref = _REFERENCE.match(match.group(1).strip())
    if ref is None:
        variable = _VARIABLE.match(match.group(1).strip())
        if variable is None:
            return None
        return (variable.group(1), "", variable.group(2), "")
    mode = "data" if ref.group(1) else "resource"
    return (mode, ref.group(2), ref.group(3), ref.group(4))


@dataclass(frozen=True)
class Securable:
    """What a grant or binding is on: its kind and, when resolvable, its full dotted name."""

    kind: str
    full_name: str | None

    @property
    def catalog(self) -> str | None:
        if self.kind not in CATALOG_SCOPED or not self.full_name:
            return None
        return self.full_name.split(".")[0]

    @property
    def schema(self) -> str | None:
        if self.kind == "catalog" or self.kind not in CATALOG_SCOPED or not self.full_name:
            return None
        parts = self.full_name.split(".")
        return parts[1] if len(parts) > 1 else None

    def describe(self) -> str:
        return f"{self.kind} {self.full_name or '<unresolved>'}"


class StackDocument:
    """One parsed ``cdk.tf.json`` with reference resolution and the cdktf construct path of each resource."""

    def __init__(self, document: dict[str, Any], path: Path | None = None) -> None:
        self.document = document
        self.path = path

    def resource(self, type_: str, name: str) -> dict[str, Any] | None:
        found = self.document.get("resource", {}).get(type_, {}).get(name)
        return found if isinstance(found, dict) else None

    def data(self, type_: str, name: str) -> dict[str, Any] | None:
        found = self.document.get("data", {}).get(type_, {}).get(name)
        return found if isinstance(found, dict) else None

    def resources_of(self, type_: str) -> dict[str, dict[str, Any]]:
        found = self.document.get("resource", {}).get(type_, {})
        return {k: v for k, v in found.items() if isinstance(v, dict) and k != "//"}

    def construct_path(self, type_: str, name: str) -> str | None:
        """The cdktf construct path (``stack/construct/...``) from the resource's ``//`` metadata."""
        conf = self.resource(type_, name) or {}
        metadata = conf.get("//", {}).get("metadata", {}) if isinstance(conf.get("//"), dict) else {}
        path = metadata.get("path")
        return path if isinstance(path, str) else None

    def variable_default(self, name: str) -> tuple[bool, Any]:
        """(has_default, default) of ``variable.<name>``: a default is a literal written in the code."""
        variable = self.document.get("variable", {}).get(name)
        if isinstance(variable, dict) and "default" in variable:
            return True, variable["default"]
        return False, None

    def resolve(self, value: Any, _depth: int = 0) -> str | None:
        """Evaluate ``value`` to a plain string, or None when any part of it cannot be known statically."""
        if value is None or isinstance(value, (dict, list)) or _depth > _MAX_DEPTH:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, str):
            return str(value)
        failed = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal failed
            resolved = self._expression(match.group(1).strip(), _depth + 1)
            if resolved is None:
                failed = True
                return ""
            return resolved

        result = _INTERPOLATION.sub(substitute, value)
        return None if failed or "${" in result else result

    def _expression(self, expression: str, depth: int) -> str | None:
        variable = _VARIABLE.match(expression)
        if variable:
            kind, name = variable.groups()
            if kind == "var":
                has_default, default = self.variable_default(name)
                return self.resolve(default, depth) if has_default else None
            return self.resolve(self.document.get("locals", {}).get(name), depth)
        ref = _REFERENCE.match(expression)
        if ref is None:
            return None
        is_data, type_, name, attr = ref.groups()
        conf = self.data(type_, name) if is_data else self.resource(type_, name)
        if conf is None:
            return None
        if attr in conf and not isinstance(conf[attr], (dict, list)):
            return self.resolve(conf[attr], depth)
        return self._computed(type_, conf, attr, depth)

    def _computed(self, type_: str, conf: dict[str, Any], attr: str, depth: int) -> str | None:
        """Attributes the provider computes from arguments (``id``, ``volume_path``, ``full_name``)."""

        def part(key: str) -> str | None:
            return self.resolve(conf.get(key), depth)

        if type_ in ("databricks_catalog", "databricks_secret_scope") and attr == "id":
            return part("name")
        if type_ == "databricks_schema" and attr == "id":
            catalog, name = part("catalog_name"), part("name")
            return f"{catalog}.{name}" if catalog and name else None
        if type_ in ("databricks_volume", "databricks_sql_table", "databricks_registered_model") and attr in (
            "id",
            "full_name",
            "volume_path",
        ):
            catalog, schema, name = part("catalog_name"), part("schema_name"), part("name")
            if not (catalog and schema and name):
                return None
            if attr == "volume_path":
                return f"/Volumes/{catalog}/{schema}/{name}" if type_ == "databricks_volume" else None
            return f"{catalog}.{schema}.{name}"
        if type_ == "databricks_file" and attr == "id":
            return part("path")
        return None

    def securable(self, conf: dict[str, Any]) -> Securable | None:
        """The securable a grants/grant resource (unwrapped conf) is declared on, or None if it names none."""
        for kind in SECURABLE_ARGS:
            if conf.get(kind) is not None:
                return Securable(kind, self.resolve(conf[kind]))
        return None


@lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int) -> StackDocument:
    del mtime_ns  # part of the cache key only: a re-synthesized file is read again
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    return StackDocument(document if isinstance(document, dict) else {}, Path(path))


def load_stack(path: str | Path) -> StackDocument | None:
    """Parse a stack file once per content version; None when it is unreadable (rules then fail closed)."""
    try:
        p = Path(path)
        return _load(str(p.resolve()), p.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None


EMPTY_STACK = StackDocument({})
