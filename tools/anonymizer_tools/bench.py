"""``anonymizer bench``: what anonymization costs, measured side by side in one run on this machine.

A performance claim is only worth the run that produced it, so every number here comes from one process,
one Spark session and one freshly generated lakehouse, after a warm-up on a tiny lakehouse (JIT, class
loading, the Python worker pool and Delta's first commit are paid before anything is timed). Variants run
interleaved (repeat 1 of every variant, then repeat 2, ...) so that drift of the machine hits all of them
alike, and each reports the median of ``--repeats`` runs.

Variants (all read the same source Delta tables and end with a Delta commit):

``copy``
    the baseline the targets are stated against: each table read and written unchanged
    (``mode("overwrite")`` into an existing Delta table, as the job overwrites existing staging tables).
``seed_baseline``
    the seed project's job (luijkr/data-anonymization-databricks, ``anonymize_data.py``) re-implemented:
    every tagged column transformed by its Spark type with a salted ``sha2`` / Murmur3 ``hash`` and written
    back with an overwrite. Its integer keys are ``hash % 500000 + 500000``, so primary keys collide; the
    number of collisions is counted on the written output.
``udf_baseline``
    the style of per-row tools (Faker/Presidio pipelines): a plain pickled ``@udf`` per PII column doing
    hashlib and a Faker call per row, on a subset of ``dim_patients`` (``--udf-rows``).
``anonymize_udf_subset``
    our engine on that very subset, written the same way: the like-for-like partner of ``udf_baseline``.
``anonymize_engine``
    our engine alone (``anonymize_table`` + the same write as ``copy``), without the pipeline's bookkeeping:
    what the transformation itself costs.
``anonymize``
    the pipeline's anonymize step itself (:func:`anonymizer.pipeline.anonymize_step`: run lock, staging DDL,
    ``anonymize_table``, ``INSERT OVERWRITE``, commit read-back, journal), after an untimed gate of the same
    run id.
``risk``
    the risk step's computation on staging as a scheduled run does it (:func:`anonymizer.risk.assess`): the
    staged measure, suppression when needed, no "before generalization" pass (an unchanged contract shows the
    earlier run's, ``privacy.measure_before``). ``risk_vs_copy`` against ``copy``.
``risk_first``
    the same plus the "before generalization" measure on the source: the first run after a contract change
    (or every run with ``measure_before: every_run``). ``risk_first_vs_copy``.
``content_scan``
    the run's content scan, the very function the scan step calls (:func:`anonymizer.content_scan.scan_contract`):
    the contract's kept and generalized columns (read from the source tables, which have the staging tables'
    sizes; only tables with such a column are read), sampled at ``settings.scan.sample_rows`` per table, plus
    the join against every direct-identifier source value. ``scan_vs_copy`` against ``copy``.
``content_scan_all``
    the worst case, what ``anonymizer scan`` does on a new source: every scannable column of every table
    (keys included), same sampling and join. ``scan_all_vs_copy``.
``floors``
    a part of what the gate, the checks (pairing, staged keys) and the risk step must compute, in the fastest
    plain Spark formulation found (:mod:`anonymizer_tools.floors`),
    each timed as a part: ``floor_<part>_vs_copy`` says whether a target against the copy is reachable on this
    machine, ``step_<step>_vs_floor`` how far the run's step is above its floor.
``full_run``
    :func:`anonymizer.cli.run_pipeline` (gate -> anonymize -> check -> promote), a fresh run id per repeat and
    the same key throughout, as consecutive nightly runs would. Each run's risk facts (its measure and
    suppression seconds, subjects suppressed, k) are kept per run under ``facts``.

Outside the variants (not inside any step):

``startup``
    a fresh process building the session exactly as ``anonymizer run`` does and reading a tiny Delta table,
    ``--startup-runs`` times (:mod:`anonymizer_tools.startup`): what every ``anonymizer run`` pays before its
    gate starts, and what the steps' numbers (one warmed session) never contain.
``wide`` (``--wide-rows N``)
    the nine-table schema of :mod:`anonymizer_tools.wide` (composite keys, a multi-level FK graph) at N
    claims: copy, anonymize step and full run (its per-step breakdown) on it, so that per-table overheads of
    the gate, the checks and promotion show next to a copy of the same tables.

The full run's per-step seconds (``parts``: ``start`` (run lock, recovery, first journal commit), the steps,
``vacuum``, and ``outside_steps``, the rest of the run's wall time, so that the parts add up to it) are also
reported as ratios to the copy of the same tables (``step_<name>_vs_copy``, ``gate_vs_copy``,
``checks_vs_copy``), and with two scales as per-step growth.

Memory: ``peak_rss_mb`` is the high-water mark (``VmHWM``) of the Python driver plus the JVM, reset through
``/proc/<pid>/clear_refs`` before each run, so it is the peak of that run; the JVM keeps heap it has touched,
so the JVM part is never below what earlier runs grew it to. ``peak_tree_rss_mb`` samples the resident size
of the whole process tree (Python workers included) every 0.2 s. Both are None off Linux.

The key is random per bench (never on disk outside the temporary lakehouse); the seed baseline's salt too.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymizer.errors import UsageError

if TYPE_CHECKING:
    from faker import Faker
    from pyspark.sql import DataFrame, SparkSession

    from anonymizer.context import Context
    from anonymizer.contract import Contract
    from anonymizer.runtime import LocalRuntime

TEN_MILLION = 10_000_000
# Timed variants, in the (interleaved) order they run. SCALING_CORE is what the scaling ratio needs.
VARIANTS = (
    "copy",
    "seed_baseline",
    "udf_baseline",
    "anonymize_udf_subset",
    "anonymize_engine",
    "anonymize",
    "risk",
    "risk_first",
    "content_scan",
    "content_scan_all",
    "floors",
    "full_run",
)
SCALING_CORE = frozenset({"copy", "anonymize_engine", "anonymize"})
# A run's details under this key are what it observed (e.g. how many subjects the risk step suppressed), kept per
# run as they are instead of being taken as seconds: they explain a run-to-run swing the medians hide.
FACTS = "facts"
WARMUP_VISITS = 2_000
WARMUP_WIDE_ROWS = 500
# What the wide scenario times: the copy floor, the anonymize step and the full run's per-step breakdown.
WIDE_VARIANTS = ("copy", "anonymize", "full_run")
DATA_SEED = 42
UDF_TABLE = "dim_patients"
# The seed job's integer transform: Murmur3 hash modulo ceil(max_value / 2), shifted up by the same amount.
SEED_INT_MAX_VALUE = 1_000_000
SEED_INT_HALF = (SEED_INT_MAX_VALUE + 1) // 2
SEED_DATE_DAYS = 365
REPO_ROOT = Path(__file__).resolve().parents[2]  # tools/anonymizer_tools/bench.py

# Targets of the issue, reported next to the numbers. (key, description, comparison, threshold)
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("anonymize_vs_copy", "anonymize step / plain copy <= 2.0", "<=", 2.0),
    ("anonymize_vs_copy_stretch", "anonymize step / plain copy <= 1.5 (stretch)", "<=", 1.5),
    ("anonymize_vs_seed", "anonymize step faster than the seed job (ratio < 1)", "<", 1.0),
    ("anonymize_vs_udf", "anonymize >= 5x the per-row UDF rate", ">=", 5.0),
    ("risk_vs_copy", "risk step / plain copy <= 1.0", "<=", 1.0),
    ("full_run_vs_copy", "full run / plain copy <= 3.0", "<=", 3.0),
    ("full_run_vs_copy_stretch", "full run / plain copy <= 2.0 (stretch)", "<=", 2.0),
    ("gate_vs_copy", "gate (in the full run) / plain copy <= 0.5", "<=", 0.5),
    ("checks_vs_copy", "checks (in the full run) / plain copy <= 1.0", "<=", 1.0),
    ("wide_full_run_vs_copy", "wide schema: full run / plain copy <= 3.0", "<=", 3.0),
    ("wide_gate_vs_copy", "wide schema: gate / plain copy <= 0.5", "<=", 0.5),
    ("wide_checks_vs_copy", "wide schema: checks / plain copy <= 1.0", "<=", 1.0),
    ("scan_vs_copy", "content scan of the run / plain copy <= 0.5", "<=", 0.5),
    ("scaling", "10x rows -> <= 11x time (anonymize step; 1.1 x the row factor)", "<=", 1.1),
    ("scaling_full_run", "10x rows -> <= 11x time (full run)", "<=", 1.1),
    ("scaling_steps", "10x rows -> <= 11x time (every step of the full run; worst step)", "<=", 1.1),
    ("generation_rows_per_s", "synthetic generation >= 200k rows/s", ">=", 200_000.0),
    ("synth_seconds", "make synth <= 15 s", "<=", 15.0),
)


def _say(text: str) -> None:
    print(f"bench: {text}", flush=True)


# ------------------------------------------------------------------------------------------------------
# memory: VmHWM of driver + JVM (reset per run) and a sampled RSS of the whole process tree
# ------------------------------------------------------------------------------------------------------


def _status_kb(pid: int, field_name: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` from /proc/*/stat (no psutil dependency)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: the fields after the last ')' are fixed
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class MemoryProbe:
    """Peak resident memory of the driver (Python + JVM child) and of the whole process tree, per run."""

    def __init__(self) -> None:
        self.enabled = Path("/proc/self/status").is_file()
        self.pids = [os.getpid()]
        if self.enabled:
            self.pids += [p for p in _children(os.getpid()) if _comm(p) == "java"]
        self._tree_peak_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reset(self) -> None:
        for pid in self.pids:
            # "5" resets the high-water mark to the current RSS (Linux >= 4.0); harmless where refused.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def _tree_rss_kb(self) -> int:
        pids = [os.getpid(), *_descendants(os.getpid())]
        return sum(_status_kb(p, "VmRSS") or 0 for p in pids)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self._tree_peak_kb = max(self._tree_peak_kb, self._tree_rss_kb())

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, float | None]]:
        """Yields a dict that holds ``peak_rss_mb`` and ``peak_tree_rss_mb`` once the block has ended."""
        out: dict[str, float | None] = {"peak_rss_mb": None, "peak_tree_rss_mb": None}
        if not self.enabled:
            yield out
            return
        self._reset()
        self._tree_peak_kb = self._tree_rss_kb()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        try:
            yield out
        finally:
            self._stop.set()
            self._thread.join()
            self._tree_peak_kb = max(self._tree_peak_kb, self._tree_rss_kb())
            hwm = [_status_kb(p, "VmHWM") for p in self.pids]
            out["peak_rss_mb"] = round(sum(h or 0 for h in hwm) / 1024, 1) if any(hwm) else None
            out["peak_tree_rss_mb"] = round(self._tree_peak_kb / 1024, 1)


# ------------------------------------------------------------------------------------------------------
# the seed project's job, re-implemented (baseline b)
# ------------------------------------------------------------------------------------------------------


def seed_tagged_columns(contract: Contract, table: str) -> list[str]:
    """Columns the seed job would transform: every tagged one, i.e. all but our non-sensitive columns."""
    return [name for name, col in contract.tables[table].columns.items() if col.classification != "non_sensitive"]


def seed_anonymize(df: DataFrame, tagged: list[str], salt: str) -> DataFrame:
    """The seed job's per-type transform: sha2 for strings, a hashed day shift for dates, Murmur3 mod for ints.

    Faithful to the seed, including its flaws: the integer transform maps keys into ~1,000,000 values
    (Murmur3 is signed, so ``hash % 500000 + 500000`` spans 1..999,999) and primary keys collide; one salt
    for every column makes equal values equal across columns and tables.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def salted(name: str) -> Any:
        return F.concat(F.col(name).cast("string"), F.lit(salt))

    exprs = []
    for f in df.schema.fields:
        c = F.col(f.name)
        if f.name not in tagged:
            exprs.append(c)
        elif isinstance(f.dataType, T.StringType):
            exprs.append(F.sha2(salted(f.name), 256).alias(f.name))
        elif isinstance(f.dataType, T.DateType):
            shift = (F.hash(salted(f.name)) % SEED_DATE_DAYS).cast("int") - SEED_DATE_DAYS
            exprs.append(F.date_add(c, shift).alias(f.name))
        elif isinstance(f.dataType, T.IntegerType):
            exprs.append(((F.hash(salted(f.name)) % SEED_INT_HALF).cast("int") + SEED_INT_HALF).alias(f.name))
        else:
            exprs.append(c)
    return df.select(*exprs)


