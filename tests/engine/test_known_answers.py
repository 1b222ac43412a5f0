"""Known-answer tests: every strategy's output for a fixed, public test key, pinned in known_answers.json.

Why: a refactor that changes any mapping (a subkey's domain string, a tweak, a pool order, a round count)
would silently re-map every pseudonym of every consumer. These tests fail on any such change; when the
change is intended, bump ``keys.ALGORITHM_VERSION`` (the job then demands --rotate-key) and regenerate:

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/python -m tests.engine.test_known_answers --regenerate
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from anonymizer import transforms
from anonymizer.contract import parse_contract
from anonymizer.keys import ALGORITHM_VERSION, Keyring

FIXTURE = Path(__file__).with_name("known_answers.json")
KEYRING = Keyring.from_bytes(hashlib.sha256(b"test vector: known answers").digest())  # fixed, public test key


def _k(name: str) -> bytes:
    return KEYRING.subkey("kat", name)


INTS = [0, 1, 2, 42, 1000, 690_001, 2**31 - 1, -1, -(2**31)]
STRINGS = ["C-000123", "00042", "550e8400-e29b-41d4-a716-446655440000", "Hello, World 42", "ÄÖ-é9x", "١٢٣٤٥٦٧"]
NAMES = ["Ann Lee", "Carlos Schultz", "Mayo Clinic", "Boston", "1 Main St, Springfield"]
SSNS = ["123-45-6789", "001-01-0001", "899-99-9999", "912-70-1234", "n/a", "١٢٣-٤٥-٦٧٨٩"]
PHONES = ["(617) 555-0123", "+1-202-555-0199x123", "+44 20 7946 0958", "123-456-7890", "7", "٦١٧-٥٥٥-٠١٢٣"]
EMAILS = ["ann.lee@hospital.org", "x@y", "Bad Address"]


def transform_answers() -> dict[str, Any]:
    """Every transform on fixed inputs, keyed by a name the failure message shows."""
    ints = np.array(INTS, dtype=np.int64)
    out: dict[str, Any] = {}
    for bits in (63, 31):
        out[f"key_integers/{bits}"] = transforms.key_integers(_k("int"), ints, bits).tolist()
    small = np.array([0, 1, 5, 127, -128], dtype=np.int64)
    out["key_integers/7"] = transforms.key_integers(_k("int"), small, 7).tolist()
    for alphabet in ("classes", "hex"):
        out[f"key_strings/{alphabet}"] = transforms.key_strings(_k("str"), pa.array(STRINGS), alphabet).to_pylist()
    for strategy in ("person_name", "first_name", "last_name", "city", "address", "organization_name"):
        out[f"pool_from_values/{strategy}"] = transforms.pool_from_values(
            _k("pool"), strategy, pa.array(NAMES)
        ).to_pylist()
    for strategy in ("person_name", "address", "organization_name"):
        out[f"pool_from_keys/{strategy}"] = transforms.pool_from_keys(_k("unique"), strategy, ints).to_pylist()
    for space in ("never_issued", "issuable"):
        out[f"ssn/{space}"] = transforms.ssn(_k("ssn"), pa.array(SSNS), space).to_pylist()
    out["phone"] = transforms.phone(_k("phone"), pa.array(PHONES)).to_pylist()
    out["email"] = transforms.email(_k("email"), pa.array(EMAILS)).to_pylist()
    out["email/keep_domain"] = transforms.email(_k("email"), pa.array(EMAILS), keep_domain=True).to_pylist()
    out["shift_days/int"] = transforms.shift_days(_k("shift"), ints, 365).tolist()
    out["shift_days/string"] = transforms.shift_days(_k("shift"), pa.array(STRINGS), 365).tolist()
    out["hmac_sha256"] = [d.hex() for d in transforms.hmac_sha256(_k("hash"), [s.encode() for s in NAMES]) if d]
    return out


ENGINE_CONTRACT = """\
contract_version: 1
name: kat
source: {catalog: c, schema: s}
target: {catalog: c2, schema: s, staging_schema: st}
tables:
  p:
    primary_key: [id]
    columns:
      id: {type: int, nullable: false, classification: key, strategy: key}
      code: {type: string, nullable: true, classification: key, strategy: key}
      name: {type: string, nullable: false, classification: direct_identifier, strategy: person_name, params: {unique_by: id}}
      city: {type: string, nullable: true, classification: quasi_identifier, strategy: city}
      ssn: {type: string, nullable: true, classification: direct_identifier, strategy: ssn}
      phone: {type: string, nullable: true, classification: direct_identifier, strategy: phone}
      email: {type: string, nullable: true, classification: direct_identifier, strategy: email, params: {link_as: mail}}
      note: {type: string, nullable: true, classification: sensitive, strategy: hash, params: {length: 16}}
      dob: {type: date, nullable: true, classification: quasi_identifier, strategy: date_shift, params: {entity: id}}
  v:
    primary_key: [vid]
    foreign_keys:
      - columns: [pid]
        references: {table: p, columns: [id]}
    columns:
      vid: {type: bigint, nullable: false, classification: key, strategy: key}
      pid: {type: int, nullable: false, classification: key, strategy: key}
      email: {type: string, nullable: true, classification: direct_identifier, strategy: email}
      day: {type: date, nullable: false, classification: quasi_identifier, strategy: date_shift, params: {entity: pid}}
