"""Contract fields of the content scan, the findings' judgement and their use in suggested contracts."""

from __future__ import annotations

import pytest
import yaml

from anonymizer.classify import suggest
from anonymizer.content_scan import Finding, wilson_upper
from anonymizer.contract import ContractError, packaged_contract_path, parse_contract
from anonymizer.runtime import KeyMetadata, LiveColumn


def _with_scan(table: str, column: str, scan: object) -> str:
    doc = yaml.safe_load(packaged_contract_path().read_text())
    doc["tables"][table]["columns"][column]["scan"] = scan
    return yaml.safe_dump(doc, sort_keys=False)


def test_acknowledgement_needs_a_known_pattern_and_a_reason() -> None:
    ok = {"max_rate": 0.01, "acknowledged": [{"pattern": "phone", "reason": "Public switchboard numbers only."}]}
    contract = parse_contract(_with_scan("dim_doctors", "specialization", ok))
    scan = contract.tables["dim_doctors"].columns["specialization"].scan
    assert scan is not None and scan.acknowledged[0].pattern == "phone" and scan.max_rate == 0.01
    assert contract.settings.scan.max_rate == 0.0 and contract.settings.scan.sample_rows == 100_000
    bad = [
        {"acknowledged": [{"pattern": "phone"}]},  # no reason
        {"acknowledged": [{"pattern": "phone", "reason": "short"}]},
        {"acknowledged": [{"pattern": "passport", "reason": "Not a pattern the scan knows."}]},
        {"max_rate": 1.5},
    ]
    for scan_block in bad:
        with pytest.raises(ContractError) as err:
            parse_contract(_with_scan("dim_doctors", "specialization", scan_block))
        assert "dim_doctors.specialization" in str(err.value)


def test_scan_block_on_a_column_the_scan_does_not_read_is_refused() -> None:
    block = {"acknowledged": [{"pattern": "ssn", "reason": "Encrypted output is a valid SSN."}]}
    with pytest.raises(ContractError, match="does not look at"):
        parse_contract(_with_scan("dim_patients", "ssn", block))
    twice = {"acknowledged": [{"pattern": "ssn", "reason": "r" * 12}, {"pattern": "ssn", "reason": "r" * 12}]}
    with pytest.raises(ContractError, match="acknowledged twice"):
        parse_contract(_with_scan("dim_doctors", "specialization", twice))


def test_findings_are_judged_against_threshold_and_acknowledgement() -> None:
    base = {"table": "t", "column": "c", "pattern": "ssn", "hits": 5, "sampled": 1000, "example": "***-**-****"}
    assert Finding(**base, max_rate=0.0).blocking
    assert not Finding(**base, max_rate=0.01).blocking  # 0.5 % under a 1 % threshold
    acked = Finding(**base, max_rate=0.0, acknowledged="Reviewed: synthetic SSNs.")
    assert not acked.blocking and "[acknowledged]" in acked.render()
    assert 0.005 < Finding(**base, max_rate=0.0).rate_upper_95 < 0.012
    assert wilson_upper(0, 100_000) == pytest.approx(3.84e-5, rel=0.01)  # ~ rule of three (3/n = 3e-5)


def test_findings_outrank_the_name_based_guess() -> None:
    keys = KeyMetadata(("id",), ())
    col = LiveColumn("referrer", "string", False)
    plain = suggest("t", col, keys, ["id"])
    assert plain["strategy"] == "hash" and "content scan" not in plain["review"]
    emails = suggest("t", col, keys, ["id"], {"email": 0.4})
    assert (emails["classification"], emails["strategy"]) == ("direct_identifier", "email")
    mixed = suggest("t", LiveColumn("notes", "string", True), keys, ["id"], {"phone": 0.1, "source_value": 0.05})
    assert (mixed["classification"], mixed["strategy"]) == ("direct_identifier", "null")
    assert "content scan found phone 10.0%, source_value 5.0%" in mixed["review"]
    key = suggest("t", LiveColumn("id", "int", False), keys, ["id"], {"phone": 1.0})
    assert key["strategy"] == "key"  # keys are permuted anyway
