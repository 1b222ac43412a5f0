"""Every step of a run reads the source snapshot its gate read, even when another job commits in between."""

from __future__ import annotations

from pyspark.sql import functions as F

from anonymizer.contract import load_contract
from anonymizer.journal import EventName, Journal

from .conftest import Lake


def test_a_source_commit_after_the_gate_is_not_published(lake: Lake) -> None:
    c, rt = load_contract(), lake.runtime
    visits, patients = c.source_name("fact_visits"), c.source_name("dim_patients")
    assert lake.cli("gate", "--run-id", "pinned") == 0
    gated = {t: rt.version(c.source_name(t)) for t in c.tables}
    # what run "first" published from this very snapshot (release windows withhold recent visits)
    rows = {t: rt.read(c.target_name(t)).count() for t in c.tables}
    first = rt.read(patients).agg(F.min("patient_id")).collect()[0][0]
    # Another job commits to the source mid-run: rows the gate would refuse (a duplicate primary key, an
    # orphan) and one it never saw. Unpinned, the anonymize step would publish them unchecked and the checks
    # would compare staging with the very rows it was made from, and pass.
    rt.sql(f"INSERT INTO {rt.ref(visits)} SELECT * FROM {rt.ref(visits)} LIMIT 1")
    rt.sql(f"DELETE FROM {rt.ref(patients)} WHERE patient_id = :first", {"first": first})
    assert rt.version(visits) == gated["fact_visits"] + 1
    # Each step a separate task (its own context, the pin read back from the journal), as on Databricks.
    for step in ("anonymize", "check", "risk", "promote"):
        assert lake.cli(step, "--run-id", "pinned") == 0, step
    journal = Journal(rt, c)
    recorded = journal.has("pinned", EventName.GATE_PASSED)
    assert recorded is not None and recorded.detail["source_versions"] == gated
    for t in c.tables:
        final = rt.read(c.target_name(t))
        assert final.count() == rows[t], t
        pk = c.tables[t].primary_key
        assert final.select(*pk).distinct().count() == rows[t], t
    published_patients = {r[0] for r in rt.read(c.target_name("fact_visits")).select("patient_id").distinct().collect()}
    known = {r[0] for r in rt.read(c.target_name("dim_patients")).select("patient_id").collect()}
    assert published_patients <= known  # no orphan: the deleted patient is still in the gated snapshot
    assert rt.read(patients).count() == rows["dim_patients"] - 1  # the source did change


def test_the_checks_reuse_the_gates_source_numbers_only_where_they_equal_a_fresh_measurement(lake: Lake) -> None:
    """The check step takes the source side (rows, NULLs per column, FK orphans and join counts) from the gate's
    pass over the same pinned snapshot; a fresh measurement by the checks gives the very same numbers. A table
    under a release window is measured by the checks (the gate counted all its rows, staging holds fewer)."""
    from anonymizer.checks import run_checks
    from anonymizer.context import Options, build_context
    from anonymizer.pipeline import StepLog, begin, check_context

    c, rt = load_contract(), lake.runtime
    for step in ("gate", "anonymize", "check"):
        assert lake.cli(step, "--run-id", "reuse") == 0, step
    checked = Journal(rt, c).has("reuse", EventName.CHECK_PASSED)
    assert checked is not None
    reused = set(checked.detail["source_side_from_gate"])
    assert reused == {"src:dim_patients", "src:dim_hospitals", "src:dim_doctors", "fk_src:dim_doctors"}
    # A commit to the source after the gate: the reused numbers must still be the pinned snapshot's.
    patients = c.source_name("dim_patients")
    first = rt.read(patients).agg(F.min("patient_id")).collect()[0][0]
    rt.sql(f"DELETE FROM {rt.ref(patients)} WHERE patient_id = :first", {"first": first})
    key_file = lake.root / "test.key"
    key_file.write_text(lake.key + "\n")
    key_file.chmod(0o600)
    ctx = build_context(Options(lakehouse=str(lake.root), key_file=str(key_file), report_dir=str(lake.root / "r")))
    begin(ctx, "reuse", StepLog(lambda _t: None))
    with_gate = check_context(ctx, "reuse")
    fresh = check_context(ctx, "reuse")
    fresh.gate_numbers = {}
    run_checks(with_gate)
    run_checks(fresh)
    assert fresh.reused == [] and len(with_gate.reused) == len(reused)
    for kind, table in with_gate.gate_numbers:  # every number the gate recorded, reused or not
        assert with_gate.gate_numbers[(kind, table)] == fresh.measured[(kind, table)], (kind, table)
    assert ("src", "fact_visits") not in with_gate.gate_numbers  # released: recent visits' numbers unrecorded
    assert fresh.measured[("src", "dim_patients")]["__rows"] == rt.read(patients).count() + 1
