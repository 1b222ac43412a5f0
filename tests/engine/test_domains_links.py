"""Issue 13 items 4-5: small FPE domains are refused unless acknowledged (and listed); per-(table, column)
subkeys so equal pseudonyms do not link columns, unless the contract links them with ``link_as``."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from anonymizer.contract import ContractError, load_contract, parse_contract
from anonymizer.domains import small_domain_columns
from anonymizer.engine import anonymize_table
from anonymizer.keys import Keyring

KEYRING = Keyring.from_bytes(hashlib.sha256(b"test vector: links").digest())  # fixed, public test key


def _contract(columns: dict[str, str], *, table: str = "t", extra: str = "") -> str:
    lines = [
        "contract_version: 1",
        "name: links",
        "source: {catalog: c, schema: s}",
        "target: {catalog: c2, schema: s, staging_schema: st}",
        "tables:",
        f"  {table}:",
        "    primary_key: [id]",
        "    columns:",
        "      id: {type: bigint, nullable: false, classification: key, strategy: key}",
    ]
    lines += [f"      {name}: {spec}" for name, spec in columns.items()]
    return "\n".join(lines) + "\n" + extra


def test_small_key_domains_are_refused_with_the_fix() -> None:
    text = _contract({"code": "{type: smallint, nullable: false, classification: key, strategy: key}"})
    with pytest.raises(ContractError) as info:
        parse_contract(text, "links.yaml")
    message = str(info.value)
    assert "t.code" in message and "65,536" in message and "small_domain_ok" in message


def test_acknowledged_small_domains_pass_and_are_listed() -> None:
    spec = "{type: varchar(3), nullable: false, classification: key, strategy: key, params: {small_domain_ok: 'three-letter ward codes, public'}}"
    contract = parse_contract(_contract({"ward": spec}), "links.yaml")
    listed = small_domain_columns(contract)
    assert [(s.table, s.column, s.size, s.reason) for s in listed] == [
        ("t", "ward", 26**3, "three-letter ward codes, public")
    ]
    assert "acknowledged" in listed[0].render()


def test_the_shipped_contract_has_no_small_domain_and_uses_the_never_issued_ssn_space() -> None:
    contract = load_contract()
    assert small_domain_columns(contract) == []
    ssn = contract.tables["dim_patients"].columns["ssn"].strategy_params()
    assert ssn.space == "never_issued"


def test_link_as_groups_must_share_strategy_and_params() -> None:
    text = _contract(
        {
            "a": "{type: string, nullable: true, classification: direct_identifier, strategy: email, params: {link_as: mail}}",
            "b": "{type: string, nullable: true, classification: direct_identifier, strategy: email, params: {link_as: mail, keep_domain: true}}",
        }
    )
    with pytest.raises(ContractError, match="link_as 'mail'"):
        parse_contract(text, "links.yaml")
    with pytest.raises(ContractError):
        parse_contract(text.replace("link_as: mail, keep", "link_as: 'no spaces', keep"), "links.yaml")


@pytest.mark.spark
def test_columns_get_their_own_subkeys_unless_linked(spark: Any) -> None:
    pii = "classification: direct_identifier"
    columns = {
        "mail_a": f"{{type: string, nullable: true, {pii}, strategy: email}}",
        "mail_b": f"{{type: string, nullable: true, {pii}, strategy: email}}",
        "mail_c": f"{{type: string, nullable: true, {pii}, strategy: email, params: {{link_as: mail}}}}",
        "mail_d": f"{{type: string, nullable: true, {pii}, strategy: email, params: {{link_as: mail}}}}",
        "ssn_a": f"{{type: string, nullable: true, {pii}, strategy: ssn}}",
        "ssn_b": f"{{type: string, nullable: true, {pii}, strategy: ssn}}",
        "phone_a": f"{{type: string, nullable: true, {pii}, strategy: phone}}",
        "phone_b": f"{{type: string, nullable: true, {pii}, strategy: phone}}",
        "city_a": f"{{type: string, nullable: true, {pii}, strategy: city}}",
        "city_b": f"{{type: string, nullable: true, {pii}, strategy: city}}",
        "hash_a": f"{{type: string, nullable: true, {pii}, strategy: hash}}",
        "hash_b": f"{{type: string, nullable: true, {pii}, strategy: hash}}",
    }
    contract = parse_contract(_contract(columns), "links.yaml")
    rows = [
        (
            i,
            f"u{i}@x.org",
            f"u{i}@x.org",
            f"u{i}@x.org",
            f"u{i}@x.org",
            f"123-45-{i:04d}",
            f"123-45-{i:04d}",
            f"617-555-{i:04d}",
            f"617-555-{i:04d}",
            f"Town{i}",
            f"Town{i}",
            f"v{i}",
            f"v{i}",
        )
        for i in range(1, 201)
    ]
    df = spark.createDataFrame(rows, "id bigint, " + ", ".join(f"{c} string" for c in columns))
    out = anonymize_table(df, contract, "t", KEYRING).toPandas()
    for a, b in [("mail_a", "mail_b"), ("ssn_a", "ssn_b"), ("phone_a", "phone_b"), ("hash_a", "hash_b")]:
        assert (out[a] == out[b]).sum() <= 2, f"{a} and {b} can be joined on their pseudonyms"
    assert (out["city_a"] == out["city_b"]).mean() < 0.05  # a 3,000-value pool: some chance agreement
    assert (out["mail_c"] == out["mail_d"]).all()  # linked on purpose


def test_the_report_lists_acknowledged_small_domains_and_the_algorithm_version() -> None:
    from anonymizer.keys import ALGORITHM_VERSION
    from anonymizer.report import build_report, to_markdown

    spec = "{type: tinyint, nullable: false, classification: key, strategy: key, params: {small_domain_ok: 'five wards, public list'}}"
    contract = parse_contract(_contract({"ward": spec}), "links.yaml")
    report = build_report(contract, "0" * 64, "run-1", [])
    assert report["algorithm_version"] == ALGORITHM_VERSION
    assert report["small_fpe_domains"] == ["t.ward (tinyint, <= 256 values; acknowledged: five wards, public list)"]
    assert "## Small FPE domains" in to_markdown(report) and "t.ward" in to_markdown(report)
