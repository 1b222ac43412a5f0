"""Every supported type x strategy through anonymize_table: exact schema, NULL behaviour, bounds, values.

The table is created with DDL in a Delta folder so VARCHAR(n), NOT NULL and the complex types come back
from Spark exactly as they do from Unity Catalog.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from anonymizer.contract import ContractError, parse_contract
from anonymizer.engine import EngineError, anonymize_table, schema_differences
from anonymizer.keys import Keyring

pytestmark = pytest.mark.spark

MASTER = hashlib.sha256(b"test vector: engine types").digest()  # fixed, public test key
KEYRING = Keyring.from_bytes(MASTER)

# name: (ddl type, nullable, strategy, params)
COLUMNS: dict[str, tuple[str, bool, str, dict[str, Any]]] = {
    "id": ("bigint", False, "key", {}),
    "k_tiny": ("tinyint", False, "key", {"small_domain_ok": "test table: a tinyint key on purpose"}),
    "k_small": ("smallint", True, "key", {"small_domain_ok": "test table: a smallint key on purpose"}),
    "k_int": ("int", True, "key", {}),
    "k_str": ("string", True, "key", {"alphabet": "hex"}),
    "k_vc": ("varchar(10)", False, "key", {}),
    "dec": ("decimal(10,2)", True, "generalize", {"bin_width": 100}),
    "dec_nn": ("decimal(5,2)", False, "generalize", {"bin_width": 0.5}),
    "flt": ("float", True, "generalize", {"bin_width": 0.5}),
    "dbl": ("double", False, "generalize", {"bin_width": 10}),
    "tiny_g": ("tinyint", False, "generalize", {"bin_width": 10}),
    "s_prefix": ("string", True, "generalize", {"prefix_length": 3}),
    "s_hash": ("string", True, "hash", {"length": 16, "link_as": "raw_bytes"}),
    "vc_name": ("varchar(12)", False, "person_name", {}),
    "vc_email": ("varchar(12)", True, "email", {}),
    "first": ("string", True, "first_name", {}),
    "last": ("string", True, "last_name", {}),
    "city": ("string", True, "city", {}),
    "org": ("string", True, "organization_name", {"unique_by": "k_int"}),
    "phone": ("string", True, "phone", {}),
    "ssn": ("string", True, "ssn", {}),
    "d": ("date", False, "date_shift", {"entity": "id"}),
    "ts": ("timestamp", True, "date_shift", {"entity": "id"}),
    "ntz": ("timestamp_ntz", True, "date_shift", {"entity": "id", "max_days": 30}),
    "d_null": ("date", True, "date_shift", {"entity": "k_int"}),
    "d_gen": ("date", True, "generalize", {"to": "month"}),
    "ts_gen": ("timestamp", False, "generalize", {"to": "year"}),
    "ntz_gen": ("timestamp_ntz", True, "generalize", {"to": "month"}),
    "flag": ("boolean", False, "keep", {"reason": "not personal: a test flag"}),
    "flag_null": ("boolean", True, "null", {}),
    "bin": ("binary", True, "hash", {"link_as": "raw_bytes"}),
    "arr": ("array<int>", True, "null", {}),
    "m": ("map<string,int>", True, "keep", {"reason": "not personal: a test map"}),
    "st": ("struct<a:int,b:string>", True, "null", {}),
}

ROWS = [
    "1, 5, 300, 42, '550e8400-e29b-41d4-a716-446655440000', 'AB-1234', 1234.56, 3.74, 2.75, 17.0, 57, 'abcdef', "
    "'secret', 'Jon Smith', 'jon@mail.com', 'Ann', 'Lee', 'Boston', 'Mayo Clinic', "
    "'(555) 123-4567', '123-45-6789', DATE'2021-05-17', TIMESTAMP'2021-05-17 10:30:00', "
    "TIMESTAMP_NTZ'2021-05-17 10:30:00', DATE'2020-01-01', DATE'2021-05-17', TIMESTAMP'2021-05-17 10:30:00', "
    "TIMESTAMP_NTZ'2021-05-17 10:30:00', true, true, X'0102', array(1, 2), map('a', 1), named_struct('a', 1, 'b', 'x')",
    # extremes, and a NULL entity (k_int) with a non-NULL date that depends on it
    "-9223372036854775808, -128, -32768, NULL, 'ABCDEF', 'zz-0000', -99999999.99, -999.99, -0.25, -5.0, -128, '', "
    "'', '', '', '', '', '', '', '', '', DATE'1900-01-01', TIMESTAMP'1970-01-01 00:00:00', "
    "TIMESTAMP_NTZ'2000-02-29 23:59:59', DATE'2010-06-30', DATE'1999-12-31', TIMESTAMP'1999-12-31 23:59:59', "
    "TIMESTAMP_NTZ'1999-12-31 23:59:59', false, false, X'', array(), map(), named_struct('a', NULL, 'b', NULL)",
    # every nullable column NULL
    "9223372036854775807, 127, NULL, NULL, NULL, 'X', NULL, 0.00, NULL, 0.0, 0, NULL, NULL, 'Al', NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, DATE'2024-02-29', NULL, NULL, NULL, NULL, TIMESTAMP'2024-02-29 12:00:00', NULL, true, "
    "NULL, NULL, NULL, NULL, NULL",
]


def _contract_text() -> str:
    lines = [
        "contract_version: 1",
        "name: all_types",
        "source: {catalog: c, schema: s}",
        "target: {catalog: c2, schema: s, staging_schema: st}",
        "tables:",
        "  all_types:",
        "    primary_key: [id]",
        "    columns:",
    ]
    for name, (ddl, nullable, strategy, params) in COLUMNS.items():
        classification = "key" if strategy == "key" else "quasi_identifier"
        lines.append(
            f"      {name}: {{type: '{ddl}', nullable: {str(nullable).lower()}, "
            f"classification: {classification}, strategy: '{strategy}', params: {params!r}}}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def frames(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, pd.DataFrame, pd.DataFrame]:
    contract = parse_contract(_contract_text(), "all_types.yaml")
    path: Path = tmp_path_factory.mktemp("types") / "all_types"
    ddl = ", ".join(f"`{n}` {t.upper()}{'' if nullable else ' NOT NULL'}" for n, (t, nullable, _, _) in COLUMNS.items())
    spark.sql(f"CREATE TABLE delta.`{path}` ({ddl}) USING delta")
    spark.sql(f"INSERT INTO delta.`{path}` VALUES " + ", ".join(f"({r})" for r in ROWS))
    src = spark.read.format("delta").load(str(path)).orderBy("k_tiny")
    out = anonymize_table(src, contract, "all_types", KEYRING)
    return src, out, src.toPandas(), out.toPandas()


def test_schema_is_identical_for_every_type_and_strategy(frames: tuple[Any, Any, pd.DataFrame, pd.DataFrame]) -> None:
    src, out, _, _ = frames
    assert schema_differences(src.schema, out.schema) == []
    assert out.schema == src.schema
    assert out.schema["vc_name"].metadata == {"__CHAR_VARCHAR_TYPE_STRING": "varchar(12)"}


def test_null_in_null_out_and_null_strategy(frames: tuple[Any, Any, pd.DataFrame, pd.DataFrame]) -> None:
    _, _, before, after = frames
    for name, (_, nullable, strategy, _) in COLUMNS.items():
        if strategy == "null":
            assert after[name].isna().all(), name
            continue
        if nullable and name != "d_null":
            assert (before[name].isna() == after[name].isna()).all(), name
    # rows are ordered by k_tiny: -128 (extremes), 5 (typical), 127 (NULLs)
    nulls = after.iloc[2]
    assert all(pd.isna(nulls[n]) for n, (_, nullable, _, _) in COLUMNS.items() if nullable)


def test_null_entity_still_shifts_its_date_into_the_past(frames: tuple[Any, Any, pd.DataFrame, pd.DataFrame]) -> None:
    _, _, before, after = frames
    row = 0  # k_int is NULL, d_null is not
    assert pd.isna(before.loc[row, "k_int"])
    delta = (after.loc[row, "d_null"] - before.loc[row, "d_null"]).days
    assert -365 <= delta <= -1


def test_values_are_transformed_as_declared(frames: tuple[Any, Any, pd.DataFrame, pd.DataFrame]) -> None:
    _, _, before, after = frames
    extreme, typical = after.iloc[0], after.iloc[1]
    # generalize: bins keep the type, clamp at the type minimum instead of overflowing
    assert (typical["tiny_g"], extreme["tiny_g"]) == (50, -128)
    assert typical["dec"] == Decimal("1200.00") and extreme["dec"] == Decimal("-99999999.99")
    assert typical["dec_nn"] == Decimal("3.50") and extreme["dec_nn"] == Decimal("-999.99")
    assert (typical["flt"], extreme["flt"], typical["dbl"], extreme["dbl"]) == (2.5, -0.5, 10.0, -10.0)
    assert typical["s_prefix"] == "abc" and extreme["s_prefix"] == ""
    assert typical["d_gen"] == dt.date(2021, 5, 1)
    assert typical["ts_gen"] == pd.Timestamp("2021-01-01 00:00:00")
    assert typical["ntz_gen"] == pd.Timestamp("2021-05-01 00:00:00")
    # date_shift: one offset per entity for DATE and TIMESTAMP alike; NTZ honours its own max_days
    for i in range(2):
        d_shift = (after.loc[i, "d"] - before.loc[i, "d"]).days
        ts_shift = after.loc[i, "ts"] - before.loc[i, "ts"]
        assert -365 <= d_shift <= -1 and ts_shift == pd.Timedelta(days=d_shift)
        ntz_shift = after.loc[i, "ntz"] - before.loc[i, "ntz"]
        assert ntz_shift.components.hours == 0 and -30 <= ntz_shift.days <= -1
    # keys: in range, sign kept, shapes kept
    assert extreme["k_tiny"] < 0 and extreme["k_tiny"] >= -128 and typical["k_tiny"] >= 0
    assert extreme["id"] < 0 and after.loc[2, "id"] >= 0
    assert len(typical["k_str"]) == 36 and typical["k_str"][8] == "-" and typical["k_str"] != before.loc[1, "k_str"]
    assert all(c in "0123456789abcdef-" for c in typical["k_str"])
    assert extreme["k_str"].isupper() or any(c in "ABCDEF" for c in extreme["k_str"])
    assert typical["k_vc"][:2].isupper() and typical["k_vc"][2] == "-" and typical["k_vc"][3:].isdigit()
    # VARCHAR bounds respected by every generated string
    for name in ("vc_name", "vc_email", "k_vc"):
        assert after[name].dropna().str.len().max() <= int(COLUMNS[name][0].split("(")[1].rstrip(")"))
    # hash = HMAC-SHA256 under the hash subkey, truncated; binary gets raw digest bytes; both columns
    # share the subkey of their link_as name (issue 13: per-column subkeys unless linked on purpose)
    sub = KEYRING.subkey("hash", "link/raw_bytes")
    assert typical["s_hash"] == hmac.new(sub, b"secret", hashlib.sha256).hexdigest()[:16]
    assert bytes(typical["bin"]) == hmac.new(sub, b"\x01\x02", hashlib.sha256).digest()
    # keep
    assert list(after["flag"]) == list(before["flag"])
    assert after.loc[1, "m"] == before.loc[1, "m"]


def test_no_key_material_in_the_spark_plan(
    frames: tuple[Any, Any, pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _, _ = frames
    out.explain(extended=True)
    plan = capsys.readouterr().out.lower()
    assert "anon_key_int" in plan  # the plan was captured
    secrets = [MASTER]
    for purpose, domain in [
        ("key", "all_types.id"),
        ("key", "all_types.k_str"),
        ("hash", "link/raw_bytes"),
        ("date-shift", "all_types.id"),
        ("pool", "city/column/all_types.city"),
        ("ssn", "column/all_types.ssn"),
        ("phone", "column/all_types.phone"),
    ]:
        secrets.append(KEYRING.subkey(purpose, domain))
    for secret in secrets:
        assert secret.hex() not in plan
        assert repr(secret)[2:20].lower() not in plan


def test_engine_refuses_columns_outside_the_contract(spark: Any) -> None:
    contract = parse_contract(_contract_text(), "all_types.yaml")
    df = spark.createDataFrame([(1, "x")], "id bigint, surprise string")
    with pytest.raises(EngineError, match="surprise: not in the contract"):
        anonymize_table(df, contract, "all_types", KEYRING)
    wrong = spark.createDataFrame([(1,)], "id int")
    with pytest.raises(EngineError, match="type int differs from the contract's bigint"):
        anonymize_table(wrong, contract, "all_types", KEYRING)


@pytest.mark.parametrize(
    ("ddl", "nullable", "strategy", "message"),
    [
        ("int", "false", "ssn", "does not fit type int"),
        ("double", "false", "key", "does not fit type double"),
        ("boolean", "true", "hash", "does not fit type boolean"),
        ("array<int>", "true", "person_name", "does not fit type array<int>"),
        ("date", "false", "null", "needs a nullable column"),
        ("tinyint", "false", "key", "below the 10^6"),
        ("smallint", "false", "key", "below the 10^6"),
        ("varchar(4)", "false", "key", "below the 10^6"),
    ],
)
def test_unsupported_type_strategy_pairs_are_refused_by_contract_validation(
    ddl: str, nullable: str, strategy: str, message: str
) -> None:
    text = _contract_text() + (
        f"      bad: {{type: '{ddl}', nullable: {nullable}, classification: sensitive, strategy: '{strategy}'}}\n"
    )
    with pytest.raises(ContractError) as info:
        parse_contract(text, "bad.yaml")
    assert message in str(info.value)
    assert "all_types.bad" in str(info.value)