"""
P_ROWS = [
    (1, "A-001", "Ann Lee", "Boston", "123-45-6789", "(617) 555-0123", "ann@h.org", "flu", dt.date(1980, 2, 29)),
    (2, "B-002", "Bob Roe", None, "987-65-4321", "+44 20 7946 0958", None, None, dt.date(1990, 12, 31)),
    (700_000, "ZZ-999", "Carlos Schultz", "Austin", "001-01-0001", "202.555.0199", "c@s.com", "x", None),
]
V_ROWS = [(10, 1, "ann@h.org", dt.date(2024, 1, 1)), (11, 700_000, "other@h.org", dt.date(2024, 6, 30))]


def engine_answers(spark: Any) -> dict[str, Any]:
    """The whole engine (subkey domains included) on two tiny tables."""
    from anonymizer.engine import anonymize_table

    contract = parse_contract(ENGINE_CONTRACT, "kat.yaml")
    schemas = {
        "p": "id int, code string, name string, city string, ssn string, phone string, email string, note string, dob date",
        "v": "vid bigint, pid int, email string, day date",
    }
    out: dict[str, Any] = {}
    for table, rows in (("p", P_ROWS), ("v", V_ROWS)):
        df = spark.createDataFrame(rows, schemas[table])
        result = anonymize_table(df, contract, table, KEYRING).collect()
        out[f"engine/{table}"] = [[None if v is None else str(v) for v in row] for row in result]
    return out


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text("utf-8"))
    return data


def test_the_fixture_belongs_to_this_algorithm_version() -> None:
    assert _load()["algorithm_version"] == ALGORITHM_VERSION, (
        "ALGORITHM_VERSION changed: regenerate known_answers.json (see the module docstring)"
    )


def test_every_transform_still_gives_the_pinned_answers() -> None:
    pinned = _load()["transforms"]
    got = transform_answers()
    assert sorted(got) == sorted(pinned)
    changed = [name for name in pinned if got[name] != pinned[name]]
    assert changed == [], f"re-mapped: {changed}; if intended, bump ALGORITHM_VERSION and regenerate"


@pytest.mark.spark
def test_the_engine_still_gives_the_pinned_answers(spark: Any) -> None:
    pinned = _load()["engine"]
    got = engine_answers(spark)
    changed = [name for name in pinned if got[name] != pinned[name]]
    assert changed == [], f"re-mapped: {changed}; if intended, bump ALGORITHM_VERSION and regenerate"


def _regenerate() -> None:
    from anonymizer.lakehouse import local_spark

    spark = local_spark("known-answers", shuffle_partitions=2)
    data = {"algorithm_version": ALGORITHM_VERSION, "transforms": transform_answers(), "engine": engine_answers(spark)}
    FIXTURE.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--regenerate"]:
        _regenerate()
    else:
        print(__doc__)
