"""Unity Catalog tags derived from the data contract: what each production column is and how it is masked.

Every column of every contract table gets two tags on the source table (the classification and the
strategy, keys from ``anonymizer.tags`` so the job's gate reads exactly what is written here), and the
source schema gets the contract's SHA-256. Changing the contract therefore shows up as a tag diff in the
plan, and the gate refuses to run a wheel whose packaged contract differs from the deployed hash.

Construct ids are derived from the table, column and tag key only, so adding a column adds two resources and
touches nothing else. ``tag_value`` is always set: an assignment without a value misbehaves in the provider
(databricks/terraform-provider-databricks#5659). The source tables must exist before they can be tagged.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/entity_tag_assignment
      https://docs.databricks.com/aws/en/database-objects/tags
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_databricks.entity_tag_assignment import EntityTagAssignment
from constructs import Construct

from anonymizer.contract import Contract
from anonymizer.tags import CONTRACT_HASH_TAG, column_tags


def _id_part(name: str) -> str:
    """Construct ids may not contain '/'; keep every other character readable and the mapping stable."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


class ContractTags(Construct):
    """Column tags and the contract-hash schema tag for the source schema ``catalog.schema``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        contract: Contract,
        source_catalog: str,
        source_schema: str,
        depends_on: Sequence[ITerraformDependable] = (),
    ) -> None:
        super().__init__(scope, id)
        deps = list(depends_on) or None
        self.column_assignments: list[EntityTagAssignment] = []
        for table, column_name, column in contract.iter_columns():
            for tag_key, tag_value in sorted(column_tags(column).items()):
                self.column_assignments.append(
                    EntityTagAssignment(
                        self,
                        f"{_id_part(table)}__{_id_part(column_name)}__{_id_part(tag_key)}",
                        entity_type="columns",
                        entity_name=f"{source_catalog}.{source_schema}.{table}.{column_name}",
                        tag_key=tag_key,
                        tag_value=tag_value,
                        depends_on=deps,
                    )
                )
        self.contract_hash = EntityTagAssignment(
            self,
            "schema__contract_hash",
            entity_type="schemas",
            entity_name=f"{source_catalog}.{source_schema}",
            tag_key=CONTRACT_HASH_TAG,
            tag_value=contract.digest(),
            depends_on=deps,
        )
