"""Release windows: an event row is published only once its *shifted* date is old enough to say nothing.

Why: the job runs daily and developers can read every snapshot (Delta history, re-runs). A visit that is new
in today's copy happened, in truth, since the last run; its shifted date then gives that patient's shift to
the day (and with it the true date of birth). The same holds at the data window's edge: a shifted date near
the extract date bounds the shift.

The rule: a row of a table with ``release: {date: <column>}`` is published only when its shifted date is at
most ``run date - max_days`` (``max_days`` of that column's ``date_shift``). Since every shift lies in
``[-max_days, -1]``, such a row's true date is at most the run date, so it has always already happened and
is present in the source: whether a row is in a snapshot depends on its shifted date alone, never on its true
date or on when it happened. Rows with a NULL release date are never published (fail closed).

Tables without a rule (dimensions) are published in full, so every row a released row references is
published; a rule is refused on a table that other tables reference, which keeps foreign keys closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from anonymizer.errors import UsageError
from anonymizer.events import EventName
from anonymizer.sqlident import IDENTIFIER

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame

    from anonymizer.checks import CheckContext
    from anonymizer.contract import Contract
    from anonymizer.keys import Keyring

_IDENT = IDENTIFIER


class ReleaseRule(BaseModel):
    """``release: {date: visit_date}`` on a table: publish a row once its shifted ``date`` left the window."""

    model_config = ConfigDict(extra="forbid")
    date: str = Field(pattern=_IDENT, description="date_shift column whose shifted value decides publication")


def run_date(text: str | None) -> dt.date:
    """The run date: ``--as-of YYYY-MM-DD``, else today in UTC (the job's clock, not the driver's zone)."""
    if not text:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of '{text}' is not a date", fix="pass the run date as YYYY-MM-DD") from None


def max_days(contract: Contract, table: str, column: str) -> int:
    params = contract.tables[table].columns[column].strategy_params()
    return int(getattr(params, "max_days", None) or contract.settings.date_shift_max_days)


def cutoff(contract: Contract, table: str, as_of: dt.date) -> dt.date:
    """Last shifted date published on ``as_of``."""
    rule = contract.tables[table].release
    assert rule is not None
    return as_of - dt.timedelta(days=max_days(contract, table, rule.date))


def released_tables(contract: Contract) -> list[str]:
    return [t for t, spec in contract.tables.items() if spec.release is not None]


def plan(contract: Contract, as_of: dt.date) -> dict[str, Any]:
    """What the anonymize step applied, recorded in the journal so later steps (other processes, maybe the
    next day) check against the same run date."""
    return {
        "as_of": as_of.isoformat(),
        "tables": {
            t: {
                "date": contract.tables[t].release.date,  # type: ignore[union-attr]
                "max_days": max_days(contract, t, contract.tables[t].release.date),  # type: ignore[union-attr]
                "cutoff": cutoff(contract, t, as_of).isoformat(),
            }
            for t in released_tables(contract)
        },
    }


def _on_or_before(shifted: SparkColumn, last: dt.date) -> SparkColumn:
    from pyspark.sql import functions as F

    # A timestamp counts by its (session time zone, UTC on the job) calendar day.
    return shifted.cast("date") <= F.lit(last)


def publishable(anonymized: DataFrame, contract: Contract, table: str, as_of: dt.date) -> DataFrame:
    """The anonymized rows of ``table`` that may be published on ``as_of`` (all rows without a rule)."""
    rule = contract.tables[table].release
    if rule is None:
        return anonymized
    from pyspark.sql import functions as F

    return anonymized.where(_on_or_before(F.col(rule.date), cutoff(contract, table, as_of)))


def shifted_date(df: DataFrame, contract: Contract, table: str, column: str, keyring: Keyring) -> SparkColumn:
    """The shifted value of a source date column, computed by the engine's own expression (same key, same
    offsets as the anonymize step), so the checks can tell released from unreleased *source* rows."""
    from anonymizer.engine import _column_expr

    return _column_expr(contract, table, df.schema[column], contract.tables[table].columns[column], keyring)


def released_source(df: DataFrame, contract: Contract, table: str, keyring: Keyring, as_of: dt.date) -> DataFrame:
    """The source rows of ``table`` whose anonymized row is published on ``as_of``."""
    rule = contract.tables[table].release
    if rule is None:
        return df
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType

    last = cutoff(contract, table, as_of)
    keyed = _on_or_before(shifted_date(df, contract, table, rule.date, keyring), last)
    if not isinstance(df.schema[rule.date].dataType, DateType):
        return df.where(keyed)
    # Why two branches: the keyed shift is a Python UDF that every check reading these rows evaluated on every
    # row. A DATE is staged as date_add(date, offset) with offset in [-max_days, -1] for every row (a NULL
    # entity has its own keyed offset; the check step's date_shift_in_bounds verifies that range), so a date
    # on or before last + 1 is released whatever the key says, one after last + max_days never is, and only
    # the band between needs the key: max_days of the table's history instead of all of it. A NULL date
    # fails both comparisons, as it fails the keyed one.
    date = F.col(rule.date)
    always = F.lit(last + dt.timedelta(days=1))
    never_after = F.lit(last + dt.timedelta(days=max_days(contract, table, rule.date)))
    return df.where(date <= always).unionByName(df.where((date > always) & (date <= never_after)).where(keyed))


def source_filter(
    contract: Contract, keyring: Keyring, as_of: dt.date | None
) -> Callable[[DataFrame, str], DataFrame] | None:
    """For :class:`anonymizer.checks.CheckContext`: compare staging with the released subset of the source."""
    if as_of is None or not released_tables(contract):
        return None
    day = as_of

    def released(df: DataFrame, table: str) -> DataFrame:
        return released_source(df, contract, table, keyring, day)

    return released


def check_release(ctx: CheckContext, keyring: Keyring, as_of: dt.date) -> None:
    """Two checks per table with a rule, on every run.

    ``release_window``: no staged row has a release date after ``as_of - max_days`` (NULL counts as a
    violation: it is never published). ``release_membership``: the staged rows are exactly the source rows
    whose shifted date is on or before the cutoff (same count, and every staged key is the keyed image of
    such a source row), i.e. membership is a function of the shifted date and nothing else.
    """
    from pyspark.sql import functions as F

    from anonymizer.checks import Check, source_rows
    from anonymizer.privacy import coarsen

    c = ctx.contract
    for table in released_tables(c):
        rule = c.tables[table].release
        assert rule is not None
        last = cutoff(c, table, as_of)
        staged = ctx.runtime.read(c.staging_name(table))
        date = F.col(rule.date)
        # A date the privacy section coarsens is staged as G(shifted); G is monotone, so a released row has
        # G(shifted) <= G(cutoff). That bound is coarser than the cutoff: membership below is the exact guard.
        coarse = c.privacy.generalization_of(table, rule.date) if c.privacy is not None else None
        bound = F.lit(last) if coarse is None else coarsen(F.lit(last), coarse)
        s = staged.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum((date.isNull() | ~(date.cast("date") <= bound)).cast("long")).alias("late"),
            F.max(date.cast("date")).alias("latest"),
            F.first(bound).alias("bound"),
        ).collect()[0]
        late = int(s["late"] or 0)
        ctx.add(
            Check(
                "release_window",
                table,
                rule.date,
                late == 0,
                {
                    "as_of": as_of.isoformat(),
                    "cutoff": last.isoformat(),
                    "compared_with": str(s["bound"]) if s["bound"] is not None else last.isoformat(),
                    "latest_published": str(s["latest"]) if s["latest"] is not None else None,
                    "published_after_cutoff": late,
                },
            )
        )
        source = source_rows(ctx, table)
        released = released_source(source, c, table, keyring, as_of)
        pk = c.tables[table].primary_key
        aligned = ctx.measured.get(("aligned", table))
        if aligned is not None:
            # run_checks already joined the released source rows with the staged rows on the keyed primary key.
            # The gate found that key unique in this very snapshot (the run's pinned source version) and the
            # keyed map is a bijection, so a staged row meets at most one released row: the join's count of
            # paired rows is the semi-join's, without a second join of the two tables (~10 s at 10M visits).
            matched = int(aligned.stats["__aligned"])
        else:
            keys = ctx.anonymize_keys(released, table).select(*[F.col(f"__anon_{k}").alias(k) for k in pk])
            matched = staged.join(keys, pk, "left_semi").count()
        measured = ctx.measured.get(("src", table))  # run_checks already counted the released source rows
        eligible = int(measured["__rows"]) if measured is not None else released.count()
        total, rows = source.count(), int(s["rows"])
        ok = rows == eligible == matched
        ctx.add(
            Check(
                "release_membership",
                table,
                rule.date,
                ok,
                {
                    "source_rows": total,
                    "released_source_rows": eligible,
                    "withheld_source_rows": total - eligible,
                    "published_rows": rows,
                    "published_matching_released": matched,
                },
                "" if ok else "published rows are not exactly the source rows whose shifted date left the window",
            )
        )


def contract_issues(contract: Contract) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Cross-field rules of ``release`` for the contract validator: (path, message, fix)."""
    referenced = {fk.references.table for spec in contract.tables.values() for fk in spec.foreign_keys}
    for t_name, spec in contract.tables.items():
        rule = spec.release
        if rule is None:
            continue
        path = ("tables", t_name, "release", "date")
        column = spec.columns.get(rule.date)
        if column is None:
            yield path, f"release date '{rule.date}' is not a column of {t_name}", "name a date_shift column"
            continue
        if column.strategy != "date_shift":
            yield (
                path,
                f"release date '{rule.date}' uses strategy '{column.strategy}', not date_shift: the window is "
                "defined on shifted dates",
                f"date_shift {rule.date}, or name a date_shift column",
            )
        if t_name in referenced:
            yield (
                ("tables", t_name, "release"),
                f"{t_name} is referenced by foreign keys: withholding its rows would orphan released rows",
                "put release rules on event (fact) tables only",
            )