def pk_collisions(df: DataFrame, primary_key: list[str]) -> int:
    """Rows minus distinct primary keys: how many rows lost a unique identity."""
    from pyspark.sql import functions as F

    row = df.agg(
        F.count(F.lit(1)).alias("rows"), F.count_distinct(*[F.col(c) for c in primary_key]).alias("d")
    ).collect()[0]
    return int(row["rows"]) - int(row["d"])


# ------------------------------------------------------------------------------------------------------
# the per-row UDF baseline (c): Faker seeded by a hash, one plain pickled UDF per PII column
# ------------------------------------------------------------------------------------------------------

_FAKER: Faker | None = None


def _faker_for(value: object, salt: str) -> Faker:
    """One Faker per Python worker, re-seeded per row by a hash of the value: the usual "consistent fake"."""
    global _FAKER
    if _FAKER is None:
        from faker import Faker

        _FAKER = Faker("en_US")
    digest = hashlib.sha256(f"{salt}|{value}".encode()).digest()
    _FAKER.seed_instance(int.from_bytes(digest[:8], "big"))
    return _FAKER


def udf_columns(salt: str) -> dict[str, Callable[[object], object]]:
    """Per-column row functions of dim_patients, in the style of Faker-based anonymizers."""
    import datetime as dt

    def fake_id(v: object) -> object:
        return None if v is None else _faker_for(v, salt).random_int(1, 2**31 - 1)

    def fake_name(v: object) -> object:
        return None if v is None else _faker_for(v, salt).name()

    def fake_dob(v: object) -> object:
        return None if v is None else _faker_for(v, salt).date_between(dt.date(1935, 1, 1), dt.date(2007, 12, 31))

    def fake_ssn(v: object) -> object:
        return None if v is None else _faker_for(v, salt).ssn()

    def fake_address(v: object) -> object:
        return None if v is None else str(_faker_for(v, salt).address()).replace("\n", ", ")

    return {"patient_id": fake_id, "name": fake_name, "dob": fake_dob, "ssn": fake_ssn, "address": fake_address}


