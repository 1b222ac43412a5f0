"""Spark start-up of a fresh process, timed apart from every pipeline step.

``anonymizer run`` is a new process: its wall time includes the Python imports, the JVM launch, the Spark
session (Delta jars, extensions) and the first Delta read (Delta's log replay classes load on first use).
The bench's steps run in one warmed session and never see these costs, so they are measured here in fresh
child processes that build the session exactly as ``anonymizer run`` does (``local_spark()`` with its
defaults, through :func:`anonymizer.context.build_context`'s code path) and read a tiny Delta table.

Each child prints one JSON line; the parent adds the wall time from ``Popen`` to that line (interpreter
start included). The median of ``runs`` children is reported, with every run, so the spread shows.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MARK = "ANONYMIZER_STARTUP "

# Runs in the child: the same imports and session factory as `anonymizer run`, then one tiny Delta read.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from anonymizer.cli import main  # noqa: F401  (what `anonymizer run` imports before the session)
from anonymizer.lakehouse import local_spark
t1 = time.perf_counter()
spark = local_spark()
t2 = time.perf_counter()
spark.read.format("delta").load(sys.argv[1]).count()
t3 = time.perf_counter()
jars = spark.conf.get("spark.jars", "") or ""
packages = spark.conf.get("spark.jars.packages", "") or ""
print(sys.argv[2] + json.dumps({
    "import_s": t1 - t0,
    "session_s": t2 - t1,
    "first_delta_read_s": t3 - t2,
    "delta_jars": "spark.jars.packages (Ivy)" if packages else ("spark.jars (local paths)" if jars else "none"),
}), flush=True)
spark.stop()
"""

KEYS = ("import_s", "session_s", "first_delta_read_s", "to_first_read_s")


def write_probe_table(spark: Any, path: Path) -> Path:
    """A one-row Delta table for the children's first read (written by the parent's session)."""
    spark.range(1).write.format("delta").mode("overwrite").save(str(path))
    return path


def one_start(delta_path: Path, env: dict[str, str] | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """Time one fresh process: imports, session, first Delta read, and the wall time to that read."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(delta_path), MARK],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr or proc.stdout).strip()[-400:]
        raise RuntimeError(f"start-up probe exited {proc.returncode}: {tail}")
    out: dict[str, Any] = json.loads(line[len(MARK) :])
    # wall includes the child's interpreter start and session stop; to_first_read_s stops at the read
    out["to_first_read_s"] = out["import_s"] + out["session_s"] + out["first_delta_read_s"]
    out["process_wall_s"] = wall
    return out


def _summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (*KEYS, "process_wall_s")
    return {
        "runs": len(samples),
        "delta_jars": samples[0]["delta_jars"],
        **{k: round(statistics.median(s[k] for s in samples), 3) for k in keys},
        "samples": [{k: round(s[k], 3) for k in keys} for s in samples],
    }


def measure_startup(delta_path: Path, runs: int) -> dict[str, Any]:
    """Median over ``runs`` fresh processes, each run listed (seconds, 3 decimals).

    When this environment has the JVM class-data-sharing archive (:func:`anonymizer.lakehouse.cds_archive`,
    written by ``make setup``), as many starts without it (``ANONYMIZER_SPARK_CDS=0``) run interleaved with
    those with it, and ``without_class_archive`` holds their summary: the before/after of that cut.
    """
    from anonymizer.lakehouse import cds_archive

    both = cds_archive().is_file()
    with_cds: list[dict[str, Any]] = []
    without: list[dict[str, Any]] = []
    for _ in range(runs):
        with_cds.append(one_start(delta_path))
        if both:
            without.append(one_start(delta_path, {"ANONYMIZER_SPARK_CDS": "0"}))
    out = _summary(with_cds)
    out["class_archive"] = both
    out["without_class_archive"] = _summary(without) if both else None
    return out


def markdown_line(startup: dict[str, Any]) -> str:
    """The report's start-up line: not part of any step, paid once per `anonymizer run` process."""
    text = (
        f"Start-up of a fresh `anonymizer run` process (median of {startup['runs']}, not inside any step): "
        f"imports {startup['import_s']:.2f} s, Spark session {startup['session_s']:.2f} s, first Delta read "
        f"{startup['first_delta_read_s']:.2f} s; {startup['to_first_read_s']:.2f} s to the first read, "
        f"{startup['process_wall_s']:.2f} s process wall incl. interpreter start and stop "
        f"(Delta jars via {startup['delta_jars']}; JVM class archive {'on' if startup.get('class_archive') else 'absent'})."
    )
    off = startup.get("without_class_archive")
    if off:
        text += (
            f" Without the class archive (interleaved): session {off['session_s']:.2f} s, first Delta read "
            f"{off['first_delta_read_s']:.2f} s, {off['to_first_read_s']:.2f} s to the first read."
        )
    return text
