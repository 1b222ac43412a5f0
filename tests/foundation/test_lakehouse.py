"""The embedded lakehouse: tables persist across processes; UC names map to one folder per table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from anonymizer.runtime import LiveColumn, LocalRuntime, RuntimeError_

WRITER = """
import sys
from anonymizer.lakehouse import local_spark
from anonymizer.runtime import LiveColumn, LocalRuntime
rt = LocalRuntime(local_spark(), sys.argv[1])
rt.create_table("medical.visits.t", [LiveColumn("id", "int", False), LiveColumn("name", "varchar(5)", True)])
rt.overwrite("medical.visits.t", rt.spark.createDataFrame([(1, "ab"), (2, None)], "id int, name string"), ["id", "name"])
"""


def test_table_written_by_one_process_is_read_by_another(spark: Any, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rt = LocalRuntime(spark, tmp_path)
    assert (tmp_path / "medical" / "visits" / "t" / "_delta_log").is_dir()
    assert sorted(r["id"] for r in rt.read("medical.visits.t").collect()) == [1, 2]
    assert rt.columns("medical.visits.t") == [LiveColumn("id", "int", False), LiveColumn("name", "varchar(5)", True)]


def test_declared_types_are_enforced(spark: Any, tmp_path: Path) -> None:
    rt = LocalRuntime(spark, tmp_path)
    rt.create_table("c.s.t", [LiveColumn("id", "int", False), LiveColumn("code", "varchar(3)", True)])
    with pytest.raises(Exception, match=r"(?i)null|varchar|length|exceeds"):
        rt.overwrite("c.s.t", spark.createDataFrame([(None, "toolong")], "id int, code string"), ["id", "code"])
    assert rt.version("c.s.t") == 0  # the failed write left the table untouched


def test_restore_returns_the_old_snapshot(spark: Any, tmp_path: Path) -> None:
    rt = LocalRuntime(spark, tmp_path)
    rt.create_table("c.s.r", [LiveColumn("id", "int", False)])
    rt.overwrite("c.s.r", spark.createDataFrame([(1,)], "id int"), ["id"])
    v1 = rt.version("c.s.r")
    rt.overwrite("c.s.r", spark.createDataFrame([(2,), (3,)], "id int"), ["id"])
    rt.restore("c.s.r", v1)
    assert [r["id"] for r in rt.read("c.s.r").collect()] == [1]


def test_names_that_could_inject_sql_are_refused(spark: Any, tmp_path: Path) -> None:
    rt = LocalRuntime(spark, tmp_path)
    for bad in ("a.b", "a.b.c.d", "a.b.`x`", "a.b.c; DROP TABLE x", "../a.b.c"):
        with pytest.raises(RuntimeError_):
            rt.ref(bad)