def udf_anonymize(df: DataFrame, salt: str) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    types = {"patient_id": T.IntegerType(), "dob": T.DateType()}
    fns = udf_columns(salt)
    exprs = []
    for f in df.schema.fields:
        fn = fns.get(f.name)
        if fn is None:
            exprs.append(F.col(f.name))
        else:
            # useArrow=False: the plain pickled row-at-a-time UDF such tools use.
            udf = F.udf(fn, types.get(f.name, T.StringType()), useArrow=False)
            exprs.append(udf(F.col(f.name)).alias(f.name))
    return df.select(*exprs)


# ------------------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------------------


@dataclass
class Variant:
    """One timed thing. ``setup``/``teardown`` run around each timed ``run`` without being billed."""

    name: str
    run: Callable[[], dict[str, Any] | None]  # returns extra per-run details (per-table or per-step seconds)
    rows: int
    setup: Callable[[], None] = lambda: None
    teardown: Callable[[], None] = lambda: None
    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    peak_tree_rss_mb: list[float] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)  # per run, as returned under FACTS (not timed)

    def summary(self) -> dict[str, Any]:
        median = statistics.median(self.seconds)
        out: dict[str, Any] = {
            "seconds": round(median, 3),
            "runs": [round(s, 3) for s in self.seconds],
            "rows": self.rows,
            "rows_per_s": round(self.rows / median, 1) if median > 0 else None,
            "peak_rss_mb": max(self.peak_rss_mb) if self.peak_rss_mb else None,
            "peak_tree_rss_mb": max(self.peak_tree_rss_mb) if self.peak_tree_rss_mb else None,
        }
        if self.details and any(self.details):
            keys = list(dict.fromkeys(k for d in self.details for k in d))  # first seen: the run's order
            out["parts"] = {k: round(statistics.median([d.get(k, 0.0) for d in self.details]), 3) for k in keys}
        if self.facts:
            out["facts"] = self.facts
        return out


def _settle(spark: SparkSession) -> None:
    """Flush written files and collect garbage on both sides before a timed run: one run's leftovers are not
    billed to the next.

    Why the flush: a variant that writes (the copy writes 12M rows at 10M) leaves dirty pages that the kernel
    writes back over the following seconds; the next variant paid for that (the 10M content scan measured
    4.65 s right after a copy against 3.65 s after a pause, in one process).
    """
    os.sync()
    gc.collect()
    with contextlib.suppress(Exception):
        spark.sparkContext._jvm.System.gc()  # type: ignore[union-attr]


def _timed(variant: Variant, probe: MemoryProbe, spark: SparkSession) -> float:
    variant.setup()
    _settle(spark)
    with probe.measure() as mem:
        started = time.perf_counter()
        details = variant.run() or {}
        took = time.perf_counter() - started
    variant.teardown()
    if FACTS in details:
        variant.facts.append(details.pop(FACTS))
    variant.seconds.append(took)
    variant.details.append(details)
    if mem["peak_rss_mb"] is not None:
        variant.peak_rss_mb.append(mem["peak_rss_mb"])
    if mem["peak_tree_rss_mb"] is not None:
        variant.peak_tree_rss_mb.append(mem["peak_tree_rss_mb"])
    return took


