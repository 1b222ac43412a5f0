"""Defence in depth on production: ABAC column masks on the PII columns of the source schema.

Grants decide who may read production; a mistake there (a broad group given SELECT by hand, an inherited
catalog privilege) would expose the clear values. With ``column_masks`` in the config, one
``databricks_policy_info`` per contract strategy masks every column whose contract tags say it is PII
(``anonymization_class`` in ``column_masks.classifications``, ``anonymization_strategy`` = that strategy) for
``account users`` EXCEPT the job's service principal and the declared production readers: an over-broad grant
then still shows masked values. The tags are the ones ``constructs/tags.py`` writes from the contract, so the
masks follow the contract.

Why one policy per strategy: a mask function returns the column's type, and an ABAC condition can only
match tags; the contract's strategy tag separates the columns by type where the classification tag does not.
A strategy whose PII columns span two type families cannot be masked by one function: synth refuses it.

Prerequisites (documented in infra/README.md, not created here): the masking functions exist
(``column_masks.mask_functions``, e.g. ``CREATE FUNCTION medical.governance.mask_string(v STRING) RETURNS
STRING RETURN '***'``, EXECUTE for ``account users``); ``anonymization_class`` and ``anonymization_strategy`` are
governed tags (ABAC matches governed tags only); queries run on DBR 16.4+ or serverless. Policies do not
travel through Delta Sharing.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/policy_info
      https://docs.databricks.com/aws/en/sql/language-manual/sql-ref-syntax-ddl-create-policy
"""

from __future__ import annotations

import re

from cdktf_cdktf_provider_databricks.policy_info import PolicyInfo, PolicyInfoColumnMask, PolicyInfoMatchColumns
from constructs import Construct

from anonymizer.contract import Contract
from anonymizer.tags import CLASSIFICATION_TAG, STRATEGY_TAG
from infra import settings
from infra.allowlist import column_mask_plan

MASKED_ALIAS = "masked"
ALL_ACCOUNT_USERS = "account users"


class ColumnMaskPolicies(Construct):
    """One column-mask policy per masked strategy on the source schema."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: settings.EnvironmentConfig,
        contract: Contract,
        schema_full_name: str,
    ) -> None:
        super().__init__(scope, id)
        masks = config.column_masks
        assert masks is not None
        classes = " OR ".join(f"has_tag_value('{CLASSIFICATION_TAG}', '{c}')" for c in masks.classifications)
        plan = column_mask_plan(config, contract)
        self.policies = [
            PolicyInfo(
                self,
                re.sub(r"[^A-Za-z0-9_]", "_", strategy),
                name=f"anonymizer_mask_{re.sub(r'[^A-Za-z0-9_]', '_', strategy)}",
                comment=f"Masks the contract's {', '.join(masks.classifications)} columns anonymized with {strategy}.",
                on_securable_type="SCHEMA",
                on_securable_fullname=schema_full_name,
                for_securable_type="TABLE",
                policy_type="POLICY_TYPE_COLUMN_MASK",
                to_principals=[ALL_ACCOUNT_USERS],
                except_principals=plan.exceptions,
                match_columns=[
                    PolicyInfoMatchColumns(
                        alias=MASKED_ALIAS, condition=f"({classes}) AND has_tag_value('{STRATEGY_TAG}', '{strategy}')"
                    )
                ],
                column_mask=PolicyInfoColumnMask(function_name=function, on_column=MASKED_ALIAS),
            )
            for strategy, function in sorted(plan.functions.items())
        ]
