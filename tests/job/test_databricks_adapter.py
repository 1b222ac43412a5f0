"""The Databricks side of the runtime adapter: the SQL it issues and the parsing of what it reads.

No workspace exists here, so the adapter's SQL executor is replaced by a recorder that answers with rows
shaped like Databricks' information_schema; the SQL strings themselves are asserted exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from anonymizer.contract import load_contract
from anonymizer.errors import UsageError
from anonymizer.gate import expected_keys, run_gate
from anonymizer.runtime import (
    DatabricksRuntime,
    KeyMetadata,
    LiveColumn,
    LocalRuntime,
    RuntimeError_,
    column_tags_sql,
    create_table_sql,
    foreign_key_sql,
    key_constraints_sql,
    parse_key_constraints,
    parse_tags,
    primary_key_sql,
    quote,
    read_sql,
    restore_sql,
    schema_tags_sql,
)
from anonymizer.tags import CLASSIFICATION_TAG, CONTRACT_HASH_TAG, STRATEGY_TAG, expected_column_tags


class Rows:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def collect(self) -> list[dict[str, Any]]:
        return self.rows


class Recorder:
    """Stands in for spark.sql on a workspace: records queries, answers from a routing table."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.queries: list[str] = []
        self.args: list[dict[str, Any] | None] = []
        self.answers = answers or {}

    def __call__(self, query: str, args: dict[str, Any] | None = None) -> Rows:
        self.queries.append(query)
        self.args.append(args)
        for needle, rows in self.answers.items():
            if needle in query:
                return Rows(rows)
        return Rows([])


def test_three_level_names_are_quoted_and_validated() -> None:
    assert quote("medical.visits.dim_patients") == "`medical`.`visits`.`dim_patients`"
    with pytest.raises(RuntimeError_):
        quote("medical.visits.dim_patients`; DROP TABLE x; --")


def test_restore_and_create_sql() -> None:
    assert restore_sql("`a`.`b`.`c`", 12) == "RESTORE TABLE `a`.`b`.`c` TO VERSION AS OF 12"
    # a pinned source read (the run's gate version): time travel, the version checked to be a plain integer
    assert read_sql("`a`.`b`.`c`", 7) == "SELECT * FROM `a`.`b`.`c` VERSION AS OF 7"
    assert read_sql("`a`.`b`.`c`") == "SELECT * FROM `a`.`b`.`c`"
    for bad in ("7; DROP TABLE x", -1, True, 7.5):
        with pytest.raises(UsageError):
            read_sql("`a`.`b`.`c`", bad)  # type: ignore[arg-type]
    sql = create_table_sql(
        "`a`.`b`.`c`", [LiveColumn("id", "int", False), LiveColumn("n", "varchar(20)", True)], {"k": "it's"}
    )
    assert sql == (
        "CREATE TABLE IF NOT EXISTS `a`.`b`.`c` (`id` INT NOT NULL, `n` VARCHAR(20)) USING DELTA "
        "TBLPROPERTIES ('k' = 'it''s')"
    )


def test_constraint_sql() -> None:
    assert primary_key_sql("m.v.dim_patients", ["patient_id"]) == (
        "ALTER TABLE `m`.`v`.`dim_patients` ADD CONSTRAINT `dim_patients_pk` PRIMARY KEY (`patient_id`) RELY"
    )
    assert foreign_key_sql("m.v.fact_visits", ["patient_id"], "m.v.dim_patients", ["patient_id"]) == (
        "ALTER TABLE `m`.`v`.`fact_visits` ADD CONSTRAINT `fact_visits_patient_id_fk` FOREIGN KEY (`patient_id`) "
        "REFERENCES `m`.`v`.`dim_patients` (`patient_id`)"
    )


def test_information_schema_queries_filter_by_schema() -> None:
    # values are bound as named parameters, never spliced into the text
    assert column_tags_sql("medical", "visits") == (
        "SELECT table_name, column_name, tag_name, tag_value FROM `medical`.information_schema.column_tags "
        "WHERE schema_name = :schema",
        {"schema": "visits"},
    )
    query, args = schema_tags_sql("medical", "visits")
    assert "`medical`.information_schema.schema_tags WHERE schema_name = :schema" in query
    assert args == {"schema": "visits"}
    sql, args = key_constraints_sql("medical", "visits", "fact_visits")
    assert "tc.table_name = :table" in sql and "referential_constraints" in sql
    assert args == {"schema": "visits", "table": "fact_visits"}
    assert "'" not in column_tags_sql("medical", "visits")[0]
    with pytest.raises(RuntimeError_):
        column_tags_sql("medical", "visits' OR 1=1 --")


