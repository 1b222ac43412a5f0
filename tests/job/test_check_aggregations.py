"""The checks' combined aggregations give exactly the numbers of the separate joins they replaced."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from anonymizer.source_numbers import fk_numbers

# One table: a key and a `null`-strategy column.
TINY = """
contract_version: 1
name: tiny
source: {catalog: src, schema: s}
target: {catalog: tgt, schema: s, staging_schema: stg}
tables:
  t:
    primary_key: [id]
    columns:
      id: {type: int, nullable: false, classification: key, strategy: key}
      notes: {type: string, nullable: true, classification: sensitive, strategy: "null"}
"""


def _fk(columns: list[str], parent_columns: list[str]) -> Any:
    return SimpleNamespace(columns=columns, references=SimpleNamespace(columns=parent_columns))


def test_fk_numbers_equal_separate_left_joins_even_with_duplicate_parent_keys(spark: Any) -> None:
    """A duplicated parent key multiplies the joined count (as a plain join does); NULL keys are never orphans;
    a composite key with one NULL part is not checked; the chained join count is the three-way join's."""
    child = spark.createDataFrame(
        [(1, 10, 100, "a"), (2, 10, 200, "b"), (3, 11, None, None), (4, None, 100, "a"), (5, 99, 100, None)],
        "id int, p int, h int, k string",
    )
    p = spark.createDataFrame([(10,), (10,), (11,)], "pid int")  # 10 duplicated
    h = spark.createDataFrame([(100, "a"), (200, "x")], "hid int, hk string")
    fks = [_fk(["p"], ["pid"]), _fk(["h", "k"], ["hid", "hk"])]
    got = fk_numbers(child, [p, h], fks, [(0, 1)])
    child.createOrReplaceTempView("c")
    p.createOrReplaceTempView("p")
    h.createOrReplaceTempView("h")

    def one(sql: str) -> int:
        return int(spark.sql(sql).collect()[0][0] or 0)

    assert got["joined0"] == one("SELECT count(*) FROM c JOIN p ON c.p = p.pid") == 5
    assert got["orphans0"] == one("SELECT count(*) FROM c WHERE p IS NOT NULL AND p NOT IN (SELECT pid FROM p)") == 1
    assert got["joined1"] == one("SELECT count(*) FROM c JOIN h ON c.h = h.hid AND c.k = h.hk") == 2
    # rows 2 (200,'b') is an orphan; rows 3 and 5 have a NULL part and are not checked
    assert got["orphans1"] == 1
    assert (
        got["product0"] == one("SELECT count(*) FROM c JOIN p ON c.p = p.pid JOIN h ON c.h = h.hid AND c.k = h.hk") == 2
    )


def test_null_strategy_columns_must_be_null_in_every_staged_row() -> None:
    """A `null` column: staging NULLs equal the row count whatever the source held; one value left is a failure."""
    from anonymizer.checks import CheckContext, _judge_counts
    from anonymizer.contract import parse_contract

    contract = parse_contract(TINY, "tiny.yaml")

    def judged(staged_nulls: int) -> Any:
        ctx = CheckContext(runtime=None, contract=contract, anonymize_keys=lambda df, _t: df)  # type: ignore[arg-type]
        src = {"__rows": 10, "id": 0, "notes": 3}  # the source held 7 notes
        _judge_counts(ctx, "t", src, {"__rows": 10, "id": 0, "notes": staged_nulls, "__duplicates": 0, "__unpaired": 0})
        return next(c for c in ctx.results if c.name == "null_counts_equal")

    assert judged(10).passed
    left = judged(9)
    assert not left.passed and "notes: expected 10 vs staging 9" in left.message


def test_staged_numbers_from_the_outer_pairing_equal_a_direct_count(spark: Any) -> None:
    """The staged table's rows, NULLs and key uniqueness, read off the source/staging outer join, equal what
    counting the staged table directly gives; the uniqueness check fails whenever the staged key repeats or is
    NULL (what the distinct count it replaced caught), including a repeat among staged rows with no source row."""
    import random

    from pyspark.sql import functions as F

    from anonymizer.checks import _pair, _staged_aggregations, _staged_numbers

    paired = F.col("__s").isNotNull() & F.col("__t").isNotNull()
    for seed in range(12):
        rnd = random.Random(seed)
        source = [(k, k * 7) for k in rnd.sample(range(40), 25)]
        staged: list[tuple[Any, Any]] = [(k, rnd.choice([v, None])) for k, v in source if rnd.random() < 0.9]
        staged += [(rnd.choice(source)[0], 1) for _ in range(rnd.randint(0, 2))]  # repeats of paired keys
        staged += [(100 + rnd.randint(0, 1), 2) for _ in range(rnd.randint(0, 2))]  # keys with no source row
        staged += [(None, 3) for _ in range(rnd.randint(0, 1))]
        src = spark.createDataFrame(source, "id int, v int").withColumn("__anon_id", F.col("id") + 1000)
        stg = spark.createDataFrame(staged, "id int, v int").withColumn("id", F.col("id") + 1000)
        joined = _pair(src, stg, ["id"])
        stats = joined.agg(F.count(F.when(paired, 1)).alias("__aligned"), *_staged_aggregations(["id", "v"]))
        got = _staged_numbers(stats.collect()[0].asDict(), ["id", "v"], len(source))
        assert got["__rows"] == len(staged), seed
        assert got["id"] == sum(k is None for k, _ in staged) and got["v"] == sum(v is None for _, v in staged), seed
        keys = [k for k, _ in staged]
        unique = len(set(keys)) == len(keys) and None not in keys
        source_keys = {k for k, _ in source}
        assert got["__unpaired"] == sum(k not in source_keys for k in keys), seed
        assert got["__duplicates"] == sum(keys.count(k) - 1 for k in source_keys if k in keys), seed
        passes = got["__duplicates"] == 0 and got["__unpaired"] == 0 and got["id"] == 0
        assert passes == (unique and set(keys) <= source_keys), (seed, got, staged)


def test_unpinned_source_with_a_repeated_key_fails_the_staged_key_check() -> None:
    """Without a gated snapshot the source's distinct keys are measured; a repeat there fails the staged
    uniqueness check (its numbers assume a unique source key) even when the staged numbers look clean."""
    from anonymizer.checks import CheckContext, _judge_counts
    from anonymizer.contract import parse_contract

    contract = parse_contract(TINY, "tiny.yaml")

    def judged(distinct: int) -> Any:
        ctx = CheckContext(runtime=None, contract=contract, anonymize_keys=lambda df, _t: df)  # type: ignore[arg-type]
        src = {"__rows": 10, "id": 0, "notes": 10, "__distinct_pk": distinct}
        _judge_counts(ctx, "t", src, {"__rows": 10, "id": 0, "notes": 10, "__duplicates": 0, "__unpaired": 0})
        return next(c for c in ctx.results if c.name == "primary_key_unique")

    assert judged(10).passed
    repeated = judged(9)
    assert not repeated.passed and "source key is not unique" in repeated.message
