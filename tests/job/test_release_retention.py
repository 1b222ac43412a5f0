"""Release windows and erasure, end to end on real Spark + Delta (issue 13 items 1 and 2).

The oracle for "which rows should be published" is the engine itself: ``anonymize_table`` over the *whole*
source gives every row's shifted date (released or not), independently of the release module's filter.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import functions as F

from anonymizer.checks import CheckContext, run_checks
from anonymizer.context import Options, build_context
from anonymizer.contract import load_contract, packaged_contract_path
from anonymizer.engine import anonymize_table
from anonymizer.journal import Journal
from anonymizer.keys import Keyring
from anonymizer.pipeline import key_aligner
from anonymizer.release import attach
from anonymizer.retention import DELETED_FILE_RETENTION, LOG_RETENTION

from .conftest import Lake

VISITS = "fact_visits"


def _shifted(lake: Lake) -> dict[int, dt.date]:
    """Anonymized visit_id -> shifted visit_date for every source visit (released or not)."""
    c = load_contract()
    src = lake.runtime.read(c.source_name(VISITS))
    anon = anonymize_table(src, c, VISITS, Keyring.from_text(lake.key))
    return {r["visit_id"]: r["visit_date"] for r in anon.select("visit_id", "visit_date").collect()}


def _published(lake: Lake) -> set[int]:
    return {r[0] for r in lake.runtime.read(lake.target(VISITS)).select("visit_id").collect()}


def _report(lake: Lake, run_id: str) -> dict[str, Any]:
    return json.loads((lake.root / "reports" / f"run-{run_id}.json").read_text())


def test_rows_appear_exactly_when_their_shifted_date_crosses_the_line(lake: Lake) -> None:
    before = _shifted(lake)
    # Pick the run date D so that some existing visits sit exactly on the line of D+1 (shifted date X).
    counts: dict[dt.date, int] = {}
    for d in before.values():
        counts[d] = counts.get(d, 0) + 1
    middle = sorted(counts)[len(counts) // 2 :]
    x = max(middle[:60], key=lambda d: counts[d])  # a well-populated day in the middle of the range
    day = x - dt.timedelta(days=1) + dt.timedelta(days=365)
    assert lake.cli("run", "--run-id", "day-d", "--as-of", day.isoformat()) == 0
    published_d = _published(lake)
    assert published_d == {v for v, s in before.items() if s <= x - dt.timedelta(days=1)}

    # Between the runs production records new visits: some happened since the last run (true date D+1),
    # some arrive late (true dates long past).
    rt, c = lake.runtime, load_contract()
    ref = rt.ref(c.source_name(VISITS))
    top, hospital = rt.sql(f"SELECT max(visit_id), min(hospital_id) FROM {ref}").collect()[0]
    patients = [r[0] for r in rt.sql(f"SELECT DISTINCT patient_id FROM {ref} ORDER BY 1 LIMIT 20").collect()]
    recent = day + dt.timedelta(days=1)
    rows = [(top + 1 + i, p, hospital, recent) for i, p in enumerate(patients)]
    rows += [(top + 101 + i, p, hospital, x - dt.timedelta(days=400 + i)) for i, p in enumerate(patients)]
    values = ", ".join(f"({v}, {p}, {h}, NULL, DATE'{d.isoformat()}')" for v, p, h, d in rows)
    rt.sql(f"INSERT INTO {ref} VALUES {values}")

    after = _shifted(lake)
    new_ids = set(after) - set(before)
    assert len(new_ids) == len(rows)
    assert lake.cli("run", "--run-id", "day-d1", "--as-of", recent.isoformat()) == 0
    published_d1 = _published(lake)

    # Membership is a function of the shifted date alone: exactly the rows with shifted date <= D+1 - 365.
    assert published_d1 == {v for v, s in after.items() if s <= x}
    appeared = published_d1 - published_d
    crossed = {v for v, s in before.items() if s == x}
    late = {v for v in new_ids if after[v] <= x}
    assert crossed and late  # both kinds of appearance happen in this scenario
    assert appeared == crossed | late
    assert published_d <= published_d1  # nothing published is withdrawn by time passing

    report = _report(lake, "day-d1")
    assert report["release"]["as_of"] == recent.isoformat()
    entry = report["release"]["tables"][VISITS]
    assert entry["cutoff"] == x.isoformat() and entry["published_rows"] == len(published_d1)
    assert entry["withheld_source_rows"] == len(after) - len(published_d1)
    names = {(ch["name"], ch["table"]): ch for ch in report["checks"]}
    window = names[("release_window", VISITS)]
    assert window["passed"] and window["numbers"]["latest_published"] <= x.isoformat()
    assert names[("release_membership", VISITS)]["passed"]
    md = (lake.root / "reports" / "run-day-d1.md").read_text()
    assert "## Release windows" in md and "## History and erasure" in md
    journal = Journal(rt, c)
    assert journal.has("day-d1", "anonymized").detail["release"]["as_of"] == recent.isoformat()


def test_release_checks_fail_when_staging_holds_unreleased_rows(lake: Lake) -> None:
    """Staging written for a later run date, checked against an earlier one: the checks must refuse it.

    The contract coarsens visit_date to the year, so the window check compares with G(cutoff) (a year
    earlier here) and membership is the exact guard."""
    import os

    os.environ["ANONYMIZER_KEY"] = lake.key
    try:
        ctx = build_context(Options(lakehouse=str(lake.root), as_of="2026-11-29"))
        from anonymizer.pipeline import StepLog, anonymize_step, gate_step

        gate_step(ctx, "later", StepLog(lambda _: None))
        anonymize_step(ctx, "later", StepLog(lambda _: None))
        earlier = {"as_of": "2025-09-01", "tables": {VISITS: {"date": "visit_date"}}}
        check_ctx = attach(CheckContext(ctx.runtime, ctx.contract, key_aligner(ctx)), ctx.keyring, earlier)
        failed = {(ch.name, ch.table): ch.numbers for ch in run_checks(check_ctx) if not ch.passed}
    finally:
        os.environ.pop("ANONYMIZER_KEY", None)
    window = failed[("release_window", VISITS)]
    assert window["cutoff"] == "2024-09-01" and window["compared_with"] == "2024-01-01"
    assert window["published_after_cutoff"] > 0 and window["latest_published"] > "2024-12-31"
    membership = failed[("release_membership", VISITS)]
    assert membership["published_rows"] > membership["released_source_rows"]
    # every row released on the earlier date is in the later staging (its keyed image), none of the rest
    assert membership["published_matching_released"] == membership["released_source_rows"]
    assert ("row_count_equal", VISITS) in failed  # the existing checks compare with the released subset


def _short_retention_contract(tmp_path: Path) -> Path:
    data = yaml.safe_load(packaged_contract_path().read_text())
    data["settings"]["retention"] = {"deleted_file_retention_hours": 0, "log_retention_hours": 0}
    path = tmp_path / "short-retention.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _data_files(table_dir: Path) -> list[Path]:
    return sorted(p for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts)


def test_erased_patient_leaves_every_readable_version_and_every_file(lake: Lake, tmp_path: Path) -> None:
    """Right to erasure with 0-hour retention (production uses 168 h: readers of an old snapshot and
    rollback need the files for that long). 0 h stands in for "the window has passed"."""
    contract_file = str(_short_retention_contract(tmp_path))
    rt, c = lake.runtime, load_contract()
    keyring = Keyring.from_text(lake.key)
    src_patients = rt.read(c.source_name("dim_patients"))
    victim = src_patients.agg(F.min("patient_id")).collect()[0][0]
    anon = anonymize_table(src_patients.where(F.col("patient_id") == victim), c, "dim_patients", keyring).collect()[0]
    pseudonym_id, pseudonym_name = anon["patient_id"], anon["name"]
    target = rt.read(lake.target("dim_patients"))
    assert target.where(F.col("patient_id") == pseudonym_id).count() == 1  # published before the erasure

    assert lake.cli("run", "--contract", contract_file, "--run-id", "short-1") == 0
    for table in c.tables:
        for name in (c.target_name(table), c.staging_name(table)):
            props = rt.properties(name)
            assert props[DELETED_FILE_RETENTION] == "interval 0 hours", name
            assert props[LOG_RETENTION] == "interval 0 hours", name

    # Production erases the patient (visits first: the gate would see orphans otherwise).
    rt.sql(f"DELETE FROM {rt.ref(c.source_name(VISITS))} WHERE patient_id = {victim}")
    rt.sql(f"DELETE FROM {rt.ref(c.source_name('dim_patients'))} WHERE patient_id = {victim}")
    assert lake.cli("run", "--contract", contract_file, "--run-id", "short-2") == 0

    unreadable = 0
    for table in c.tables:
        for name in (c.target_name(table), c.staging_name(table)):
            history = rt.sql(f"DESCRIBE HISTORY {rt.ref(name)}").select("version").collect()
            for (version,) in history:
                try:
                    rows = rt.sql(f"SELECT * FROM {rt.ref(name)} VERSION AS OF {version}")
                    if "patient_id" in rows.columns:
                        assert rows.where(F.col("patient_id") == pseudonym_id).count() == 0, (name, version)
                    if table == "dim_patients":
                        assert rows.where(F.col("name") == pseudonym_name).count() == 0, (name, version)
                except AssertionError:
                    raise
                except Exception as exc:  # files of that version are vacuumed: it cannot be read any more
                    assert any(m in str(exc) for m in ("not exist", "FileNotFound", "FILE_NOT_EXIST")), str(exc)[:300]
                    unreadable += 1
            # Physically: every remaining data file of the table, read directly, lacks the patient.
            files = _data_files(rt.path(name))
            current = {Path(p).name for p in rt.read(name).inputFiles()}
            assert {f.name for f in files} == current, name  # old data files are gone
            if table in ("dim_patients", VISITS) and files:
                raw = rt.spark.read.parquet(*[str(f) for f in files])
                assert raw.where(F.col("patient_id") == pseudonym_id).count() == 0, name
    assert unreadable > 0  # the pre-erasure versions exist in the log but cannot be read

    report = _report(lake, "short-2")
    assert report["retention"]["vacuum"]["ok"] and report["retention"]["vacuum"]["retain_hours"] == 0
    assert "within 0 days" in report["retention"]["guarantee"]

    # Rollback needs the vacuumed files: it is refused with the reason instead of failing half-way.
    assert lake.cli("rollback", "--contract", contract_file, "--to-run", "short-2") == 2
    assert rt.read(lake.target("dim_patients")).where(F.col("patient_id") == pseudonym_id).count() == 0


def test_rollback_keeps_working_within_the_window(lake: Lake) -> None:
    """Default retention (168 h): the vacuum after a run keeps the versions rollback needs."""
    c = load_contract()
    before = lake.runtime.read(lake.target("dim_patients")).count()
    lake.runtime.sql(f"DELETE FROM {lake.runtime.ref(c.source_name(VISITS))} WHERE patient_id <= 3")
    lake.runtime.sql(f"DELETE FROM {lake.runtime.ref(c.source_name('dim_patients'))} WHERE patient_id <= 3")
    assert lake.cli("run", "--run-id", "second") == 0
    assert lake.runtime.read(lake.target("dim_patients")).count() == before - 3
    report = _report(lake, "second")
    assert report["retention"]["vacuum"]["ok"] and report["retention"]["vacuum"]["retain_hours"] == 168
    assert report["retention"]["vacuum"]["journal"]["files"] >= 1  # the journal's maintenance ran and was journaled
    assert lake.cli("rollback", "--to-run", "second") == 0
    assert lake.runtime.read(lake.target("dim_patients")).count() == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["fact_visits"].update(release={"date": "visit_id"}), "not date_shift"),
        (lambda t: t["fact_visits"].update(release={"date": "when"}), "is not a column of fact_visits"),
        (lambda t: t["dim_patients"].update(release={"date": "dob"}), "referenced by foreign keys"),
    ],
)
def test_contract_refuses_bad_release_rules(edit: Any, message: str, tmp_path: Path) -> None:
    from anonymizer.contract import ContractError, parse_contract

    data = yaml.safe_load(packaged_contract_path().read_text())
    edit(data["tables"])
    with pytest.raises(ContractError) as err:
        parse_contract(yaml.safe_dump(data, sort_keys=False), "c.yaml")
    assert any(message in i.message for i in err.value.issues), err.value


def test_a_maintenance_failure_is_journaled_as_one_bounded_line_even_without_a_message() -> None:
    """An exception with an empty message used to raise IndexError inside the handler that must keep an
    already published run from failing; a long multi-line one must not flood the journal."""
    from anonymizer.errors import first_line

    assert first_line(RuntimeError()) == "RuntimeError"
    assert first_line(RuntimeError("\n")) == "RuntimeError"
    assert first_line(RuntimeError("x" * 500 + "\nat org.apache...")) == "x" * 300


def test_journal_compaction_in_a_run_and_a_failing_one_never_fails_the_published_run(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's maintenance runs after promotion: when it compacts, the report says so; when it breaks
    (fault injected into its metadata read), the run still publishes and the report names the failure."""
    import anonymizer.journal as journal_module

    monkeypatch.setattr(journal_module, "COMPACT_AT_FILES", 2)
    assert lake.cli("run", "--run-id", "compacting") == 0
    done = _report(lake, "compacting")["retention"]["vacuum"]["journal"]
    assert done["compacted"] and done["files_after"] < done["files"]
    assert "run journal compacted" in (lake.root / "reports" / "run-compacting.md").read_text()
    assert [e.run_id for e in Journal(lake.runtime, load_contract()).events()].count("compacting") >= 5

    published = lake.final_versions()
    real_detail = type(lake.runtime).detail

    def broken_detail(self: Any, uc_name: str) -> dict[str, Any]:
        if uc_name.endswith("_anonymizer_journal"):
            raise RuntimeError()  # no message: the handler must still produce a line
        return real_detail(self, uc_name)

    monkeypatch.setattr(type(lake.runtime), "detail", broken_detail)
    assert lake.cli("run", "--run-id", "compaction-broken") == 0
    report = _report(lake, "compaction-broken")
    assert report["retention"]["vacuum"]["journal"] == {"error": "RuntimeError"}
    assert report["retention"]["vacuum"]["ok"]
    assert lake.final_versions() != published  # the run did publish
    assert (
        "journal compaction FAILED (RuntimeError)" in (lake.root / "reports" / "run-compaction-broken.md").read_text()
    )


