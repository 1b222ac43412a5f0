"""ABAC column masks (opt-in): refused at synth when the contract's PII columns cannot get them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anonymizer.contract import Contract
from infra.allowlist import ColumnMaskError, column_mask_plan
from infra.settings import ConfigError
from infra.synth import SynthError, prepare
from tests.infra.conftest import SP, config_from_dict, prod_config_dict


def _masked(**masks: object) -> dict[str, object]:
    data = prod_config_dict()
    data["column_masks"] = masks
    return data


def test_plan_maps_each_pii_strategy_to_its_function(contract: Contract) -> None:
    config = config_from_dict(_masked(mask_functions={"string": "medical.governance.mask_string"}))
    plan = column_mask_plan(config, contract)
    assert plan.functions == {s: "medical.governance.mask_string" for s in ("address", "person_name", "phone", "ssn")}
    assert plan.exceptions == sorted([SP, "medical-data-stewards"])


def test_a_type_family_without_a_function_is_refused(contract: Contract) -> None:
    config = config_from_dict(
        _masked(
            mask_functions={"string": "medical.governance.mask_string"},
            classifications=["direct_identifier", "quasi_identifier"],
        )
    )
    with pytest.raises(ColumnMaskError, match="no function for type family date"):
        column_mask_plan(config, contract)


def test_synth_reports_the_refusal_with_the_file(tmp_path: Path) -> None:
    data = _masked(mask_functions={"date": "medical.governance.mask_date"})
    config_file = tmp_path / "prod.yaml"
    config_file.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.raises(SynthError, match=r"prod\.yaml: column_masks.*type family string"):
        prepare(tmp_path / "wheel", config_paths=[config_file])


@pytest.mark.parametrize(
    "masks",
    [
        {"mask_functions": {}},
        {"mask_functions": {"string": "mask_string"}},
        {"mask_functions": {"text": "a.b.c"}},
        {"mask_functions": {"string": "a.b.c"}, "classifications": ["non_sensitive"]},
    ],
    ids=["no function", "not a three-part name", "unknown family", "not a PII class"],
)
def test_invalid_column_masks_are_config_errors(masks: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="column_masks"):
        config_from_dict(_masked(**masks))
