"""The environment config shares the contract's loading plumbing: duplicate keys, aliases and non-UTF-8 files
are refused with the line and a fix, and a ConfigError is a usage error (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anonymizer.errors import ExitCode, UsageError
from infra.settings import CONFIG_DIR, ConfigError, load_config, parse_config

PROD = (CONFIG_DIR / "prod.yaml").read_text()
FILE = "infra/config/prod.yaml"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_config_still_loads() -> None:
    assert parse_config(PROD, FILE).environment == "prod"


def test_duplicate_key_is_refused_with_its_line() -> None:
    text = PROD.replace("production: true", "production: true\nproduction: false", 1)
    assert text != PROD
    with pytest.raises(ConfigError) as info:
        parse_config(text, FILE)
    (issue,) = info.value.issues
    assert issue.field == "production" and "duplicate key 'production'" in issue.message
    assert issue.line == _line_of(text, "production: false") and issue.fix == "list each key once"
    assert isinstance(info.value, UsageError) and info.value.code == ExitCode.USAGE


def test_alias_is_refused() -> None:
    text = "base: &b {a: 1}\n" + PROD + "\nother: *b\n"
    with pytest.raises(ConfigError, match="aliases") as info:
        parse_config(text, FILE)
    assert info.value.issues[0].line == _line_of(text, "*b")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_bytes(PROD.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.line == PROD.count("\n") + 1 and "save the file as UTF-8" in issue.fix
    assert str(info.value).startswith(f"invalid environment config {path} (1 problem(s))")