# ------------------------------------------------------------------------------------------------------
# one lakehouse at one scale
# ------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    """Everything that stays the same across scales: session, contract, key, salt, probe, options."""

    spark: SparkSession
    contract: Contract
    key_text: str
    salt: str
    probe: MemoryProbe
    repeats: int
    udf_rows: int
    workdir: Path
    verbose: bool = False
    precreate: bool = True  # write empty outputs first, so timed runs overwrite existing tables
    scenario: str = "medical"  # or "wide": anonymizer_tools.wide's nine tables; the size is then claims
    contract_path: Path | None = None  # the contract file the pipeline variants load (None: packaged)

    def runtime(self, lakehouse: Path) -> LocalRuntime:
        from anonymizer.runtime import LocalRuntime

        return LocalRuntime(self.spark, lakehouse)

    def context(self, lakehouse: Path) -> Context:
        from anonymizer.context import Options, build_context

        key_file = lakehouse / "anonymizer.key"
        if not key_file.exists():
            key_file.write_text(self.key_text + "\n")
            key_file.chmod(0o600)
        return build_context(
            Options(
                contract=None if self.contract_path is None else str(self.contract_path),
                lakehouse=str(lakehouse),
                key_file=str(key_file),
                report_dir=str(lakehouse / "reports"),
            )
        )

    def log(self) -> Any:
        from anonymizer.pipeline import StepLog

        return StepLog((lambda text: print(f"bench:   {text}", flush=True)) if self.verbose else (lambda _t: None))

    def generate(self, lakehouse: Path, visits: int) -> tuple[float, dict[str, int]]:
        from anonymizer_tools.generate import Sizes, generate

        if lakehouse.exists():
            shutil.rmtree(lakehouse)
        lakehouse.mkdir(parents=True)
        runtime = self.runtime(lakehouse)
        started = time.perf_counter()
        progress = (lambda t: _say(t.strip())) if self.verbose else (lambda _t: None)
        if self.scenario == "wide":
            from anonymizer_tools.wide import generate_wide

            counts = generate_wide(runtime, self.contract, visits, DATA_SEED, lakehouse / "_scratch", progress)
            return time.perf_counter() - started, counts
        counts = generate(
            runtime,
            self.contract,
            Sizes.for_visits(visits),
            DATA_SEED,
            lakehouse / "_scratch",
            progress=progress,
        )
        return time.perf_counter() - started, counts

    # One closure per timed variant, declared side by side so they share setup: a flat table, not nested logic.
    def variants(  # noqa: C901
        self, lakehouse: Path, counts: dict[str, int], only: frozenset[str] | None = None
    ) -> list[Variant]:
        """The timed variants over one generated lakehouse (outputs go to ``<lakehouse>/_bench``)."""
        from anonymizer.cli import run_pipeline
        from anonymizer.engine import anonymize_table
        from anonymizer.keys import Keyring
        from anonymizer.pipeline import anonymize_step, gate_step, journal_for, new_run_id

        runtime = self.runtime(lakehouse)
        contract = self.contract
        ctx = self.context(lakehouse)
        keyring = Keyring.from_text(self.key_text)
        out_root = lakehouse / "_bench"
        tables = contract.dependency_order()
        total = sum(counts[t] for t in tables)
        wanted = only or frozenset(VARIANTS)

        def write(df: DataFrame, path: Path) -> None:
            df.write.format("delta").mode("overwrite").save(str(path))

        def per_table(kind: str, transform: Callable[[DataFrame, str], DataFrame]) -> Variant:
            def run() -> dict[str, Any]:
                parts = {}
                for table in tables:
                    started = time.perf_counter()
                    write(transform(runtime.read(contract.source_name(table)), table), out_root / kind / table)
                    parts[table] = time.perf_counter() - started
                return parts

            # Every timed run then overwrites an existing Delta table, as the job overwrites its staging tables.
            for table in tables if self.precreate else ():
                write(transform(runtime.read(contract.source_name(table)).limit(0), table), out_root / kind / table)
            return Variant(kind, run, total)

        def on_subset(kind: str, transform: Callable[[DataFrame], DataFrame]) -> Variant:
            subset_path = out_root / "udf_subset_source"
            if not (subset_path / "_delta_log").is_dir():
                write(runtime.read(contract.source_name(UDF_TABLE)).limit(self.udf_rows), subset_path)

            def subset() -> DataFrame:
                return self.spark.read.format("delta").load(str(subset_path))

            def run() -> None:
                write(transform(subset()), out_root / kind)

            if self.precreate:
                write(transform(subset().limit(0)), out_root / kind)
            return Variant(kind, run, subset().count())

        def anonymize() -> Variant:
            run_ids: list[str] = []

            def gate_first() -> None:
                # The step refuses to run without a passed gate of the same run id: gate untimed, step timed.
                run_ids.append(new_run_id())
                gate_step(ctx, run_ids[-1], self.log())

            def run() -> dict[str, Any]:
                log = self.log()
                anonymize_step(ctx, run_ids[-1], log)
                return {"tables": log.durations.get("anonymize", 0.0)}

            def release() -> None:
                journal_for(ctx).release(run_ids[-1])  # the next repeat is another run: free the run lock

            return Variant("anonymize", run, total, setup=gate_first, teardown=release)

        def staged_first() -> None:
            # The risk step measures staging: anonymize it once, untimed, when no earlier variant did.
            if not runtime.exists(contract.staging_name(tables[0])):
                run_id = new_run_id()
                gate_step(ctx, run_id, self.log())
                anonymize_step(ctx, run_id, self.log())
                journal_for(ctx).release(run_id)

        def risk(first: bool) -> Variant:
            from anonymizer.risk import assess

            def run() -> dict[str, Any]:
                result = assess(
                    contract,
                    lambda t: runtime.read(contract.staging_name(t)),
                    (lambda t: runtime.read(contract.source_name(t))) if first else None,
                    log=lambda _t: None,
                )
                return {k: v for k, v in result.seconds.items() if k != "total"}

            return Variant("risk_first" if first else "risk", run, total, setup=staged_first)

        def content_scan(every_column: bool) -> Variant:
            from anonymizer.content_scan import SCANNED_FAMILIES, scan_contract, scanned_columns

            def every(c: Contract, t: str) -> tuple[str, ...]:
                return tuple(n for n, col in c.tables[t].columns.items() if col.sql_type.family in SCANNED_FAMILIES)

            def run() -> dict[str, Any]:
                result = scan_contract(
                    runtime,
                    contract,
                    lambda t: (runtime.read(contract.source_name(t)), counts[t]),
                    columns=every if every_column else scanned_columns,
                )
                return {
                    "findings": len(result.findings),
                    "sampled_values": sum(sum(c.values()) for c in result.sampled.values()),
                }

            return Variant("content_scan_all" if every_column else "content_scan", run, total)

        def floors() -> Variant:
            from anonymizer_tools import floors as floor

            copies = out_root / "floor_copy"

            def source(table: str) -> DataFrame:
                return runtime.read(contract.source_name(table))

            def copied(table: str) -> DataFrame:
                return self.spark.read.format("delta").load(str(copies / table))

            def staged(table: str) -> DataFrame:
                return runtime.read(contract.staging_name(table))

            def ready() -> None:
                staged_first()
                for table in tables:  # the pairing floor's partner: a same-sized copy of each staged table
                    if not (copies / table / "_delta_log").is_dir():
                        write(staged(table), copies / table)

            def run() -> dict[str, Any]:
                parts = {}
                for part, work in (
                    ("gate", lambda: floor.gate(contract, source)),
                    ("checks", lambda: floor.checks(contract, staged, copied)),
                    ("risk", lambda: floor.risk(contract, staged)),
                ):
                    started = time.perf_counter()
                    work()
                    parts[part] = time.perf_counter() - started
                return parts

            return Variant("floors", run, total, setup=ready)

        def full_run() -> Variant:
            def run() -> dict[str, Any]:
                log = self.log()
                started = time.perf_counter()
                report = run_pipeline(ctx, new_run_id(), log)
                took = time.perf_counter() - started
                if report.get("status") != "published":
                    raise RuntimeError(f"full run ended {report.get('status')!r}; see {ctx.lakehouse / 'reports'}")
                # What no step times (journal commits between steps, promote's preparation, the run report), so
                # that the parts add up to the run.
                outside = round(took - sum(log.durations.values()), 3)
                return {**log.durations, "outside_steps": outside, FACTS: run_facts(report)}

            return Variant("full_run", run, total)

        tagged = {t: seed_tagged_columns(contract, t) for t in tables}
        builders: dict[str, Callable[[], Variant]] = {
            "copy": lambda: per_table("copy", lambda df, _t: df),
            "seed_baseline": lambda: per_table("seed_baseline", lambda df, t: seed_anonymize(df, tagged[t], self.salt)),
            "udf_baseline": lambda: on_subset("udf_baseline", lambda df: udf_anonymize(df, self.salt)),
            "anonymize_udf_subset": lambda: on_subset(
                "anonymize_udf_subset", lambda df: anonymize_table(df, contract, UDF_TABLE, keyring)
            ),
            "anonymize_engine": lambda: per_table(
                "anonymize_engine", lambda df, t: anonymize_table(df, contract, t, keyring)
            ),
            "anonymize": anonymize,
            "risk": lambda: risk(False),
            "risk_first": lambda: risk(True),
            "content_scan": lambda: content_scan(False),
            "content_scan_all": lambda: content_scan(True),
            "floors": floors,
            "full_run": full_run,
        }
        return [builders[name]() for name in VARIANTS if name in wanted]

    def seed_collisions(self, lakehouse: Path) -> dict[str, int]:
        out = {}
        for table in self.contract.dependency_order():
            df = self.spark.read.format("delta").load(str(lakehouse / "_bench" / "seed_baseline" / table))
            out[table] = pk_collisions(df, list(self.contract.tables[table].primary_key))
        return out

    def warm_up(self, lakehouse: Path, only: frozenset[str] | None = None) -> float:
        """Generate a tiny lakehouse and run every (chosen) variant once on it: nothing of this is reported."""
        started = time.perf_counter()
        _, counts = self.generate(lakehouse, WARMUP_WIDE_ROWS if self.scenario == "wide" else WARMUP_VISITS)
        for variant in self.variants(lakehouse, counts, only):
            variant.setup()
            variant.run()
            variant.teardown()
        return time.perf_counter() - started

    def scale(self, visits: int, only: frozenset[str] | None = None) -> dict[str, Any]:
        """Generate ``visits`` and time the variants (``only``: a subset of them) on it."""
        lakehouse = self.workdir / (f"wide-{visits}" if self.scenario == "wide" else f"visits-{visits}")
        unit = "claims (wide schema)" if self.scenario == "wide" else "visits"
        load_before = _loadavg()
        _say(f"{visits:,} {unit}: generating")
        _settle(self.spark)
        gen_seconds, counts = self.generate(lakehouse, visits)
        rows = sum(counts.values())
        _say(f"{visits:,} {unit}: generated {rows:,} rows in {gen_seconds:.1f} s ({rows / gen_seconds:,.0f} rows/s)")
        variants = self.variants(lakehouse, counts, only)
        for rep in range(self.repeats):
            for variant in variants:
                took = _timed(variant, self.probe, self.spark)
                _say(f"{visits:,} {unit}: repeat {rep + 1}/{self.repeats} {variant.name:<21} {took:7.2f} s")
        results = {v.name: v.summary() for v in variants}
        collisions = self.seed_collisions(lakehouse) if "seed_baseline" in results else None
        shutil.rmtree(lakehouse, ignore_errors=True)
        return {
            "scenario": self.scenario,
            "visits": visits,
            "rows": {**counts, "total": rows},
            "generation": {"seconds": round(gen_seconds, 3), "rows": rows, "rows_per_s": round(rows / gen_seconds, 1)},
            "results": results,
            "seed_pk_collisions": None if collisions is None else sum(collisions.values()),
            "seed_pk_collisions_by_table": collisions,
            "ratios": ratios(results),
            # other processes on the machine distort timings: the 1-minute load before and after says if any ran
            "load_average_1m": {"before": load_before, "after": _loadavg()},
        }


