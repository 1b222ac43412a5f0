"""CLI surface: --help everywhere, named-parameter aliases, `load` of user files and `classify` suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anonymizer.cli import build_parser, options
from anonymizer.pipeline import EXIT_USAGE

from .conftest import Lake

COMMANDS = [
    "generate",
    "demo",
    "gate",
    "anonymize",
    "check",
    "promote",
    "rollback",
    "report",
    "run",
    "load",
    "classify",
    "scan",
    "unlock",
    "bench",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "usage: anonymizer " + command in capsys.readouterr().out


def test_wheel_task_named_parameters_are_accepted() -> None:
    args = build_parser().parse_args(
        [
            "gate",
            "--runtime=databricks",
            "--source_catalog=medical_prd",
            "--secret_scope=anon",
            "--secret_key=key",
            "--run_id=123",
            "--report_dir=/Volumes/x/y/reports",
        ]
    )
    opts = options(args)
    assert (opts.runtime, opts.source_catalog, opts.secret_scope, opts.run_id) == (
        "databricks",
        "medical_prd",
        "anon",
        "123",
    )


def test_load_user_files_then_gate_passes(lake: Lake, tmp_path: Path) -> None:
    files = tmp_path / "files"
    for i, table in enumerate(("dim_patients", "dim_hospitals", "dim_doctors", "fact_visits")):
        df = lake.runtime.read(lake.source(table))
        if i % 2:  # CSV (a Spark CSV folder named <table>.csv), the others Parquet folders
            df.write.option("header", True).csv(str(files / f"{table}.csv"))
        else:
            df.write.parquet(str(files / table))
    fresh = tmp_path / "fresh"
    other = Lake(fresh, type(lake.runtime)(lake.runtime.spark, fresh), lake.key)
    assert other.cli("load", "--from", str(files)) == 0
    assert other.cli("gate", "--run-id", "loaded") == 0
    assert sorted(other.rows(other.source("dim_doctors"))) == sorted(lake.rows(lake.source("dim_doctors")))


def test_load_names_a_value_of_the_wrong_type(lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = tmp_path / "files"
    files.mkdir()
    for table in ("dim_patients", "dim_hospitals", "dim_doctors", "fact_visits"):
        frame = lake.runtime.read(lake.source(table)).toPandas()
        if table == "fact_visits":
            frame["doctor_id"] = frame["doctor_id"].astype("float64")  # pandas' way of writing nullable ints
        frame.to_csv(files / f"{table}.csv", index=False)
    assert lake.cli("load", "--from", str(files)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "fact_visits.csv: table fact_visits column doctor_id" in err and "not valid int" in err


def test_load_refuses_a_file_that_differs_from_the_contract(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "files"
    for table in ("dim_patients", "dim_hospitals", "dim_doctors", "fact_visits"):
        df = lake.runtime.read(lake.source(table))
        if table == "dim_hospitals":
            df = df.drop("phone")
        df.write.parquet(str(files / table))
    assert lake.cli("load", "--from", str(files)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "dim_hospitals" in err and "missing ['phone']" in err


def test_classify_suggests_strategies_for_a_new_table(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    from anonymizer.runtime import LiveColumn

    name = "medical.visits.dim_staff"
    lake.runtime.create_table(
        name,
        [
            LiveColumn("staff_id", "int", False),
            LiveColumn("email", "string", True),
            LiveColumn("phone_number", "string", True),
            LiveColumn("birth_date", "date", True),
            LiveColumn("notes", "string", True),
            LiveColumn("salary", "decimal(10,2)", False),
        ],
    )
    lake.runtime.declare_keys(name, ["staff_id"], [])
    assert lake.cli("classify", "--table", "dim_staff") == 0
    out = capsys.readouterr().out
    cols = yaml.safe_load(out)["tables"]["dim_staff"]["columns"]
    assert cols["staff_id"]["strategy"] == "key"
    assert cols["email"]["strategy"] == "email" and cols["phone_number"]["strategy"] == "phone"
    assert cols["birth_date"] == {
        "type": "date",
        "nullable": True,
        "classification": "quasi_identifier",
        "strategy": "date_shift",
        "params": {"entity": "staff_id"},
    }
    assert cols["notes"]["strategy"] == "null" and cols["salary"]["strategy"] == "generalize"
    assert out.count("review before merging") == 6