def test_released_source_equals_the_keyed_rule_at_every_edge_of_the_band(spark: Any) -> None:
    """The check step's released subset skips the keyed shift outside ``(cutoff + 1, cutoff + max_days]``.

    The oracle is the rule itself (the keyed shifted date on or before the cutoff) on every row. The rows sit
    where an off-by-one in either bound would flip membership: patients whose keyed offset is exactly -1 or
    exactly -max_days, at the dates where their shifted date lands on the cutoff or one day after it, plus NULL
    dates and a NULL patient (which has its own keyed offset).
    """
    from anonymizer.keys import generate_key_text
    from anonymizer.release import _on_or_before, cutoff, max_days, released_source, shifted_date

    c = load_contract()
    keyring = Keyring.from_text(generate_key_text())
    as_of = dt.date(2026, 6, 30)
    last, span = cutoff(c, VISITS, as_of), max_days(c, VISITS, "visit_date")
    schema = "visit_id int, patient_id int, hospital_id int, doctor_id int, visit_date date"
    probe_day = dt.date(2020, 1, 1)
    probe = spark.createDataFrame([(p, p, 1, 1, probe_day) for p in range(1, 40001)], schema)  # type: ignore[attr-defined]
    shifted = probe.select("patient_id", shifted_date(probe, c, VISITS, "visit_date", keyring).alias("s")).collect()
    offset = {r["patient_id"]: (r["s"] - probe_day).days for r in shifted}
    nearest = sorted(p for p, o in offset.items() if o == -1)[:3]
    farthest = sorted(p for p, o in offset.items() if o == -span)[:3]
    assert nearest and farthest  # about 110 of each among 40,000 patients
    day = dt.timedelta(days=1)
    dates = [last - 400 * day, last, last + day, last + 2 * day, last + (span // 2) * day]
    dates += [last + (span - 1) * day, last + span * day, last + (span + 1) * day, as_of + 30 * day, None]
    patients: list[int | None] = [*nearest, *farthest, 7, None]
    rows = [(i, p, 1, 1, d) for i, (p, d) in enumerate((p, d) for p in patients for d in dates)]
    df = spark.createDataFrame(rows, schema)  # type: ignore[attr-defined]
    rule = df.where(_on_or_before(shifted_date(df, c, VISITS, "visit_date", keyring), last))
    expected = {r[0] for r in rule.select("visit_id").collect()}
    got = [r[0] for r in released_source(df, c, VISITS, keyring, as_of).select("visit_id").collect()]
    assert sorted(got) == sorted(expected)  # same rows, none twice
    by_id = {i: (p, d) for i, p, _h, _d, d in rows}
    # the edges really are exercised: offset -1 at cutoff + 2 is withheld, offset -max_days at cutoff + max_days
    # is released, a NULL date never is
    assert not any(by_id[i][0] in nearest and by_id[i][1] == last + 2 * day for i in got)
    assert any(by_id[i][0] in farthest and by_id[i][1] == last + span * day for i in got)
    assert all(by_id[i][1] is not None for i in got)
    assert any(by_id[i][0] is None for i in got)
