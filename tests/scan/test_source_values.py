"""Source-value matching of the content scan, on real Spark: what counts as a source value inside a cell.

A cell matches when it equals a source identifier (after normalization: case, punctuation, spacing) or holds a
whole multi-token identifier as consecutive tokens; one token of a name, or a value under four characters,
never matches on its own. The three ways of the needle probe (local, broadcast, shuffle) must agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from anonymizer.content_scan import ScanTarget, identifier_values, scan
from anonymizer.scan_settings import ScanDefaults

NAMES = ["Mary-Jane O'Neil", "Ito", "Smithson", "Anne Marie Van Dyke", "Jo Li", " (Zed Alpha)", "Élodie Brun"]
SSNS = ["123-45-6789"]
CELLS = {  # cell -> is it a source value?
    "MARY JANE  o neil": True,  # equal after normalization
    "seen by mary-jane o'neil today": True,  # two-token needle inside free text
    "smithson": True,  # one-token needle, whole cell
    "smithson was here": False,  # one token inside text: never (common words would match)
    "Mary went home": False,  # first token of a name only
    "ref anne marie van dyke ward": True,  # four-token needle inside
    "anne marie van": False,  # a prefix of a needle is not the needle
    "ito": False,  # under four characters
    "jo li": True,  # two short tokens, five characters: a needle, and the whole cell equals it
    "ssn 123 45 6789 filed": True,  # normalized punctuation, three-token needle inside
    "routine check": False,
    "met zed alpha today": True,  # the source value starts with punctuation: normalized away
    "dr. ÉLODIE BRUN, cardiology": True,  # non-ASCII initial, upper case in the cell
}


# The three ways the sample's keys meet the needles: broadcast from the driver, broadcast from Spark, shuffle.
JOINS = {"local": (100_000, 2_000_000), "broadcast": (0, 2_000_000), "shuffle": (0, 0)}


@pytest.mark.parametrize("join", list(JOINS))
def test_source_values_inside_cells(spark: Any, join: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import anonymizer.content_scan as content_scan

    monkeypatch.setattr(content_scan, "LOCAL_KEYS", JOINS[join][0])
    monkeypatch.setattr(content_scan, "BROADCAST_KEYS", JOINS[join][1])
    source = spark.createDataFrame(
        [(n, s) for n, s in zip(NAMES, SSNS * len(NAMES), strict=True)], "name string, ssn string"
    )
    needles = identifier_values(spark, [(source, ["name", "ssn"])])
    cells = list(CELLS)  # one column per cell, so each finding names its cell
    target = spark.createDataFrame([tuple(cells)], ", ".join(f"c{i} string" for i in range(len(cells))))
    result = scan(
        spark,
        [ScanTarget("t", target, tuple(f"c{i}" for i in range(len(cells))), 1)],
        needles=needles,
        defaults=ScanDefaults(),
    )
    found = {f.column for f in result.findings if f.pattern == "source_value"}
    expected = {f"c{i}" for i, cell in enumerate(cells) if CELLS[cell]}
    assert found == expected, {cells[int(c[1:])]: c in found for c in expected ^ found}
    for finding in [f for f in result.findings if f.pattern == "source_value"]:  # first letter + length only
        assert all(part not in finding.example.lower() for part in ("mary", "smithson", "6789", "dyke")), finding


def test_a_cell_counts_once_whatever_the_needles_it_holds(spark: Any) -> None:
    """The rate counts cells: a name held by three patients, twice in one cell, is one hit per cell."""
    source = spark.createDataFrame([("Ada Lovelace",), ("ada lovelace",), ("ADA LOVELACE",)], "name string")
    needles = identifier_values(spark, [(source, ["name"])])
    notes = ["saw ada lovelace and ada lovelace", "Ada Lovelace", "lovelace ada", "ada"]
    target = spark.createDataFrame([(n,) for n in notes], "notes string")
    result = scan(spark, [ScanTarget("t", target, ("notes",), len(notes))], needles=needles, defaults=ScanDefaults())
    (finding,) = [f for f in result.findings if f.pattern == "source_value"]
    assert (finding.hits, finding.sampled) == (2, 4)


def test_the_prefilter_reads_the_same_first_token_as_the_normalization(spark: Any) -> None:
    """The cheap first-token test drops needles before normalizing them: it must agree with the normalization
    on every value, or a real source value would be dropped unseen (leading punctuation, other scripts, case
    that changes length, digits of other scripts, nothing but separators)."""
    from pyspark.sql import functions as F

    from anonymizer.content_scan import _first_token, _normalized

    values = ["  (Zed) Alpha", "İstanbul Road", "ÉLODIE brun", "--", "", "١٢٣-45", "o'neil", "a", "Straße 5", "x\ty"]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    rows = df.select(
        "v", _first_token(F.col("v")).alias("fast"), F.substring_index(_normalized(F.col("v")), " ", 1).alias("slow")
    ).collect()
    assert [(r["v"], r["fast"]) for r in rows] == [(r["v"], r["slow"]) for r in rows]
    assert {r["v"]: r["fast"] for r in rows}["  (Zed) Alpha"] == "zed"


def test_no_sample_or_source_value_enters_the_text_of_a_query(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query's text (its plans) is shown in the Spark UI and written to event logs; a leaking sample's values
    are the identifiers the scan looks for. Keys go to the source side as data (broadcast), never as literals:
    with literal ``isin`` sets, the leaked name below was in the plan of the source query."""
    texts: list[str] = []
    frame = type(spark.range(1))
    for action in ("collect", "count"):
        original = getattr(frame, action)

        def recorded(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            texts.append(self._jdf.queryExecution().toString().lower())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(frame, action, recorded)
    source = spark.createDataFrame([("Quasimodo Zyxwvut",), ("Ada Lovelace",)], "name string")
    needles = identifier_values(spark, [(source, ["name"])])
    notes = ["seen by quasimodo zyxwvut today", "routine check"]
    target = spark.createDataFrame([(n,) for n in notes], "notes string")
    result = scan(spark, [ScanTarget("t", target, ("notes",), len(notes))], needles=needles, defaults=ScanDefaults())
    assert [(f.pattern, f.hits) for f in result.findings] == [("source_value", 1)]  # the verification ran
    assert texts and not [t for t in texts if "zyxwvut" in t or "quasimodo" in t]