def test_parse_tags_and_composite_foreign_keys() -> None:
    tags = parse_tags(
        [
            {"table_name": "t", "column_name": "c", "tag_name": "a", "tag_value": "1"},
            {"table_name": "t", "column_name": "c", "tag_name": "b", "tag_value": None},
        ]
    )
    assert tags == {("t", "c"): {"a": "1", "b": ""}}
    rows = [
        {
            "constraint_name": "t_pk",
            "constraint_type": "PRIMARY KEY",
            "column_name": "id",
            "ref_catalog": None,
            "ref_schema": None,
            "ref_table": None,
            "ref_column": None,
        },
        {
            "constraint_name": "fk1",
            "constraint_type": "FOREIGN KEY",
            "column_name": "a",
            "ref_catalog": "m",
            "ref_schema": "v",
            "ref_table": "p",
            "ref_column": "x",
        },
        {
            "constraint_name": "fk1",
            "constraint_type": "FOREIGN KEY",
            "column_name": "b",
            "ref_catalog": "m",
            "ref_schema": "v",
            "ref_table": "p",
            "ref_column": "y",
        },
    ]
    assert parse_key_constraints(rows) == KeyMetadata(("id",), ((("a", "b"), "m.v.p", ("x", "y")),))


def test_declare_keys_adds_only_missing_constraints() -> None:
    existing = [
        {
            "constraint_name": "fact_visits_pk",
            "constraint_type": "PRIMARY KEY",
            "column_name": "visit_id",
            "ref_catalog": None,
            "ref_schema": None,
            "ref_table": None,
            "ref_column": None,
        }
    ]
    rec = Recorder({"information_schema.table_constraints": existing})
    rt = DatabricksRuntime(spark=None, sql=rec)  # type: ignore[arg-type]
    rt.declare_keys("m.v.fact_visits", ["visit_id"], [(["patient_id"], "m.v.dim_patients", ["patient_id"])])
    assert rec.args[0] == {"schema": "v", "table": "fact_visits"}  # the constraint lookup binds its values
    alters = [q for q in rec.queries if q.startswith("ALTER")]
    assert alters == [foreign_key_sql("m.v.fact_visits", ["patient_id"], "m.v.dim_patients", ["patient_id"])]


def test_databricks_refs_and_restore_go_to_uc_names() -> None:
    rec = Recorder()
    rt = DatabricksRuntime(spark=None, sql=rec)  # type: ignore[arg-type]
    rt.restore("medical_anonymized.visits.dim_patients", 3)
    rt.drop("medical_anonymized.visits_staging.dim_patients")
    assert rec.queries == [
        "RESTORE TABLE `medical_anonymized`.`visits`.`dim_patients` TO VERSION AS OF 3",
        "DROP TABLE IF EXISTS `medical_anonymized`.`visits_staging`.`dim_patients`",
    ]


class TaggedLocal(LocalRuntime):
    """A local lakehouse that also answers tag queries, as information_schema does on Databricks."""

    def __init__(
        self, base: LocalRuntime, column_tags: dict[tuple[str, str], dict[str, str]], schema_tags: dict[str, str]
    ) -> None:
        super().__init__(base.spark, base.root)
        self._column_tags = column_tags
        self._schema_tags = schema_tags

    def column_tags(self, catalog: str, schema: str) -> dict[tuple[str, str], dict[str, str]]:  # type: ignore[override]
        return self._column_tags

    def schema_tags(self, catalog: str, schema: str) -> dict[str, str]:  # type: ignore[override]
        return self._schema_tags


def test_gate_compares_live_tags_and_contract_hash(published_template: Any) -> None:
    contract = load_contract()
    digest = contract.digest()
    good = expected_column_tags(contract)
    rt = TaggedLocal(published_template.runtime, good, {CONTRACT_HASH_TAG: digest})
    assert run_gate(rt, contract, digest).passed
    bad = {k: dict(v) for k, v in good.items()}
    bad[("dim_patients", "ssn")][STRATEGY_TAG] = "keep"
    del bad[("fact_visits", "visit_date")][CLASSIFICATION_TAG]
    result = run_gate(TaggedLocal(published_template.runtime, bad, {CONTRACT_HASH_TAG: "0" * 64}), contract, digest)
    codes = {(f.code, f.table, f.column) for f in result.findings}
    assert ("tag_mismatch", "dim_patients", "ssn") in codes
    assert ("tag_mismatch", "fact_visits", "visit_date") in codes
    assert any(f.code == "contract_hash_mismatch" for f in result.findings)
    assert not result.passed


def test_expected_keys_use_source_names() -> None:
    keys = expected_keys(load_contract(), "dim_doctors")
    assert keys == KeyMetadata(("doctor_id",), ((("hospital_id",), "medical.visits.dim_hospitals", ("hospital_id",)),))
