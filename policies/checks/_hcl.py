"""Undo checkov's HCL-style wrapping of Terraform JSON, so rules read plain values.

checkov's ``terraform_json`` parser wraps every scalar in a one-element list (``"ISOLATED"`` arrives as
``["ISOLATED"]``, a list of strings as ``[["A", "B"]]``) and every nested block in a list of dicts. Rules that
compared against the wrapped form would silently never match; this module is the one place that knows the
wrapping. Stdlib only: checkov executes this file too.
"""

from __future__ import annotations

from typing import Any

# checkov adds line markers to every dict; "//" is cdktf's metadata (construct path), not configuration.
_MARKERS = frozenset({"__startline__", "__endline__", "//"})


def unwrap(conf: dict[str, Any]) -> dict[str, Any]:
    """Return ``conf`` (as checkov passes it to a check) with scalars unwrapped and blocks as list[dict].

    The result has the shape of the synthesized JSON except that a nested block is always a list of dicts
    (cdktf writes a single block as a dict); use :func:`blocks` to read either shape.
    """
    plain: dict[str, Any] = {}
    for key, value in conf.items():
        if key in _MARKERS:
            continue
        plain[key] = _unwrap_value(value)
    return plain


def _unwrap_value(value: Any) -> Any:
    if isinstance(value, dict):
        return [unwrap(value)]
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return [unwrap(item) for item in value]
        if len(value) == 1:
            return value[0]
        return list(value)
    return value


def blocks(conf: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The nested blocks under ``key``: [] when absent, one dict or a list of dicts otherwise."""
    value = conf.get(key)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def first_block(conf: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The single block under ``key`` (run_as, email_notifications, new_cluster ...) or None."""
    found = blocks(conf, key)
    return found[0] if found else None


def strings(value: Any) -> list[str]:
    """A scalar or list attribute as a list of strings (privileges, on_failure addresses)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return [str(value)]
