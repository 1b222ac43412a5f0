"""The JVM class-data-sharing switch of local sessions: write at warm-up, map when present, off on request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from anonymizer import lakehouse


def test_cds_options_follow_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.delenv("ANONYMIZER_SPARK_CDS", raising=False)
    archive = tmp_path / lakehouse.CDS_ARCHIVE
    assert lakehouse.cds_archive() == archive
    assert lakehouse.cds_options() == ""  # no archive yet: a plain start, never a JVM error
    assert f"-XX:ArchiveClassesAtExit={archive}" in lakehouse.cds_options(dump=True)
    archive.write_bytes(b"x")
    mapped = lakehouse.cds_options()
    assert mapped.startswith(f"-XX:SharedArchiveFile={archive}") and "-Xlog:cds=off" in mapped
    monkeypatch.setenv("ANONYMIZER_SPARK_CDS", "0")
    assert lakehouse.cds_options() == "" and lakehouse.cds_options(dump=True) == ""
