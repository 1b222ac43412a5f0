"""The content scan: sample what is about to be published and look for identifiers in the values themselves.

Why: the contract is the single point of failure. Relabel ``ssn`` as ``non_sensitive`` + ``keep`` and every
SSN is published verbatim while the checks stay green; a ``notes`` column marked ``keep`` may hold names and
phone numbers. So before promotion every column the contract keeps or generalizes (the values it lets through)
is sampled and scanned, whatever its label says, and the run stops above a per-column rate.

How, at scale:

* **Sampling.** A Bernoulli sample of each table, ``settings.scan.sample_rows`` rows expected (all rows of a
  smaller table). With ``n`` sampled non-empty values of a column and ``k`` hits, the report gives the rate
  ``k/n`` and its 95 % Wilson upper bound; a clean column reports the rule-of-three bound ``3/n`` (no finding
  in 100,000 values: the true rate is below 0.003 % with 95 % confidence). A leak rarer than that bound can
  pass unseen; raise ``sample_rows`` (up to every row) where that matters.
* **Patterns** (:mod:`anonymizer.detectors`): a native Spark ``rlike`` prefilter keeps only values with seven
  digits (any script), an at sign or a birth keyword; only those go through a pandas UDF that normalizes Unicode
  and validates with ``phonenumbers`` / ``python-stdnum``.
* **Source values.** Every value of a source column the contract classifies ``direct_identifier`` is a
  needle. Values are normalized in Spark (lower case, runs of non-letters/digits -> one space). A cell
  matches when it equals a source value, or when it contains a whole multi-token source value as consecutive
  tokens (a patient's full name inside ``notes``). The join is on the first token pair, then verified on
  the whole value, so single common words ("will", "may") never match on their own. Before that, a cheap
  anchored match reads each source value's first word; only values whose first word starts one of the
  sample's keys are normalized at all (the 10M lake holds ~6M source identifier values). A broadcastable
  sample's needles are first tested on their whole key in that same pass; the cells are joined only when a
  needle meets one of their keys (on the demo's clean runs, none does).

Every output (journal, report, log lines, exception) carries table, column, pattern, rate and a masked
example only, never a raw value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anonymizer.scan_settings import ColumnScan, ScanDefaults

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

    from anonymizer.contract import Contract
    from anonymizer.runtime import Runtime

# Strategies whose output still carries the source's content: those are scanned. Every other strategy
# replaces the value with something the job generated (keys, pool names, FPE digits, hashes, NULL).
SCANNED_STRATEGIES = frozenset({"keep", "generalize"})
# Families whose string form can hold an identifier (dates, booleans and bytes cannot, as values).
SCANNED_FAMILIES = frozenset({"string", "integer", "decimal", "floating", "complex"})
_NORM = r"[^\p{L}\p{Nd}]+"
# The first token of the normalized value, read without normalizing the rest: skip leading separators, take
# the first run of letters/digits. An anchored match stops there; normalizing a whole value cost 2.5x as much (10M).
_LEADING_WORD = r"^[^\p{L}\p{Nd}]*([\p{L}\p{Nd}]+)"


@dataclass(frozen=True)
class ScanTarget:
    """One table to scan: ``table`` as reported, ``df`` its rows, ``columns`` the columns to look at."""

    table: str
    df: DataFrame
    columns: tuple[str, ...]
    rows: int | None = None  # known row count (a Delta commit's numOutputRows) saves a count


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    pattern: str
    hits: int
    sampled: int
    example: str  # masked, never raw
    max_rate: float
    acknowledged: str | None = None  # the contract's reason, when acknowledged

    @property
    def rate(self) -> float:
        return self.hits / self.sampled if self.sampled else 0.0

    @property
    def rate_upper_95(self) -> float:
        return wilson_upper(self.hits, self.sampled)

    @property
    def blocking(self) -> bool:
        return self.acknowledged is None and self.rate > self.max_rate

    def render(self) -> str:
        state = (
            "acknowledged"
            if self.acknowledged is not None
            else "BLOCKING"
            if self.blocking
            else f"below max_rate {self.max_rate:g}"
        )
        return (
            f"[{state}] {self.table}.{self.column}: {self.pattern} in {self.hits:,} of {self.sampled:,} sampled "
            f"values (rate {self.rate:.4%}, 95% upper bound {self.rate_upper_95:.4%}); example {self.example}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "pattern": self.pattern,
            "hits": self.hits,
            "sampled": self.sampled,
            "rate": round(self.rate, 6),
            "rate_upper_95": round(self.rate_upper_95, 6),
            "max_rate": self.max_rate,
            "example": self.example,
            "blocking": self.blocking,
            "acknowledged": self.acknowledged,
        }


@dataclass
class ScanResult:
    findings: list[Finding]
    sampled: dict[str, dict[str, int]]  # table -> column -> sampled non-empty values
    fractions: dict[str, float]  # table -> sampling fraction
    seconds: float = 0.0
    identifier_columns: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def as_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.as_dict() for f in self.findings],
            "blocking": len(self.blocking),
            "sampled": self.sampled,
            "fractions": self.fractions,
            "clean_bound_95": {
                t: {c: round(3 / n, 6) if n else None for c, n in cols.items()} for t, cols in self.sampled.items()
            },
            "identifier_columns": self.identifier_columns,
            "seconds": round(self.seconds, 3),
        }


def wilson_upper(hits: int, n: int, z: float = 1.959964) -> float:
    """95 % Wilson score upper bound of a rate from ``hits`` in ``n`` (3/n rule-of-three style when 0)."""
    if n <= 0:
        return 1.0
    p = hits / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + margin) / (1 + z * z / n))


def _normalized(col: SparkColumn) -> SparkColumn:
    from pyspark.sql import functions as F

    return F.trim(F.regexp_replace(F.lower(col.cast("string")), _NORM, " "))


def _union(parts: Sequence[DataFrame]) -> DataFrame:
    """The rows of every part (same columns, matched by name)."""
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def _first_token(col: SparkColumn) -> SparkColumn:
    """``substring_index(_normalized(col), ' ', 1)``, computed from the start of the value only."""
    from pyspark.sql import functions as F

    return F.regexp_extract(F.lower(col.cast("string")), _LEADING_WORD, 1)


def identifier_values(spark: SparkSession, sources: Iterable[tuple[DataFrame, Sequence[str]]]) -> DataFrame | None:
    """The raw values (``value``) of the given (source df, columns) pairs: the needles. Values never leave Spark.

    One read per source table, all its identifier columns in it (a read per column costs 1.7x as much).
    Neither normalized nor deduplicated here: each value is probed against the sample's keys as it is read and
    only the few that can match are normalized (see :func:`_source_hits`), so the source side is read once,
    never shuffled whole, and the costly normalization skips almost every value.
    """
    from pyspark.sql import functions as F

    parts = [
        df.select(F.explode(F.array(*[F.col(c).cast("string") for c in columns])).alias("value"))
        for df, columns in sources
        if columns
    ]
    if not parts:
        return None
    return _union(parts).where(F.col("value").isNotNull())


def _cells(target: ScanTarget, fraction: float, seed: int) -> DataFrame:
    from pyspark.sql import functions as F

    df = target.df if fraction >= 1.0 else target.df.sample(withReplacement=False, fraction=fraction, seed=seed)
    cells = F.explode(
        F.array(*[F.struct(F.lit(c).alias("column"), F.col(c).cast("string").alias("value")) for c in target.columns])
    )
    return (
        df.select(F.monotonically_increasing_id().alias("rid"), cells.alias("c"))
        .select(F.lit(target.table).alias("table"), "rid", "c.column", "c.value")
        .where(F.col("value").isNotNull() & (F.length("value") > 0))
    )


def _pattern_hits(cells: DataFrame, region: str) -> DataFrame:
    from pyspark.sql import functions as F

    from anonymizer.detectors import PREFILTER
    from anonymizer.scan_udf import detect_udf

    candidates = cells.where(F.col("value").rlike(PREFILTER))
    found = candidates.select("table", "column", F.explode(detect_udf(region)("value")).alias("f"))
    return found.groupBy("table", "column", F.col("f.pattern").alias("pattern")).agg(
        F.count(F.lit(1)).alias("hits"), F.min("f.example").alias("example")
    )


# Up to this many sample keys (cell values and token pairs, counted before deduplication) are broadcast to
# the source side (up to LOCAL_KEYS from the driver, see _local_keys); a larger sample (many long free-text
# cells) is joined by shuffle instead.
LOCAL_KEYS = 100_000
BROADCAST_KEYS = 2_000_000
MIN_NEEDLE_CHARS = 4  # shorter normalized values ("ann", "12") would match by coincidence


def _first_pair(needle: SparkColumn) -> SparkColumn:
    """The first two tokens of a normalized value (the whole value when it has one or two tokens)."""
    from pyspark.sql import functions as F

    return F.substring_index(needle, " ", 2)


def _keyed(cells: DataFrame) -> DataFrame:
    """The sampled cells plus ``norm`` (the normalized value) and ``keys`` (its join keys), made once.

    A cell's keys are its whole normalized value and, for cells of three or more tokens, each pair of
    consecutive tokens. A needle can only match a cell that equals it or holds it as consecutive tokens, so it
    meets the cell on its own first token pair (:func:`_first_pair`): a one- or two-token needle on the whole
    value or a pair, a longer one on the pair it starts with. The keys carry no cell text (a long free-text cell
    has many pairs; repeating its text per pair would grow with the square of its length).

    Why in the cached frame: the source-value join reads the keys several times (their first words, the keys,
    the cells to verify); computed from the raw cells, every read normalized the whole sample again, 5 to 8
    small jobs at once (0.9 s of a 3.4 s scan at 10M visits).
    """
    from pyspark.sql import functions as F

    norm = cells.withColumn("norm", _normalized(F.col("value")))
    pairs = F.expr(
        "array_distinct(transform(sequence(0, size(split(norm, ' ')) - 2), "
        "i -> concat(split(norm, ' ')[i], ' ', split(norm, ' ')[i + 1])))"
    )
    whole = F.array(F.col("norm"))
    return norm.withColumn("keys", F.when(F.size(F.split("norm", " ")) >= 3, F.concat(whole, pairs)).otherwise(whole))


def _probe(survivors: DataFrame) -> DataFrame:
    """The needles that passed the first-word test, normalized, with the key they meet a cell on (``k``)."""
    from pyspark.sql import functions as F

    return survivors.select(_normalized(F.col("value")).alias("needle")).select(
        "needle", _first_pair(F.col("needle")).alias("k")
    )


def _local_keys(spark: SparkSession, cells: DataFrame) -> DataFrame:
    """The sample's distinct keys (``k``) as a local relation, broadcast from the driver; plans show no value.

    Why: broadcasting a frame that Spark computes from the cached sample costs a job, adaptive stages and the
    planning around them; with such broadcasts the probe-first order was no faster than joining every
    candidate (1M visits: 2.04 against 1.93 s), with a local relation it is 10 % faster. A plan shows only
    the relation's column (``LocalRelation [k]``), unlike ``isin`` literals, which put every value into the
    query's text (Spark UI, event logs). The keys are the sample's own values, held on the driver only.
    """
    import pandas as pd
    from pyspark.sql import functions as F

    keys = sorted({r["k"] for r in cells.select(F.explode("keys").alias("k")).collect()})
    return spark.createDataFrame(pd.DataFrame({"k": pd.Series(keys, dtype=object)}), "k string")


def _probe_needles(keys: DataFrame, needles: DataFrame, *, broadcast: bool) -> DataFrame:
    """``needle, k``: the needles that can meet a sample key (``keys.k``), normalized, with that key.

    A needle's key starts with its first token, so a needle whose first token starts no sample key cannot
    match: that cheap test runs on every source value, the full normalization only on the survivors. With
    ``broadcast`` the survivors are also tested on their whole key here; :func:`scan` counts the probe first
    and joins the cells only when it is not empty (on a clean run it usually is). The sample's keys reach
    the source side as broadcast joins, never as literals in the query: a query's text is shown in the Spark
    UI and written to event logs, and a leaking sample's keys hold the very identifiers the scan looks for.
    """
    from pyspark.sql import functions as F

    def small(df: DataFrame) -> DataFrame:
        return F.broadcast(df) if broadcast else df

    heads = keys.select(F.substring_index("k", " ", 1).alias("t"))
    survivors = needles.join(small(heads), _first_token(F.col("value")) == F.col("t"), "left_semi")
    probe = _probe(survivors)
    return probe.join(small(keys), "k", "left_semi") if broadcast else probe


def _source_hits(cells: DataFrame, probe: DataFrame, *, broadcast: bool) -> DataFrame:
    """Cells equal to a needle, or containing a whole multi-token needle as consecutive tokens, per column.

    Why one pass: the source's identifier columns hold hundreds of thousands of values, the sample a few
    thousand keys. Each needle is probed against the (broadcast) sample keys while the source is read
    (:func:`_probe_needles`), and only the few candidates that share a key are verified against their cell's
    whole text: one read of the source columns, no shuffle and no materialized copy of them.
    """
    from pyspark.sql import functions as F

    norm = cells.select("table", "column", "rid", "norm")
    keys = cells.select(F.explode("keys").alias("k"), "table", "column", "rid")
    candidates = (F.broadcast(probe) if broadcast else probe).join(keys, "k")
    # Equal to the cell, or inside it as whole tokens: a one-token needle met the cell on its whole value (a
    # cell's pair keys have two tokens), so for it this is equality, as "smithson was here" must not match.
    padded = F.concat(F.lit(" "), F.col("norm"), F.lit(" "))
    matched = (
        candidates.join(norm, ["table", "column", "rid"])
        .where(F.instr(padded, F.concat(F.lit(" "), F.col("needle"), F.lit(" "))) > 0)
        .select("table", "column", "rid", "needle")
    )
    example = F.concat(F.substring("needle", 1, 1), F.lit("… ("), F.length("needle"), F.lit(" chars)"))
    # The length floor sits inside the aggregation on purpose: as a filter, the optimizer would push it below
    # the probe, onto every source value, and normalize each one (twice) before the cheap test could drop it.
    long_enough = F.when(F.length("needle") >= MIN_NEEDLE_CHARS, example)
    return (
        matched.groupBy("table", "column", "rid")
        .agg(F.min(long_enough).alias("example"))
        .where(F.col("example").isNotNull())
        .groupBy("table", "column")
        .agg(F.count(F.lit(1)).alias("hits"), F.min("example").alias("example"))
        .withColumn("pattern", F.lit("source_value"))
    )


def scan(
    spark: SparkSession,
    targets: Sequence[ScanTarget],
    *,
    needles: DataFrame | None,
    defaults: ScanDefaults,
    column_settings: dict[tuple[str, str], ColumnScan] | None = None,
    seed: int = 16,
) -> ScanResult:
    """Sample every target, detect patterns and source values, and judge each finding against its threshold."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    settings = column_settings or {}
    targets = [t for t in targets if t.columns]
    fractions: dict[str, float] = {}
    parts = []
    for t in targets:
        rows = t.rows if t.rows is not None else t.df.count()
        fractions[t.table] = 1.0 if rows <= defaults.sample_rows else defaults.sample_rows / rows
        parts.append(_cells(t, fractions[t.table], seed))
    if not parts:
        return ScanResult([], {}, {}, time.perf_counter() - started)
    cells = _keyed(_union(parts)).persist()
    probe: DataFrame | None = None
    try:
        sampled: dict[str, dict[str, int]] = {t.table: dict.fromkeys(t.columns, 0) for t in targets}
        # The number of the sample's join keys (cell values and token pairs) decides the broadcast.
        keys = F.sum(F.size("keys"))
        # Cells the pattern prefilter lets through, counted in the same job: none means no pattern can hit, and
        # the Python detectors (a Python worker per task, seconds when cold) need not start at all.
        from anonymizer.detectors import PREFILTER

        suspects = F.sum(F.col("value").rlike(PREFILTER).cast("long"))
        sample_keys = candidates = 0
        for row in (
            cells.groupBy("table", "column")
            .agg(F.count(F.lit(1)).alias("n"), keys.alias("k"), suspects.alias("p"))
            .collect()
        ):
            sampled[row["table"]][row["column"]] = int(row["n"])
            sample_keys += int(row["k"] or 0)
            candidates += int(row["p"] or 0)
        parts_found = [_pattern_hits(cells, defaults.phone_region)] if candidates else []
        # Repeated keys are harmless to the semi-joins of the probe.
        sample = cells.select(F.explode("keys").alias("k"))
        if needles is not None and sample_keys > BROADCAST_KEYS:
            parts_found.append(_source_hits(cells, _probe_needles(sample, needles, broadcast=False), broadcast=False))
        elif needles is not None and sample_keys:
            if sample_keys <= LOCAL_KEYS:
                sample = _local_keys(spark, cells)
            # One pass over the source finds the needles that meet a sample key; only when some do (a leak, or a
            # coincidence the verification rules out) are they joined to the cells.
            probe = _probe_needles(sample, needles, broadcast=True).persist()
            if probe.count():
                parts_found.append(_source_hits(cells, probe, broadcast=True))
        rows_found = []
        if parts_found:  # one job: patterns and source values together
            rows_found = _union(parts_found).collect()
    finally:
        cells.unpersist()
        if probe is not None:
            probe.unpersist()
    findings = []
    for row in sorted(rows_found, key=lambda r: (r["table"], r["column"], r["pattern"])):
        table, column, pattern = row["table"], row["column"], row["pattern"]
        col_settings = settings.get((table, column)) or ColumnScan()
        max_rate = col_settings.max_rate if col_settings.max_rate is not None else defaults.max_rate
        ack = next((a.reason for a in col_settings.acknowledged if a.pattern == pattern), None)
        findings.append(
            Finding(table, column, pattern, int(row["hits"]), sampled[table][column], row["example"], max_rate, ack)
        )
    return ScanResult(findings, sampled, fractions, time.perf_counter() - started)