def _loadavg() -> float | None:
    with contextlib.suppress(OSError, AttributeError):
        return round(os.getloadavg()[0], 2)
    return None


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Time ratios over the same rows, and per-row rate ratios against the UDF subset.

    ``anonymize_vs_udf`` = (UDF seconds per row) / (anonymize-step seconds per row), i.e. how many times more
    rows per second the anonymize step processes (all four tables) than the per-row UDF tool does on its
    ``dim_patients`` subset. ``anonymize_vs_udf_same_rows`` compares our engine with the UDF on the very same
    subset rows and columns (the stricter, like-for-like comparison).
    """

    def per_row(name: str) -> float:
        return float(results[name]["seconds"]) / float(results[name]["rows"])

    wanted = {  # ratio: (numerator, denominator, digits), each a per-row time (= time ratio on equal rows)
        "anonymize_vs_copy": ("anonymize", "copy", 3),
        "anonymize_vs_seed": ("anonymize", "seed_baseline", 3),
        "anonymize_vs_udf": ("udf_baseline", "anonymize", 2),
        "full_run_vs_copy": ("full_run", "copy", 3),
        "risk_vs_copy": ("risk", "copy", 3),
        "risk_first_vs_copy": ("risk_first", "copy", 3),
        "engine_vs_copy": ("anonymize_engine", "copy", 3),
        "scan_vs_copy": ("content_scan", "copy", 3),
        "scan_all_vs_copy": ("content_scan_all", "copy", 3),
        "anonymize_vs_udf_same_rows": ("udf_baseline", "anonymize_udf_subset", 2),
    }
    out = {
        name: round(per_row(a) / per_row(b), digits)
        for name, (a, b, digits) in wanted.items()
        if a in results and b in results
    }
    return out | step_ratios(results) | floor_ratios(results)


def floor_ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each floor (:mod:`anonymizer_tools.floors`) against the copy, and each step against its floor.

    ``floor_<part>_vs_copy`` says whether a target against the copy is reachable at all on this engine and
    machine (a floor above the target: we know no formulation that meets it); ``step_<step>_vs_floor`` says
    how much of a step is above its floor. ``full_run_floor_vs_copy`` adds up the run's data floor.
    """
    floor = (results.get("floors") or {}).get("parts") or {}
    copy = (results.get("copy") or {}).get("seconds")
    if not floor or not copy:
        return {}
    from anonymizer_tools.floors import full_run_floor

    out = {f"floor_{part}_vs_copy": round(float(secs) / float(copy), 3) for part, secs in floor.items()}
    steps = (results.get("full_run") or {}).get("parts") or {}
    run_floor = full_run_floor(floor, float(copy), steps.get("promote"))
    out["full_run_floor_vs_copy"] = round(run_floor / float(copy), 3)
    for step, part in (("gate", "gate"), ("check", "checks"), ("risk", "risk")):
        if steps.get(step) and floor.get(part):
            out[f"step_{step}_vs_floor"] = round(float(steps[step]) / float(floor[part]), 3)
    if "full_run" in results:
        out["full_run_vs_floor"] = round(float(results["full_run"]["seconds"]) / run_floor, 3)
    return out


