"""Shared fixtures. One SparkSession for the whole test run: a session start costs 12-15 s on 2 cores."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from anonymizer.lakehouse import local_spark

    session = local_spark("anonymizer-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the SparkSession (directly or through another fixture) with ``spark``.

    ``fixturenames`` is the closure of the fixtures a test requests, so ``lake`` -> ``published_template`` ->
    ``spark`` is caught too: ``pytest -m "not spark"`` is then the fast subset, with no test to remember.
    """
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