def scanned_columns(contract: Contract, table: str) -> tuple[str, ...]:
    """Published columns whose values the contract lets through (keep, generalize), of a scannable type."""
    return tuple(
        name
        for name, col in contract.tables[table].columns.items()
        if col.strategy in SCANNED_STRATEGIES and col.sql_type.family in SCANNED_FAMILIES
    )


def source_identifier_columns(contract: Contract) -> list[tuple[str, str]]:
    """(table, column) of every string source column classified ``direct_identifier``."""
    return [
        (t, c)
        for t, c, col in contract.iter_columns()
        if col.classification == "direct_identifier" and col.sql_type.family == "string"
    ]


def contract_needles(
    runtime: Runtime, contract: Contract, versions: dict[str, int] | None = None
) -> tuple[DataFrame | None, list[str]]:
    """The source's direct-identifier values (inside Spark) and the names of the columns they come from.

    ``versions``: the run's pinned source versions (the values the staged rows were made from).
    """
    columns = source_identifier_columns(contract)
    by_table: dict[str, list[str]] = {}
    for t, c in columns:
        by_table.setdefault(t, []).append(c)
    from anonymizer.tables import read_source

    sources = [(read_source(runtime, contract, t, versions), cols) for t, cols in by_table.items()]
    return identifier_values(runtime.spark, sources), [f"{t}.{c}" for t, c in columns]


