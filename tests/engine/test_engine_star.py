"""anonymize_table on the medical star schema with real Spark, real Delta tables and real cryptography.

The source tables are created with the production DDL (VARCHAR, NOT NULL) in a temporary folder, filled with
Faker data, anonymized table by table as the job does, and checked for the properties the developers'
copy promises: keys stay unique, every foreign key still joins with the same cardinality, ages and
intervals are exact, formats are valid, outputs are deterministic and depend on the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from anonymizer.contract import Contract, load_contract
from anonymizer.engine import anonymize_table, anonymized_schema_ok, schema_differences, with_anonymized_keys
from anonymizer.keys import Keyring
from anonymizer.transforms import key_integers

pytestmark = pytest.mark.spark

KEY_A = Keyring.from_bytes(hashlib.sha256(b"test vector: star A").digest())  # fixed, public test keys
KEY_B = Keyring.from_bytes(hashlib.sha256(b"test vector: star B").digest())
SSN_RE = re.compile(r"^9\d\d-(?:0[1-9]|[1-4]\d)-(?!0000)\d{4}$")  # the never-issued space (default)

DDL = {
    "dim_patients": "patient_id INT NOT NULL, name VARCHAR(255) NOT NULL, dob DATE NOT NULL, "
    "ssn VARCHAR(20) NOT NULL, address STRING NOT NULL",
    "dim_hospitals": "hospital_id INT NOT NULL, name STRING NOT NULL, address STRING NOT NULL, phone STRING NOT NULL",
    "dim_doctors": "doctor_id INT NOT NULL, name STRING NOT NULL, specialization STRING NOT NULL, "
    "hospital_id INT NOT NULL",
    "fact_visits": "visit_id INT NOT NULL, patient_id INT NOT NULL, hospital_id INT NOT NULL, doctor_id INT, "
    "visit_date DATE NOT NULL",
}
FKS = [  # (child table, child column, parent table, parent column)
    ("dim_doctors", "hospital_id", "dim_hospitals", "hospital_id"),
    ("fact_visits", "patient_id", "dim_patients", "patient_id"),
    ("fact_visits", "hospital_id", "dim_hospitals", "hospital_id"),
    ("fact_visits", "doctor_id", "dim_doctors", "doctor_id"),
]


def _source_frames() -> dict[str, pd.DataFrame]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(7)
    rng = np.random.default_rng(7)
    n_pat, n_hosp, n_doc, n_vis = 400, 12, 40, 4000
    patient_ids = np.concatenate([np.arange(1, n_pat - 3), [2**31 - 1, 1_000_000_007, 0]]).astype(np.int32)
    patients = pd.DataFrame(
        {
            "patient_id": patient_ids,
            "name": [fake.name() for _ in patient_ids],
            "dob": [fake.date_of_birth(minimum_age=0, maximum_age=95) for _ in patient_ids],
            "ssn": [fake.ssn() for _ in patient_ids],
            "address": [fake.address().replace("\n", ", ") for _ in patient_ids],
        }
    )
    hospitals = pd.DataFrame(
        {
            "hospital_id": np.arange(100, 100 + n_hosp, dtype=np.int32),
            "name": [f"{fake.city()} General Hospital" for _ in range(n_hosp)],
            "address": [fake.address().replace("\n", ", ") for _ in range(n_hosp)],
            "phone": [fake.phone_number() for _ in range(n_hosp)],
        }
    )
    doctors = pd.DataFrame(
        {
            "doctor_id": np.arange(1, n_doc + 1, dtype=np.int32),
            "name": [f"Dr. {fake.name()}" for _ in range(n_doc)],
            "specialization": rng.choice(["Cardiology", "Oncology", "Pediatrics", "Radiology"], n_doc),
            "hospital_id": rng.choice(hospitals["hospital_id"].to_numpy(), n_doc).astype(np.int32),
        }
    )
    doctor = rng.choice(doctors["doctor_id"].to_numpy(), n_vis).astype("float64")
    doctor[rng.random(n_vis) < 0.1] = np.nan
    start = dt.date(2015, 1, 1)
    visits = pd.DataFrame(
        {
            "visit_id": np.arange(10_000, 10_000 + n_vis, dtype=np.int32),
            "patient_id": rng.choice(patient_ids, n_vis).astype(np.int32),
            "hospital_id": rng.choice(hospitals["hospital_id"].to_numpy(), n_vis).astype(np.int32),
            "doctor_id": pd.array(doctor, dtype="Int32"),
            "visit_date": [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 3650, n_vis)],
        }
    )
    return {"dim_patients": patients, "dim_hospitals": hospitals, "dim_doctors": doctors, "fact_visits": visits}


class Star:
    """Source tables on disk plus collected source/anonymized pandas frames."""

    def __init__(self, spark: Any, root: Path, contract: Contract) -> None:
        self.spark = spark
        self.root = root
        self.contract = contract
        self.source = _source_frames()
        for table, ddl in DDL.items():
            path = root / table
            spark.sql(f"CREATE TABLE delta.`{path}` ({ddl}) USING delta")
            frame = self.source[table]
            spark.createDataFrame(frame, schema=spark.read.format("delta").load(str(path)).schema).write.format(
                "delta"
            ).mode("append").save(str(path))

    def read(self, table: str) -> Any:
        return self.spark.read.format("delta").load(str(self.root / table))

    def anonymized(self, table: str, keyring: Keyring) -> Any:
        return anonymize_table(self.read(table), self.contract, table, keyring)

    def collect(self, keyring: Keyring) -> dict[str, pd.DataFrame]:
        return {t: self.anonymized(t, keyring).toPandas() for t in DDL}


@pytest.fixture(scope="module")
def star(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Star:
    return Star(spark, tmp_path_factory.mktemp("star"), load_contract())


@pytest.fixture(scope="module")
def source(star: Star) -> dict[str, pd.DataFrame]:
    return {t: star.read(t).toPandas() for t in DDL}


@pytest.fixture(scope="module")
def anon(star: Star) -> dict[str, pd.DataFrame]:
    return star.collect(KEY_A)


def _map_key(contract: Contract, table: str, column: str, values: pd.Series) -> pd.Series:
    """The anonymized value of each source key, computed with the primitive (test-side oracle)."""
    sub = KEY_A.subkey("key", contract.key_domain(table, column))
    mask = values.notna()
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    out[mask] = key_integers(sub, values[mask].astype("int64").to_numpy(), 31)
    return out


def test_output_schema_is_exactly_the_source_schema(star: Star) -> None:
    for table in DDL:
        src = star.read(table)
        out = anonymize_table(src, star.contract, table, KEY_A)
        assert anonymized_schema_ok(src, out), schema_differences(src.schema, out.schema)
    varchar = star.anonymized("dim_patients", KEY_A).schema["ssn"].metadata
    assert varchar == {"__CHAR_VARCHAR_TYPE_STRING": "varchar(20)"}


def test_primary_keys_stay_unique_and_change(
    source: dict[str, pd.DataFrame], anon: dict[str, pd.DataFrame], star: Star
) -> None:
    for table, spec in star.contract.tables.items():
        pk = spec.primary_key[0]
        assert len(anon[table]) == len(source[table])
        assert anon[table][pk].is_unique
        assert (anon[table][pk].to_numpy() == source[table][pk].to_numpy()).mean() < 0.01
    # the same check inside Spark, where the job will run it
    visits = star.anonymized("fact_visits", KEY_A)
    assert visits.select("visit_id").distinct().count() == len(source["fact_visits"])


def test_every_foreign_key_joins_its_parent_with_the_same_cardinality(
    source: dict[str, pd.DataFrame], anon: dict[str, pd.DataFrame], star: Star
) -> None:
    for child, ccol, parent, pcol in FKS:
        before = source[child].merge(source[parent], left_on=ccol, right_on=pcol, how="inner")
        after = anon[child].merge(anon[parent], left_on=ccol, right_on=pcol, how="inner")
        assert len(after) == len(before) > 0, f"{child}.{ccol} -> {parent}.{pcol}"
        assert anon[child][ccol].isna().sum() == source[child][ccol].isna().sum()
    # per-row: each visit still points at the anonymized version of its original patient/doctor
    expected = _map_key(star.contract, "fact_visits", "doctor_id", source["fact_visits"]["doctor_id"])
    got = anon["fact_visits"].set_index(
        _map_key(star.contract, "fact_visits", "visit_id", source["fact_visits"]["visit_id"]).to_numpy()
    )
    aligned = anon["fact_visits"].set_index("visit_id").loc[got.index, "doctor_id"].astype("Int64")
    assert aligned.reset_index(drop=True).equals(expected.reset_index(drop=True))
    # and the join runs in Spark too
    joined = star.anonymized("fact_visits", KEY_A).join(star.anonymized("dim_patients", KEY_A), "patient_id")
    assert joined.count() == len(source["fact_visits"])


def test_age_at_visit_and_visit_intervals_are_exact(
    source: dict[str, pd.DataFrame], anon: dict[str, pd.DataFrame]
) -> None:
    def ages(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        v = frames["fact_visits"].merge(frames["dim_patients"][["patient_id", "dob"]], on="patient_id")
        v["age_days"] = (pd.to_datetime(v["visit_date"]) - pd.to_datetime(v["dob"])).dt.days
        return v

    src, out = ages(source), ages(anon)
    src_sig = sorted(src.groupby("patient_id")["age_days"].apply(lambda s: tuple(sorted(s))))
    out_sig = sorted(out.groupby("patient_id")["age_days"].apply(lambda s: tuple(sorted(s))))
    assert src_sig == out_sig  # every patient's multiset of ages at visit is unchanged
    shift = (pd.to_datetime(out["visit_date"]) - pd.to_datetime(src["visit_date"])).dt.days
    assert shift.isna().sum() == 0
    shifts = (pd.to_datetime(anon["dim_patients"]["dob"]) - pd.to_datetime(source["dim_patients"]["dob"])).dt.days
    assert shifts.between(-365, -1).all()
    assert shifts.nunique() > 100  # per-entity offsets, not one global shift


def test_pii_changes_and_formats_stay_valid(source: dict[str, pd.DataFrame], anon: dict[str, pd.DataFrame]) -> None:
    p, a = source["dim_patients"], anon["dim_patients"]
    assert (p["name"].to_numpy() == a["name"].to_numpy()).sum() <= 1
    assert (p["ssn"].to_numpy() == a["ssn"].to_numpy()).sum() == 0
    assert (p["address"].to_numpy() == a["address"].to_numpy()).sum() <= 1
    assert a["ssn"].map(lambda s: bool(SSN_RE.match(s))).all()
    assert a["name"].is_unique  # unique_by: patient_id
    assert a["name"].str.len().max() <= 255
    h, ha = source["dim_hospitals"], anon["dim_hospitals"]
    for before, after in zip(h["phone"], ha["phone"], strict=True):
        assert re.sub(r"\d", "#", before) == re.sub(r"\d", "#", after)
    assert (h["phone"].to_numpy() == ha["phone"].to_numpy()).sum() == 0
    assert ha["name"].str.contains("Hospital|Medical Center|Health Center").all()
    assert (anon["dim_doctors"]["specialization"] == source["dim_doctors"]["specialization"]).all()  # keep


def test_two_runs_are_identical_and_another_key_changes_every_value(
    star: Star, anon: dict[str, pd.DataFrame], source: dict[str, pd.DataFrame]
) -> None:
    again = star.collect(KEY_A)  # fresh DataFrames, same data and key
    for table in DDL:
        pd.testing.assert_frame_equal(again[table], anon[table])
    other = star.collect(KEY_B)
    # chance agreement: a date offset repeats with p = 1/365; keys, names, SSNs essentially never
    chance: dict[str, Callable[[int], float]] = {"date": lambda n: 3 * n / 365 + 3, "other": lambda n: 3}
    for table, spec in star.contract.tables.items():
        for name, column in spec.columns.items():
            if column.strategy == "keep":
                continue
            a, b = anon[table][name], other[table][name]
            both = a.notna() & b.notna()
            same = int((a[both].to_numpy() == b[both].to_numpy()).sum())
            kind = "date" if column.strategy == "date_shift" else "other"
            limit = chance[kind](int(both.sum()))
            assert same <= limit, f"{table}.{name}: {same} values unchanged by a different key"


def _reshuffled_on_every_read(star: Star, table: str) -> Any:
    """``table`` whose row order and partitioning change every time Spark evaluates it (as file listing,
    task retries and adaptive coalescing can on a cluster): no exchange, so nothing can be reused."""
    import random

    def shuffle(rows: Any) -> Any:
        batch = list(rows)
        random.shuffle(batch)
        return iter(batch)

    df = star.read(table)
    rdd = df.rdd.repartition(random.randint(2, 6)).mapPartitions(shuffle)
    return star.spark.createDataFrame(rdd, df.schema)


def test_row_pairing_holds_whatever_order_each_read_returns(star: Star) -> None:
    """The checks pair source and staged rows through the anonymized key computed next to each source row.
    The old pairing (row ids generated on two separate reads) pairs wrong rows here."""
    contract = star.contract
    for table in ("fact_visits", "dim_patients"):
        (pk,) = contract.tables[table].primary_key
        paired = with_anonymized_keys(_reshuffled_on_every_read(star, table), contract, table, KEY_A)
        got = paired.select(pk, f"__anon_{pk}").toPandas().sort_values(pk, ignore_index=True)
        assert len(got) == len(star.source[table]) and got[pk].is_unique
        oracle = _map_key(contract, table, pk, got[pk])
        assert (got[f"__anon_{pk}"].astype("int64") == oracle.astype("int64")).all(), table
        assert paired.columns == [*star.read(table).columns, f"__anon_{pk}"]
