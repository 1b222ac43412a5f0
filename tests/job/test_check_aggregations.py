"""The checks' combined aggregations give exactly the numbers of the separate joins they replaced."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from anonymizer.source_numbers import fk_numbers


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

    contract = parse_contract(
        """
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
""",
        "tiny.yaml",
    )

    def judged(staged_nulls: int) -> Any:
        ctx = CheckContext(runtime=None, contract=contract, anonymize_keys=lambda df, _t: df)  # type: ignore[arg-type]
        src = {"__rows": 10, "id": 0, "notes": 3}  # the source held 7 notes
        _judge_counts(ctx, "t", src, {"__rows": 10, "id": 0, "notes": staged_nulls, "__distinct_pk": 10})
        return next(c for c in ctx.results if c.name == "null_counts_equal")

    assert judged(10).passed
    left = judged(9)
    assert not left.passed and "notes: expected 10 vs staging 9" in left.message