def attach(ctx: CheckContext, keyring: Keyring, recorded: dict[str, Any] | None) -> CheckContext:
    """Make the checks compare staging with the released source rows and add the release checks.

    ``recorded`` is the plan the anonymize step journaled: the check step uses *its* run date, even when it
    runs in another process after midnight.
    """
    if not recorded or not recorded.get("tables"):
        return ctx
    as_of = dt.date.fromisoformat(str(recorded["as_of"]))
    ctx.source_filter = source_filter(ctx.contract, keyring, as_of)
    ctx.filtered_tables = frozenset(released_tables(ctx.contract))
    ctx.extra_checks.append(lambda c: check_release(c, keyring, as_of))
    return ctx


def report_section(contract: Contract, events: list[Any]) -> dict[str, Any]:
    """Run date, rule and published/withheld counts per table, from the journal (no data values)."""
    plan: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = []
    for e in events:
        if e.event == EventName.ANONYMIZED and e.table_name is None:
            plan = e.detail.get("release")
        elif e.event in ("check_passed", "check_failed"):
            checks = e.detail.get("checks", [])
    membership = {c["table"]: c["numbers"] for c in checks if c["name"] == "release_membership"}
    tables = {}
    for t in released_tables(contract):
        rule = contract.tables[t].release
        assert rule is not None
        entry: dict[str, Any] = {"date": rule.date, "max_days": max_days(contract, t, rule.date)}
        if plan and t in plan.get("tables", {}):
            entry["cutoff"] = plan["tables"][t]["cutoff"]
        numbers = membership.get(t, {})
        for k in ("source_rows", "published_rows", "withheld_source_rows"):
            if k in numbers:
                entry[k] = numbers[k]
        tables[t] = entry
    return {"as_of": plan.get("as_of") if plan else None, "tables": tables}