def run_facts(report: dict[str, Any]) -> dict[str, Any]:
    """What one full run's report says about the work its risk step did, whose time depends on it.

    The risk step re-measures after suppression, so a key that leaves a few more subjects in small classes
    costs seconds; the bench's lakehouse is deleted afterwards, so the numbers are kept here, per run.
    """
    risk = report.get("risk") or {}
    suppression = risk.get("suppression") or {}
    applied = bool(suppression.get("applied"))
    return {
        "risk_seconds": risk.get("seconds"),
        "k_min_observed": (risk.get("after") or {}).get("k_min_observed"),
        "suppressed_subjects": suppression.get("subjects", 0) if applied else 0,
        "suppressed_cells": suppression.get("cells", 0) if applied else 0,
    }


def step_ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each step of the full run against the copy of the same tables (the run reads and writes those rows).

    ``step_<name>_vs_copy`` for every step the run logged (gate, anonymize, check, risk, scan, promote,
    vacuum), plus ``gate_vs_copy`` and ``checks_vs_copy``, the issue's targets' names for two of them.
    """
    parts = (results.get("full_run") or {}).get("parts") or {}
    copy = (results.get("copy") or {}).get("seconds")
    if not parts or not copy:
        return {}
    out = {f"step_{step}_vs_copy": round(float(secs) / float(copy), 3) for step, secs in parts.items()}
    for alias, step in (("gate_vs_copy", "gate"), ("checks_vs_copy", "check")):
        if f"step_{step}_vs_copy" in out:
            out[alias] = out[f"step_{step}_vs_copy"]
    return out


# ------------------------------------------------------------------------------------------------------
# make synth, machine facts, targets, output
# ------------------------------------------------------------------------------------------------------


def measure_synth(outdir: Path) -> tuple[float | None, str]:
    """Wall time of ``python -m infra.synth`` into a scratch outdir (the repo's cdktf.out is left alone)."""
    if not (REPO_ROOT / "infra" / "synth.py").is_file():
        return None, "infra/synth.py not found (bench run outside the repository)"
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "infra.synth", "--outdir", str(outdir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        return None, f"infra.synth exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return took, "python -m infra.synth --outdir <tmp>"


def git_revision() -> str | None:
    """The commit the numbers belong to (with ``+dirty`` when the job's sources differ from it)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "jobs/src", "tools"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("+dirty" if dirty else "")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_facts(spark: SparkSession) -> dict[str, Any]:
    mem_kb = _status_kb_meminfo()
    java = None
    with contextlib.suppress(Exception):
        java = str(spark.sparkContext._jvm.System.getProperty("java.version"))  # type: ignore[union-attr]
    return {
        "git": git_revision(),
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "java": java,
        "spark": spark.version,
        "spark_master": spark.sparkContext.master,
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "driver_memory": spark.conf.get("spark.driver.memory", None),
        **{name: _version(name) for name in ("delta-spark", "pandas", "pyarrow", "numpy", "Faker", "anonymizer")},
    }


def _status_kb_meminfo() -> int | None:
    with contextlib.suppress(OSError):
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        return int(match.group(1)) if match else None
    return None


def scaling(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Time growth from one scale to a larger one; linear growth is a ratio equal to the row factor."""
    factor = large["rows"]["total"] / small["rows"]["total"]

    def growth(name: str) -> float | None:
        if name not in small["results"] or name not in large["results"]:
            return None  # not timed at both scales (--scaling-core / --variants)
        ratio: float = round(large["results"][name]["seconds"] / small["results"][name]["seconds"], 3)
        return ratio

    small_parts = small["results"].get("full_run", {}).get("parts") or {}
    large_parts = large["results"].get("full_run", {}).get("parts") or {}
    steps = {  # per step of the full run; a step that took ~0 s at the small scale has no meaningful growth
        step: round(large_parts[step] / small_parts[step], 3)
        for step in small_parts
        if step in large_parts and small_parts[step] > 0
    }
    return {
        "from_visits": small["visits"],
        "to_visits": large["visits"],
        "rows_factor": round(factor, 3),
        **{f"{name}_time_ratio": growth(name) for name in ("copy", "anonymize", "anonymize_engine", "full_run")},
        "step_time_ratios": steps,
        "allowed_time_ratio": round(1.1 * factor, 3),
    }


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and pass/miss (None when not measured in this invocation)."""
    r = report["ratios"]
    wide = (report.get("wide") or {}).get("ratios") or {}
    scale = report.get("scaling")
    growth = scale.get("anonymize_time_ratio") if scale else None
    steps = (scale or {}).get("step_time_ratios") or {}
    values: dict[str, float | None] = {
        "anonymize_vs_copy": r.get("anonymize_vs_copy"),
        "anonymize_vs_copy_stretch": r.get("anonymize_vs_copy"),
        "anonymize_vs_seed": r.get("anonymize_vs_seed"),
        "anonymize_vs_udf": r.get("anonymize_vs_udf"),
        "risk_vs_copy": r.get("risk_vs_copy"),
        "full_run_vs_copy": r.get("full_run_vs_copy"),
        "full_run_vs_copy_stretch": r.get("full_run_vs_copy"),
        "gate_vs_copy": r.get("gate_vs_copy"),
        "checks_vs_copy": r.get("checks_vs_copy"),
        "wide_full_run_vs_copy": wide.get("full_run_vs_copy"),
        "wide_gate_vs_copy": wide.get("gate_vs_copy"),
        "wide_checks_vs_copy": wide.get("checks_vs_copy"),
        "scan_vs_copy": r.get("scan_vs_copy"),
        "scaling": growth,
        "scaling_full_run": scale.get("full_run_time_ratio") if scale else None,
        "scaling_steps": max(steps.values()) if steps else None,
        "generation_rows_per_s": report["generation"]["rows_per_s"],
        "synth_seconds": report.get("synth_seconds"),
    }
    out = []
    for key, text, op, threshold in TARGETS:
        value = values[key]
        if key.startswith("scaling"):  # allowed growth is 1.1 x the row factor: x11 time for x10 rows
            threshold = round(threshold * scale["rows_factor"], 3) if scale else threshold
        met = (
            None
            if value is None
            else (value <= threshold if op == "<=" else value < threshold if op == "<" else value >= threshold)
        )
        out.append({"target": key, "description": text, "threshold": f"{op} {threshold:g}", "value": value, "met": met})
    return out


VARIANT_LABELS = {
    "copy": "(a) plain Delta copy (the baseline)",
    "seed_baseline": "(b) seed job (sha2 / Murmur3, re-implemented)",
    "udf_baseline": "(c) per-row Python UDF + Faker (subset)",
    "anonymize_udf_subset": "(c') our engine on the same subset",
    "anonymize_engine": "(d') our engine only + Delta write",
    "anonymize": "(d) our anonymize step",
    "risk": "(f) our risk step's computation on staging as scheduled (measure + suppression; before reused)",
    "risk_first": "(f') the risk step after a contract change (plus the before-generalization measure)",
    "full_run": "(e) our full run (gate, anonymize, check, risk, scan, promote)",
    "content_scan": "(s) the run's content scan (kept/generalized columns, sampled, source-value join)",
    "content_scan_all": "(s') content scan of every column of every table (worst case)",
    "floors": "(z) floors: part of what the gate, the checks and the risk step must compute (anonymizer_tools.floors)",
}


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Anonymization benchmark",
        "",
        f"Command: `{report['command']}` (code at {report['machine'].get('git')})",
        "",
    ]
    m = report["machine"]
    lines += [
        f"Machine: {m['nproc']} cores, {m['ram_gib']} GiB RAM, {m['platform']}; Python {m['python']}, "
        f"Java {m['java']}, Spark {m['spark']} ({m['spark_master']}, {m['shuffle_partitions']} shuffle "
        f"partitions, driver {m['driver_memory']}), delta-spark {m['delta-spark']}, pandas {m['pandas']}, "
        f"pyarrow {m['pyarrow']}, numpy {m['numpy']}, Faker {m['Faker']}.",
        "",
    ]
    lines += [
        f"Median of {report['repeats']} interleaved runs after a warm-up; peak RSS = driver Python + JVM "
        "high-water mark per run (max over runs); tree RSS adds the Python workers (sampled).",
        "",
    ]
    if report.get("startup"):
        from anonymizer_tools.startup import markdown_line

        lines += ["## Start-up (fresh process, outside every step)", "", markdown_line(report["startup"]), ""]
    scales = [*report["scales"], *([report["wide"]] if report.get("wide") else [])]
    for scale in scales:
        rows = scale["rows"]
        heading = (
            f"## Wide schema: {scale['visits']:,} claims ({rows['total']:,} rows in {len(rows) - 1} tables)"
            if scale.get("scenario") == "wide"
            else f"## {scale['visits']:,} visits ({rows['total']:,} rows in four tables)"
        )
        lines += [
            heading,
            "",
            "| variant | seconds (median) | runs | rows | rows/s | peak RSS MB | peak tree RSS MB |",
            "|---|---:|---|---:|---:|---:|---:|",
        ]
        for name, res in scale["results"].items():
            runs = ", ".join(f"{s:.2f}" for s in res["runs"])
            lines.append(
                f"| {VARIANT_LABELS.get(name, name)} | {res['seconds']:.2f} | {runs} | {res['rows']:,} | "
                f"{_fmt(res['rows_per_s'], 0)} | {_fmt(res['peak_rss_mb'], 0)} | "
                f"{_fmt(res['peak_tree_rss_mb'], 0)} |"
            )
        lines += ["", "| ratio | value |", "|---|---:|"]
        lines += [f"| {k} | {v:g} |" for k, v in scale["ratios"].items() if not k.startswith("step_")]
        run_parts = (scale["results"].get("full_run") or {}).get("parts") or {}
        if run_parts and "copy" in scale["results"]:
            lines += ["", "Full run, step by step, against the plain copy of the same tables and its floor:", ""]
            lines += ["| step | seconds (median) | x copy | x its floor |", "|---|---:|---:|---:|"]
            lines += [
                f"| {step} | {secs:.2f} | {_fmt(scale['ratios'].get(f'step_{step}_vs_copy'), 3)} | "
                f"{_fmt(scale['ratios'].get(f'step_{step}_vs_floor'), 2)} |"
                for step, secs in run_parts.items()
            ]
        gen = scale["generation"]
        lines.append("")
        if scale.get("seed_pk_collisions_by_table") is not None:
            coll = ", ".join(f"{t} {n:,}" for t, n in scale["seed_pk_collisions_by_table"].items())
            lines.append(f"Seed job primary-key collisions: **{scale['seed_pk_collisions']:,}** ({coll}).")
        lines += [
            f"Synthetic generation: {gen['rows']:,} rows in {gen['seconds']:.2f} s ({gen['rows_per_s']:,.0f} rows/s)."
        ]
        load = scale.get("load_average_1m")
        if load:
            lines.append(
                f"1-minute load average before/after: {load['before']} / {load['after']} "
                "(the bench alone keeps it near 2 on 2 cores; more means other processes competed)."
            )
        lines.append("")
        parts = {n: r["parts"] for n, r in scale["results"].items() if "parts" in r}
        if parts:
            lines += ["Where the time goes (median seconds per table or step):", ""]
            lines += [f"- {n}: " + ", ".join(f"{k} {v:.2f}" for k, v in p.items()) for n, p in parts.items()]
            lines.append("")
    if report.get("scaling"):
        s = report["scaling"]
        grown = ", ".join(
            f"{VARIANT_LABELS[n]} x{s[f'{n}_time_ratio']:g}"
            for n in ("copy", "anonymize_engine", "anonymize", "full_run")
            if s.get(f"{n}_time_ratio") is not None
        )
        lines += [
            f"## Scaling {s['from_visits']:,} -> {s['to_visits']:,} visits (rows x{s['rows_factor']:g})",
            "",
            f"Time ratio: {grown} (allowed x{s['allowed_time_ratio']:g}).",
            "",
        ]
        if s.get("step_time_ratios"):
            per_step = ", ".join(f"{k} x{v:g}" for k, v in s["step_time_ratios"].items())
            lines += [f"Full run per step: {per_step}.", ""]
    lines += ["## Targets", "", "| target | value | met |", "|---|---:|---|"]
    for t in report["targets"]:
        met = "not measured" if t["met"] is None else ("pass" if t["met"] else "MISS")
        lines.append(f"| {t['description']} | {_fmt(t['value'], 2)} | {met} |")
    if report.get("synth_note"):
        lines += ["", f"make synth: {report['synth_note']}."]
    return "\n".join(lines) + "\n"


def command_line(args: argparse.Namespace) -> str:
    parts = ["anonymizer bench", f"--visits {args.visits}", f"--repeats {args.repeats}", f"--udf-rows {args.udf_rows}"]
    if getattr(args, "scale_10m", False):
        parts.append("--scale-10m")
    parts += [f"--also-visits {v}" for v in getattr(args, "also_visits", None) or []]
    if getattr(args, "variants", None):
        parts.append(f"--variants {args.variants}")
    if getattr(args, "wide_rows", 0):
        parts.append(f"--wide-rows {args.wide_rows}")
    parts.append(f"--startup-runs {getattr(args, 'startup_runs', 0)}")
    for flag in ("skip_synth", "scaling_core", "no_warmup"):
        if getattr(args, flag, False):
            parts.append("--" + flag.replace("_", "-"))
    return " ".join(parts)


def _chosen_variants(text: str | None) -> frozenset[str] | None:
    """``--variants a,b``: time only these (every scale); None = all."""
    if not text:
        return None
    chosen = frozenset(v.strip() for v in text.split(",") if v.strip())
    unknown = sorted(chosen - set(VARIANTS))
    if unknown:
        raise UsageError(f"--variants: unknown {unknown}", fix=f"choose from {', '.join(VARIANTS)}")
    return chosen


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; writes ``--json`` and a Markdown table (``--markdown``, default next to the JSON)."""
    if args.repeats < 1 or args.visits < 1 or args.udf_rows < 1:
        raise UsageError("--visits, --repeats and --udf-rows must be positive", fix="pass numbers >= 1")
    if getattr(args, "startup_runs", 0) < 0 or getattr(args, "wide_rows", 0) < 0:
        raise UsageError("--startup-runs and --wide-rows must not be negative", fix="pass 0 to skip, or N >= 1")
    extra = list(getattr(args, "also_visits", None) or [])
    if getattr(args, "scale_10m", False):
        extra.append(TEN_MILLION)
    scales = [args.visits, *[v for v in extra if v != args.visits]]
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="anonymizer-bench-") if own_workdir else args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json)
    md_path = Path(args.markdown) if args.markdown else json_path.with_suffix(".md")

    synth_seconds: float | None = None
    synth_note = "skipped (--skip-synth)"
    if not getattr(args, "skip_synth", False):
        _say("timing make synth (python -m infra.synth) before Spark starts")
        synth_seconds, synth_note = measure_synth(workdir / "cdktf.out")
    from pyspark.sql import SparkSession

    from anonymizer.contract import load_contract
    from anonymizer.keys import generate_key_text
    from anonymizer.lakehouse import local_spark

    own_session = SparkSession.getActiveSession() is None
    spark = local_spark("anonymizer-bench")
    try:
        bench = Bench(
            spark=spark,
            contract=load_contract(),
            key_text=generate_key_text(),
            salt=secrets.token_hex(16),
            probe=MemoryProbe(),
            repeats=args.repeats,
            udf_rows=args.udf_rows,
            workdir=workdir,
            verbose=bool(getattr(args, "verbose", False)),
            precreate=not getattr(args, "no_warmup", False),
        )
        chosen = _chosen_variants(getattr(args, "variants", None))
        startup: dict[str, Any] | None = None
        startup_runs = int(getattr(args, "startup_runs", 0) or 0)
        if startup_runs > 0:
            from anonymizer_tools.startup import measure_startup, write_probe_table

            _say(f"start-up: {startup_runs} fresh processes building the session as `anonymizer run` does")
            startup = measure_startup(write_probe_table(spark, workdir / "startup_probe"), startup_runs)
            _say(f"start-up: {startup['to_first_read_s']:.2f} s to the first Delta read (median)")
        if getattr(args, "no_warmup", False):
            _say("no warm-up (--no-warmup): the first runs pay JIT and first-commit costs")
        else:
            _say(f"warm-up on {WARMUP_VISITS:,} visits")
            _say(f"warm-up done in {bench.warm_up(workdir / 'warmup', chosen):.1f} s")
        core = SCALING_CORE & (chosen or frozenset(VARIANTS)) if getattr(args, "scaling_core", False) else chosen
        per_scale: list[dict[str, Any]] = []
        for i, visits in enumerate(scales):
            per_scale.append(bench.scale(visits, chosen if i == 0 else core))
            # written after every scale, so a larger scale that fails leaves the smaller one's numbers behind
            report = build_report(args, per_scale, synth_seconds, synth_note, machine_facts(spark), startup=startup)
            write_outputs(report, json_path, md_path)
        wide_rows = int(getattr(args, "wide_rows", 0) or 0)
        if wide_rows > 0:
            wide = wide_scale(bench, wide_rows, workdir, chosen)
            report = build_report(
                args, per_scale, synth_seconds, synth_note, machine_facts(spark), startup=startup, wide=wide
            )
            write_outputs(report, json_path, md_path)
    finally:
        if own_session:
            spark.stop()
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(report), flush=True)
    _say(f"wrote {json_path} and {md_path}")
    return 0


