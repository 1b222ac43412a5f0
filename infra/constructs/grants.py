"""Who may do what, as authoritative ``databricks_grants``: one resource per securable.

``databricks_grants`` replaces every grant on its securable with the declared list, so anything granted by
hand is revoked on the next apply. That is the point: every principal that can read production, and
everyone who can read the anonymized copy, is in this file or in the environment config. Ownership is not a
grant: the deploying identity keeps its rights as owner (it must own both catalogs, or be metastore admin).

The privilege sets live in ``infra/allowlist.py``, which the policy gate enforces (CKV_DBX_21).

Least privilege for the job's service principal (SP):
  * source: USE_CATALOG, then USE_SCHEMA + SELECT on the one source schema. Nothing writable.
  * anonymized: USE_CATALOG; on final and staging USE_SCHEMA, SELECT, MODIFY, CREATE_TABLE (the job creates,
    overwrites, restores and drops the tables it owns, including the run journal in staging). No
    CREATE_VOLUME and no MANAGE: the volumes are created here; the SP gets READ_VOLUME on ``artifacts`` (the
    cluster loads the wheel as the SP) and READ_VOLUME + WRITE_VOLUME on ``reports``.
Developers: USE_CATALOG on the anonymized catalog, USE_SCHEMA + SELECT on the final schema, nothing on
staging or its volumes. ``account users`` appears nowhere (the config loader rejects it as a principal).

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/grants
      https://docs.databricks.com/aws/en/data-governance/unity-catalog/manage-privileges/privileges
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktf_cdktf_provider_databricks.grants import Grants, GrantsGrant
from constructs import Construct

from infra import settings
from infra.allowlist import (
    DEVELOPERS_CATALOG,
    DEVELOPERS_FINAL_SCHEMA,
    SP_ANONYMIZED_CATALOG,
    SP_ANONYMIZED_SCHEMA,
    SP_ARTIFACTS_VOLUME,
    SP_REPORTS_VOLUME,
    source_grants,
)

PrincipalPrivileges = Mapping[str, Sequence[str]]


def _grant_blocks(grants: PrincipalPrivileges) -> list[GrantsGrant]:
    """Sorted principals and privileges: the same config always synthesizes the same JSON (no plan noise)."""
    return [
        GrantsGrant(principal=principal, privileges=sorted(set(privileges)))
        for principal, privileges in sorted(grants.items())
        if privileges
    ]


class SourceGrants(Construct):
    """Everything that may read production: the job's SP plus the principals the config declares."""

    def __init__(
        self, scope: Construct, id: str, *, catalog_name: str, schema_full_name: str, principals: settings.Principals
    ) -> None:
        super().__init__(scope, id)
        catalog, schema = source_grants(principals)
        self.catalog = Grants(self, "catalog", catalog=catalog_name, grant=_grant_blocks(catalog))
        self.schema = Grants(self, "schema", schema=schema_full_name, grant=_grant_blocks(schema))


class AnonymizedGrants(Construct):
    """The job writes staging and final; developers read final only."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        catalog_name: str,
        final_schema: str,
        staging_schema: str,
        artifacts_volume: str,
        reports_volume: str,
        principals: settings.Principals,
    ) -> None:
        super().__init__(scope, id)
        sp, developers = principals.job_service_principal, principals.developers_group
        self.catalog = Grants(
            self,
            "catalog",
            catalog=catalog_name,
            grant=_grant_blocks({sp: SP_ANONYMIZED_CATALOG, developers: DEVELOPERS_CATALOG}),
        )
        self.final_schema = Grants(
            self,
            "final",
            schema=final_schema,
            grant=_grant_blocks({sp: SP_ANONYMIZED_SCHEMA, developers: DEVELOPERS_FINAL_SCHEMA}),
        )
        # Staging holds unchecked output and the run journal: the SP only, so a grant to anyone else that
        # was added by hand is revoked on the next apply.
        self.staging_schema = Grants(
            self, "staging", schema=staging_schema, grant=_grant_blocks({sp: SP_ANONYMIZED_SCHEMA})
        )
        self.artifacts_volume = Grants(
            self, "artifacts", volume=artifacts_volume, grant=_grant_blocks({sp: SP_ARTIFACTS_VOLUME})
        )
        self.reports_volume = Grants(
            self, "reports", volume=reports_volume, grant=_grant_blocks({sp: SP_REPORTS_VOLUME})
        )
