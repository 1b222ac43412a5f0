"""A published lakehouse, built once, copied for every test that breaks something in it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anonymizer import cli
from anonymizer.contract import load_contract
from anonymizer.keys import generate_key_text
from anonymizer.runtime import LocalRuntime

VISITS = 3000
# The run date of every run in this test session unless a test passes its own --as-of. Release windows publish
# by run date and the published template is built once per session: a session that crosses midnight (UTC)
# would otherwise compare a run of one day with the template of the day before.
RUN_DAY = dt.datetime.now(dt.UTC).date().isoformat()
DATED_COMMANDS = frozenset({"anonymize", "run"})  # the commands that take --as-of


@dataclass
class Lake:
    root: Path
    runtime: LocalRuntime
    key: str

    def cli(self, *args: str, key: str | None = "default") -> int:
        """Run the CLI in-process (same SparkSession) against this lakehouse, on the session's run date."""
        dated = ["--as-of", RUN_DAY] if args[0] in DATED_COMMANDS and "--as-of" not in args else []
        env_key = self.key if key == "default" else key
        old = os.environ.pop("ANONYMIZER_KEY", None)
        if env_key is not None:
            os.environ["ANONYMIZER_KEY"] = env_key
        try:
            return cli.main([args[0], "--lakehouse", str(self.root), *args[1:], *dated])
        finally:
            os.environ.pop("ANONYMIZER_KEY", None)
            if old is not None:
                os.environ["ANONYMIZER_KEY"] = old

    def final_versions(self) -> dict[str, int]:
        c = load_contract()
        return {t: self.runtime.version(c.target_name(t)) for t in c.tables}

    def rows(self, uc_name: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in self.runtime.read(uc_name).collect())

    def source(self, table: str) -> str:
        return load_contract().source_name(table)

    def target(self, table: str) -> str:
        return load_contract().target_name(table)


@pytest.fixture(scope="session")
def published_template(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("published")
    lake = Lake(root, LocalRuntime(spark, root), generate_key_text())
    assert lake.cli("generate", "--visits", str(VISITS), "--seed", "9") == 0
    assert lake.cli("run", "--run-id", "first") == 0
    return lake


@pytest.fixture
def lake(published_template: Lake, tmp_path: Path) -> Iterator[Lake]:
    root = tmp_path / "lake"
    shutil.copytree(published_template.root, root)
    yield Lake(root, LocalRuntime(published_template.runtime.spark, root), published_template.key)