def wide_scale(bench: Bench, claims: int, workdir: Path, chosen: frozenset[str] | None) -> dict[str, Any]:
    """The wide scenario: same session, key and repeats as the medical one, its own contract and lakehouse."""
    import dataclasses

    from anonymizer_tools.wide import CONTRACT_PATH, wide_contract

    wide = dataclasses.replace(bench, contract=wide_contract(), contract_path=CONTRACT_PATH, scenario="wide")
    only = frozenset(WIDE_VARIANTS) & chosen if chosen else frozenset(WIDE_VARIANTS)
    only = only or frozenset(WIDE_VARIANTS)  # --variants without any wide one: the wide scenario's own set
    if bench.precreate:
        _say(f"wide schema: warm-up on {WARMUP_WIDE_ROWS:,} claims")
        _say(f"wide schema: warm-up done in {wide.warm_up(workdir / 'warmup-wide', only):.1f} s")
    _say(f"wide schema: {claims:,} claims in {len(wide.contract.tables)} tables")
    return wide.scale(claims, only)


def write_outputs(report: dict[str, Any], json_path: Path, md_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(report))


def build_report(
    args: argparse.Namespace,
    per_scale: list[dict[str, Any]],
    synth_seconds: float | None,
    synth_note: str,
    machine: dict[str, Any],
    *,
    startup: dict[str, Any] | None = None,
    wide: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report: the first scale's numbers at the top level, every scale under ``scales``.

    ``startup`` (fresh-process session start, outside every step) and ``wide`` (the wide scenario's scale,
    same shape as an entry of ``scales``) are None when not measured.
    """
    primary = per_scale[0]
    report: dict[str, Any] = {
        "visits": primary["visits"],
        "results": primary["results"],
        "seed_pk_collisions": primary["seed_pk_collisions"],
        "seed_pk_collisions_by_table": primary["seed_pk_collisions_by_table"],
        "ratios": primary["ratios"],
        "generation": primary["generation"],
        "synth_seconds": None if synth_seconds is None else round(synth_seconds, 3),
        "synth_note": synth_note,
        "scaling": scaling(primary, max(per_scale[1:], key=lambda s: s["visits"])) if len(per_scale) > 1 else None,
        "scales": per_scale,
        "startup": startup,
        "wide": wide,
        "repeats": args.repeats,
        "udf_rows": args.udf_rows,
        "machine": machine,
        "command": command_line(args),
    }
    report["targets"] = evaluate_targets(report)
    return report
