"""Values reach Spark as named parameters: quotes and backslashes round-trip unchanged through the journal.

Quoting values into SQL text used to change them (Spark reads ``'o''brien'`` as ``obrien``), so a run id
``nightly-o'brien`` locked itself out. Identifiers are validated against one pattern before they reach SQL.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from anonymizer.contract import load_contract, packaged_contract_path
from anonymizer.journal import EventName, Journal
from anonymizer.pipeline import EXIT_USAGE
from anonymizer.sqlident import UnsafeIdentifier, backticked, identifier

from .conftest import Lake

QUOTED_RUN = "nightly-o'brien"
QUOTED_VALUE = "it's a \"quoted\" value with a backslash \\ and ''doubled'' quotes; DROP TABLE x --"


def test_quoted_values_round_trip_through_journal_and_lock(lake: Lake) -> None:
    journal = Journal(lake.runtime, load_contract())
    assert journal.acquire(QUOTED_RUN) is None
    assert journal.lock_holder()["holder"] == QUOTED_RUN
    journal.record(
        QUOTED_RUN,
        "run_started",
        table=QUOTED_VALUE,
        before=7,
        contract_sha256=QUOTED_VALUE,
        code_version=QUOTED_VALUE,
        detail={"reason": QUOTED_VALUE},
    )
    journal.refresh()
    (event,) = journal.events(QUOTED_RUN)
    assert (event.run_id, event.table_name, event.contract_sha256, event.code_version) == (
        QUOTED_RUN,
        QUOTED_VALUE,
        QUOTED_VALUE,
        QUOTED_VALUE,
    )
    assert event.version_before == 7 and event.version_after is None
    assert event.detail == {"reason": QUOTED_VALUE}
    journal.release(QUOTED_RUN)
    assert journal.lock_holder()["holder"] is None


def test_writer_cache_equals_the_journal_read_back_and_is_dropped_when_the_lock_is_taken(lake: Lake) -> None:
    """The steps of one run keep the journal in memory instead of re-reading it after each append: what they
    keep must be exactly what another process reads back (timestamps, types, detail JSON), and a process
    that takes the lock must see what others appended before it."""
    contract = load_contract()
    writer = Journal(lake.runtime, contract)
    assert writer.acquire("run-a") is None
    already = len(writer.events())  # loads the cache, so the appends below extend it
    writer.record("run-a", EventName.RUN_STARTED, contract_sha256="c" * 64, code_version="9.9")
    writer.record_many(
        [
            dict(run_id="run-a", event=EventName.PROMOTE_TABLE_BEGIN, table="dim_patients", before="3"),
            dict(run_id="run-a", event="promote_begin", detail={"at": dt.date(2026, 1, 2), "v": {"t": 3}}),
        ]
    )
    kept = writer.events()
    read_back = Journal(lake.runtime, contract).events()
    assert len(kept) == already + 3
    assert kept == read_back
    assert kept[-3].ts < kept[-2].ts < kept[-1].ts  # read back in the order written, within a commit too
    writer.release("run-a")

    other = Journal(lake.runtime, contract)
    assert other.acquire("run-b") is None
    other.record("run-b", EventName.RUN_STARTED)
    other.release("run-b")
    assert [e.run_id for e in writer.events()][-1] == "run-a"  # no lock: the old view
    assert writer.acquire("run-c") is None
    assert [e.run_id for e in writer.events()][-1] == "run-b"  # taking the lock reads the journal again
    writer.release("run-c")


def test_journal_compaction_bin_packs_its_files_and_keeps_every_event(lake: Lake) -> None:
    """One file per append would make every run's first read slower forever; compaction must shrink the file
    count without changing one event (rows, ts order, detail), and do nothing below the threshold."""
    contract = load_contract()
    writer = Journal(lake.runtime, contract)
    assert writer.acquire("run-compact") is None
    writer.events()
    for i in range(5):
        writer.record("run-compact", EventName.RUN_STARTED, detail={"i": i, "quote": QUOTED_VALUE})
    before = writer.events()
    files = int(lake.runtime.detail(writer.table)["numFiles"])
    version = lake.runtime.version(writer.table)
    assert files >= 5

    assert writer.compact(at_files=files + 1) == {"files": files, "compacted": False}
    assert lake.runtime.version(writer.table) == version  # below the threshold: not even a commit

    done = writer.compact(at_files=5)
    assert done["compacted"] and done["files"] == files and done["files_after"] < 5
    assert lake.runtime.version(writer.table) == version + 1
    assert Journal(lake.runtime, contract).events() == before  # read back from the compacted files
    writer.release("run-compact")


def test_run_with_quoted_contract_value_publishes_and_quoted_run_id_is_refused(
    lake: Lake, tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI refuses a quoted run id before anything locks (it could be a path or break a report name);
    the journal itself still round-trips one (above). A quoted contract value publishes unchanged."""
    doc = yaml.safe_load(packaged_contract_path().read_text())
    reason = "Public job title from a closed list; it's \"safe\" to keep (o'brien's review)."
    doc["tables"]["dim_doctors"]["columns"]["specialization"]["params"]["reason"] = reason
    contract = tmp_path / "quoted.yaml"  # type: ignore[operator]
    contract.write_text(yaml.safe_dump(doc, sort_keys=False))
    journal = Journal(lake.runtime, load_contract())
    before = journal.last_committed()
    assert lake.cli("run", "--run-id", QUOTED_RUN, "--contract", str(contract)) == EXIT_USAGE
    assert "is not a valid run id" in capsys.readouterr().err
    journal.refresh()
    assert journal.events(QUOTED_RUN) == [] and journal.lock_holder()["holder"] is None
    assert journal.last_committed() == before
    assert lake.cli("run", "--run-id", "nightly-obrien", "--contract", str(contract)) == 0
    journal.refresh()
    assert journal.last_committed().run_id == "nightly-obrien"  # type: ignore[union-attr]
    report = json.loads((lake.root / "reports" / "run-nightly-obrien.json").read_text())
    assert report["status"] == "published" and report["run_id"] == "nightly-obrien"


@pytest.mark.parametrize("bad", ["a b", "a`b", "a'b", "a.b", "1a", "", "a;--", "é", "abc\n", "abc\n`; DROP"])
def test_identifiers_are_validated_before_sql(bad: str) -> None:
    with pytest.raises(UnsafeIdentifier):
        identifier(bad)
    with pytest.raises(UnsafeIdentifier):
        backticked(bad)
    assert backticked("notes_2") == "`notes_2`"


def test_every_name_rule_is_the_one_sql_identifier_pattern() -> None:
    # The JSON schema, the contract loader and the statement builders must agree: a name the contract accepts
    # must be one a statement may splice (and nothing more, such as a trailing newline Python's `$` allows).
    import re
    from pathlib import Path

    from anonymizer.contract import _IDENT
    from anonymizer.privacy import _COLUMN_REF
    from anonymizer.sqlident import IDENTIFIER, NAME, is_identifier

    schema = Path(__file__).resolve().parents[2] / "jobs/src/anonymizer/contracts/contract.schema.json"
    patterns = set(re.findall(r'"pattern": "(\^\[A-Za-z_\][^"]*)"', schema.read_text()))
    assert patterns == {IDENTIFIER, _COLUMN_REF.replace("\\", "\\\\")}, patterns
    assert _IDENT == IDENTIFIER and rf"^{NAME}\.{NAME}$" == _COLUMN_REF
    assert not is_identifier("abc\n") and is_identifier("abc")
