"""Hostile or careless input against the CLI (issue 14, runtime side), end to end on local Spark + Delta.

Each case must end with the documented exit code, a one-line message naming the file/table/column/flag and the
fix, no traceback, and the source and published tables at exactly the Delta versions they had before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anonymizer import cli
from anonymizer.contract import load_contract
from anonymizer.errors import ExitCode
from anonymizer.journal import Journal

from .conftest import Lake

TABLES = ("dim_patients", "dim_hospitals", "dim_doctors", "fact_visits")


def source_versions(lake: Lake) -> dict[str, int]:
    return {t: lake.runtime.version(lake.source(t)) for t in TABLES}


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return out.err


def _export(lake: Lake, folder: Path) -> dict[str, Any]:
    """Every source table as one Parquet file per table (pandas frames returned for breaking one)."""
    folder.mkdir()
    frames = {}
    for table in TABLES:
        frame = lake.runtime.read(lake.source(table)).toPandas()
        frames[table] = frame
        frame.to_parquet(folder / f"{table}.parquet", index=False)
    return frames


def _string_where_int(frame: Any) -> Any:
    frame["hospital_id"] = frame["hospital_id"].astype(str)
    frame.loc[0, "hospital_id"] = "twelve"
    return frame


def _date_as_integer(frame: Any) -> Any:
    frame["visit_date"] = range(len(frame))  # days as plain integers
    return frame


def _empty_not_null(frame: Any) -> Any:
    frame["patient_id"] = frame["patient_id"].astype("Int64")
    frame.loc[3, "patient_id"] = None
    return frame


def _unparseable_column_name(frame: Any) -> Any:
    return frame.rename(columns={"visit_date": "visit date;`)"})


def _uncastable_type(frame: Any) -> Any:
    frame["visit_date"] = [[1, 2]] * len(frame)  # an array column: no cast to date exists
    return frame


# The broken table is the LAST one loaded: every table before it would have been replaced by the old loader.
@pytest.mark.parametrize(
    ("breaker", "needles"),
    [
        (_string_where_int, ["fact_visits", "hospital_id", "1 value(s) are not valid int"]),
        (_date_as_integer, ["fact_visits", "visit_date", "cannot be converted to date"]),
        (_empty_not_null, ["fact_visits", "patient_id", "1 empty value(s) in a NOT NULL column"]),
        (_unparseable_column_name, ["fact_visits", "unexpected ['visit date;`)']", "missing ['visit_date']"]),
        (_uncastable_type, ["fact_visits", "visit_date", "cannot be converted to date"]),
    ],
    ids=["string_where_int", "date_as_integer", "empty_not_null", "unparseable_column_name", "uncastable_type"],
)
def test_load_is_all_or_nothing(
    lake: Lake,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    breaker: Callable[[Any], Any],
    needles: list[str],
) -> None:
    files = tmp_path / "files"
    frames = _export(lake, files)
    broken = breaker(frames["fact_visits"].copy())
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False), files / "fact_visits.parquet")
    before = source_versions(lake)
    rows_before = lake.rows(lake.source("dim_patients"))
    assert lake.cli("load", "--from", str(files)) == ExitCode.USAGE
    err = _err(capsys)
    for needle in needles:
        assert needle in err, err
    assert "Fix:" in err and len(err.strip().splitlines()) == 1
    assert source_versions(lake) == before, "a source table changed although the load failed"
    assert lake.rows(lake.source("dim_patients")) == rows_before
    assert not list((lake.root / "_scratch").glob("load-*")), "scratch tables left behind"


def test_load_of_good_files_replaces_every_table(lake: Lake, tmp_path: Path) -> None:
    files = tmp_path / "files"
    frames = _export(lake, files)
    frames["dim_hospitals"].loc[0, "name"] = "Renamed Hospital"
    frames["dim_hospitals"].to_parquet(files / "dim_hospitals.parquet", index=False)
    before = source_versions(lake)
    assert lake.cli("load", "--from", str(files)) == 0
    after = source_versions(lake)
    assert all(after[t] > before[t] for t in TABLES)
    names = {r[1] for r in lake.rows(lake.source("dim_hospitals"))}
    assert "Renamed Hospital" in names
    assert lake.cli("gate", "--run-id", "after-load") == 0


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_load_from_a_missing_or_empty_folder(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = tmp_path / "nothing"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("x")
    before = source_versions(lake)
    assert lake.cli("load", "--from", str(target)) == ExitCode.USAGE
    err = _err(capsys)
    assert f"--from {target}" in err and "Fix:" in err
    assert source_versions(lake) == before


def _rogue_nulls(lake: Lake, table: str, row: dict[str, Any], types: dict[str, pa.DataType]) -> None:
    """Append a row through a writer that does not enforce NOT NULL: a raw Parquet file + a Delta log entry."""
    path = lake.runtime.path(lake.source(table))
    data = path / "rogue-writer.parquet"
    pq.write_table(pa.table({c: pa.array([v], types[c]) for c, v in row.items()}), data)
    version = lake.runtime.version(lake.source(table)) + 1
    add = {
        "add": {
            "path": data.name,
            "partitionValues": {},
            "size": data.stat().st_size,
            "modificationTime": int(time.time() * 1000),
            "dataChange": True,
        }
    }
    (path / "_delta_log" / f"{version:020d}.json").write_text(json.dumps(add) + "\n")


def test_nulls_in_a_not_null_source_column_are_a_gate_finding(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    _rogue_nulls(
        lake,
        "dim_hospitals",
        {"hospital_id": 999_001, "name": None, "address": "1 Main St", "phone": None},
        {"hospital_id": pa.int32(), "name": pa.string(), "address": pa.string(), "phone": pa.string()},
    )
    before = lake.final_versions()
    assert lake.cli("run") == ExitCode.GATE
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text and "NullPointerException" not in text
    assert "[null_in_not_null] dim_hospitals.name: 1 rows are NULL" in text
    assert "[null_in_not_null] dim_hospitals.phone: 1 rows are NULL" in text
    assert lake.final_versions() == before


def test_lakehouse_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "lakehouse"
    afile.write_text("not a folder")
    assert cli.main(["gate", "--lakehouse", str(afile)]) == ExitCode.USAGE
    err = _err(capsys)
    assert f"--lakehouse {afile} is not a folder" in err and "Fix:" in err


@pytest.mark.parametrize("run_id", ["x'; DROP TABLE t; --", "../../etc/evil", ".hidden", "a/b", "", "x" * 65, "é"])
def test_hostile_run_ids_are_refused_before_anything_runs(
    lake: Lake, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    before = lake.final_versions()
    assert lake.cli("run", "--run-id", run_id) == ExitCode.USAGE
    err = _err(capsys)
    assert "--run-id" in err and "is not a valid run id" in err
    assert lake.final_versions() == before
    assert not Journal(lake.runtime, load_contract()).lock_holder().get("holder")
    assert not [p for p in (lake.root / "reports").glob("*") if "evil" in p.name or "DROP" in p.name]


def test_a_crash_inside_a_step_never_leaves_the_lock_held(
    lake: Lake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> object:
        raise ZeroDivisionError("an unexpected bug")

    monkeypatch.setattr("anonymizer.pipeline.run_gate", boom)
    journal = Journal(lake.runtime, load_contract())
    for command in ("gate", "run"):
        assert lake.cli(command, "--run-id", f"crash-{command}") == ExitCode.INTERNAL
        err = _err(capsys)
        assert "unexpected ZeroDivisionError" in err and "--debug" in err and "an unexpected bug" not in err
        journal.refresh()
        assert not journal.lock_holder().get("holder"), f"{command} left the lock held"
    # --debug shows the trace
    assert lake.cli("gate", "--debug", "--run-id", "crash-debug") == ExitCode.INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_a_key_file_readable_by_others_is_refused(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = lake.root / "shared.key"
    key_file.write_text(lake.key + "\n")
    key_file.chmod(0o644)
    before = lake.final_versions()
    assert lake.cli("run", "--key-file", str(key_file), key=None) == ExitCode.USAGE
    err = _err(capsys)
    assert f"key file {key_file} is accessible by other users (mode 0644)" in err
    assert f"chmod 600 {key_file}" in err and lake.key not in err
    assert lake.final_versions() == before
    key_file.chmod(0o600)
    assert lake.cli("run", "--key-file", str(key_file), key=None) == 0


def test_unlock_refuses_while_the_holder_lives(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    journal = Journal(lake.runtime, load_contract())
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        journal.acquire("live-run")
        lake.runtime.sql(f"UPDATE {lake.runtime.ref(journal.lock_table)} SET pid = {holder.pid}")
        assert lake.cli("unlock") == ExitCode.BUSY
        err = _err(capsys)
        assert "live-run" in err and "--force" in err
        assert journal.lock_holder()["holder"] == "live-run"
        assert lake.cli("unlock", "--force") == 0
        assert not journal.lock_holder().get("holder")
        journal.acquire("dead-run")
        lake.runtime.sql(f"UPDATE {lake.runtime.ref(journal.lock_table)} SET pid = {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert lake.cli("unlock") == 0  # the holder is dead now: no --force needed
    assert not journal.lock_holder().get("holder")
    assert "released lock held by 'dead-run'" in capsys.readouterr().out


@pytest.mark.slow
def test_two_runs_started_together_on_a_fresh_lakehouse(lake: Lake) -> None:
    """Both create the journal and the lock at the same moment: one runs, the other gets exit 5 (never 1)."""
    import shutil

    contract = load_contract()
    for table in ("_anonymizer_journal", "_anonymizer_lock"):
        shutil.rmtree(lake.runtime.path(f"{contract.target.catalog}.{contract.target.staging_schema}.{table}"))
    marker = lake.root / "paused"
    env = {
        **os.environ,
        "ANONYMIZER_KEY": lake.key,
        # The winner pauses at the check step while holding the lock, so the two always overlap.
        "ANONYMIZER_FAULT_PAUSE": "check",
        "ANONYMIZER_FAULT_MARKER": str(marker),
    }
    cmd = [sys.executable, "-m", "anonymizer.cli", "run", "--lakehouse", str(lake.root)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    try:
        loser = None
        deadline = time.monotonic() + 900  # two fresh JVMs: minutes on a loaded 2-core machine
        while loser is None and time.monotonic() < deadline:
            loser = next((p for p in procs if p.poll() is not None), None)
            time.sleep(0.5)
        assert loser is not None, "neither run finished: both are stuck"
        _, err = loser.communicate()
        assert loser.returncode == ExitCode.BUSY, err[-2000:]
        assert "Traceback" not in err and "another" in err and "Fix:" in err
        winner = next(p for p in procs if p is not loser)
        if winner.poll() is not None:
            pytest.fail(f"the winner should still hold the lock (paused at check): {winner.communicate()[1][-3000:]}")
    finally:
        for p in procs:
            p.kill()
            p.communicate()
