"""The two catalogs: production (source) and the isolated anonymized copy with its final and staging schemas.

The anonymized catalog is ISOLATED so that only explicitly bound workspaces see it; Databricks binds the
workspace that creates it (production) automatically, and ``binding.py`` adds the development workspace
read-only. The source catalog is never bound to development: when this stack creates it (greenfield), it is
ISOLATED as well, and otherwise it is only referenced, so its bindings stay whatever production decided.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/catalog
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/schema
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/volume
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/data-sources/catalog
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/data-sources/schema
"""

from __future__ import annotations

from cdktf import ITerraformDependable, Postcondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_databricks.catalog import Catalog
from cdktf_cdktf_provider_databricks.data_databricks_catalog import DataDatabricksCatalog
from cdktf_cdktf_provider_databricks.data_databricks_schema import DataDatabricksSchema
from cdktf_cdktf_provider_databricks.schema import Schema
from cdktf_cdktf_provider_databricks.volume import Volume
from constructs import Construct

from infra import settings
from infra.allowlist import ARTIFACTS_VOLUME, REPORTS_VOLUME

# Evaluated by Terraform after reading the data source (catalog_info is a one-element block list).
ISOLATED_CONDITION = '${self.catalog_info[0].isolation_mode == "ISOLATED"}'


class SourceCatalog(Construct):
    """The production catalog and schema the job reads: referenced by name, or created when configured.

    ``catalog_name`` / ``schema_name`` are Terraform references (not literals) so that grants and tags wait
    for the catalog to exist, or fail at plan time with "catalog not found" when a name is wrong.
    """

    def __init__(self, scope: Construct, id: str, *, source: settings.SourceLocation, create: bool) -> None:
        super().__init__(scope, id)
        # What tags must wait for: the catalog and schema when this stack creates them.
        self.dependables: list[ITerraformDependable]
        if create:
            catalog = Catalog(
                self,
                "catalog",
                name=source.catalog,
                isolation_mode="ISOLATED",  # only production is (auto-)bound; never development
                storage_root=source.storage_root,
                comment="Production data. Read access is declared in infra/ (authoritative grants).",
            )
            schema = Schema(
                self,
                "schema",
                catalog_name=catalog.name,
                name=source.schema_,
                comment="Production source of the anonymization job.",
            )
            self.catalog_name: str = catalog.name
            self.schema_full_name: str = schema.id  # the schema's id is its full name catalog.schema
            self.dependables = [catalog, schema]
        else:
            # An existing production catalog that is OPEN is readable from every workspace on the metastore,
            # development included: the plan stops here instead of anonymizing a copy of an exposed source.
            catalog_ref = DataDatabricksCatalog(
                self,
                "catalog",
                name=source.catalog,
                lifecycle=TerraformResourceLifecycle(
                    postcondition=[
                        Postcondition(
                            condition=ISOLATED_CONDITION,
                            error_message=(
                                f"The production catalog {source.catalog} is not ISOLATED: every workspace on the "
                                "metastore (development included) can see it. Set its isolation mode to ISOLATED "
                                "and bind it to the production workspace only, then plan again."
                            ),
                        )
                    ]
                ),
            )
            schema_ref = DataDatabricksSchema(self, "schema", name=f"{source.catalog}.{source.schema_}")
            self.catalog_name = catalog_ref.name
            self.schema_full_name = schema_ref.name
            self.dependables = []  # existing objects: the data sources already fail the plan if missing


class AnonymizedCatalog(Construct):
    """The ISOLATED anonymized catalog, its final schema (developers read it), its staging schema (job only)
    and two staging volumes: ``artifacts`` for the job's wheel and ``reports`` for the run reports."""

    def __init__(self, scope: Construct, id: str, *, target: settings.AnonymizedLocation) -> None:
        super().__init__(scope, id)
        self.catalog = Catalog(
            self,
            "catalog",
            name=target.catalog,
            isolation_mode="ISOLATED",
            storage_root=target.storage_root,
            comment="Anonymized copy of production, written only by the anonymization job.",
        )
        self.final_schema = Schema(
            self,
            "final",
            catalog_name=self.catalog.name,
            name=target.schema_,
            comment="Anonymized tables promoted by the job after its checks passed. Developers read these.",
        )
        self.staging_schema = Schema(
            self,
            "staging",
            catalog_name=self.catalog.name,
            name=target.staging_schema,
            comment="Job-only: tables being written and checked, the run journal, artifacts and reports.",
        )
        self.artifacts_volume = self._volume(ARTIFACTS_VOLUME, "The anonymizer wheels, one path per content hash.")
        self.reports_volume = self._volume(REPORTS_VOLUME, "Run reports written by the anonymizer-report task.")

    def _volume(self, name: str, comment: str) -> Volume:
        return Volume(
            self,
            f"{name}_volume",
            catalog_name=self.catalog.name,
            schema_name=self.staging_schema.name,
            name=name,
            volume_type="MANAGED",
            comment=comment,
        )

    @property
    def staging_full_name(self) -> str:
        return self.staging_schema.id  # a schema's id is its full name catalog.schema

    @property
    def final_full_name(self) -> str:
        return self.final_schema.id