def column_settings(contract: Contract) -> dict[tuple[str, str], ColumnScan]:
    return {(t, c): col.scan for t, c, col in contract.iter_columns() if col.scan is not None}


def scan_contract(
    runtime: Runtime,
    contract: Contract,
    read: Callable[[str], tuple[DataFrame, int | None]],
    *,
    columns: Callable[[Contract, str], tuple[str, ...]] = scanned_columns,
    source_versions: dict[str, int] | None = None,
) -> ScanResult:
    """Scan the ``columns`` of every contract table that has any, against the contract's settings and needles.

    ``read(table)`` gives the table's rows and, when known, its row count (which sets the sampling fraction;
    without it the rows are counted). One function for the pipeline's scan and the bench's, so the bench
    times exactly what a run does: only tables with a scanned column are read, on a few threads.
    """
    from anonymizer.parallel import in_parallel

    scanned = [(t, columns(contract, t)) for t in contract.dependency_order()]
    scanned = [(t, cols) for t, cols in scanned if cols]

    def target(item: tuple[str, tuple[str, ...]]) -> ScanTarget:
        table, cols = item
        df, rows = read(table)
        return ScanTarget(table, df, cols, rows)

    targets = in_parallel(scanned, target)
    needles, from_columns = contract_needles(runtime, contract, source_versions) if targets else (None, [])
    result = scan(
        runtime.spark,
        targets,
        needles=needles,
        defaults=contract.settings.scan,
        column_settings=column_settings(contract),
    )
    result.identifier_columns = from_columns
    return result


def scan_staging(
    runtime: Runtime,
    contract: Contract,
    source_versions: dict[str, int] | None = None,
    versions: dict[str, int] | None = None,
    rows: dict[str, int] | None = None,
) -> ScanResult:
    """The pipeline's scan: every scanned column of every staging table.

    ``versions``: the staging versions the run vetted (its checks and risk step passed on them); each table is
    read at exactly that version, and ``rows`` (the row counts the anonymize step wrote, when known) size its
    sample. Without ``versions`` (a standalone scan), each table is read at its latest commit, whose metrics
    give its row count (one history read each: a metadata round trip, where counting would read the rows).
    """

    def read(table: str) -> tuple[DataFrame, int | None]:
        name = contract.staging_name(table)
        if versions is None:
            commit = runtime.last_commit(name)
            return runtime.read(name, commit.version), commit.rows
        return runtime.read(name, versions[table]), (rows or {}).get(table)

    return scan_contract(runtime, contract, read, source_versions=source_versions)