def markdown(section: dict[str, Any] | None) -> list[str]:
    if not section or not section.get("tables"):
        return []
    out = [
        "",
        "## Release windows",
        "",
        f"Run date (as of): **{section.get('as_of') or 'not recorded'}**. A row of these tables is published only "
        "once its *shifted* date is at most run date − max_days; membership depends on the shifted date alone, "
        "so a new row in a snapshot never dates a shift. Dimension rows are always published.",
        "",
        "| table | release date | max_days | last published date | source rows | published | withheld |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for t, e in section["tables"].items():
        out.append(
            f"| {t} | {e['date']} | {e['max_days']} | {e.get('cutoff', '-')} | {e.get('source_rows', '-')} | "
            f"{e.get('published_rows', '-')} | {e.get('withheld_source_rows', '-')} |"
        )
    return out


def summary(section: dict[str, Any] | None) -> list[str]:
    """One line per table for the demo's console output."""
    lines = []
    for t, e in ((section or {}).get("tables") or {}).items():
        total, shown = e.get("source_rows"), e.get("published_rows")
        share = f" ({shown / total:.1%})" if total and shown is not None else ""
        lines.append(
            f"release: {t} publishes rows whose shifted {e['date']} <= {e.get('cutoff')} "
            f"(run date {section.get('as_of') if section else None} - {e['max_days']} days): "
            f"{shown}{share} of {total} source rows; {e.get('withheld_source_rows')} withheld until their shifted "
            "date leaves the window"
        )
    return lines
