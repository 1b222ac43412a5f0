"""One environment's stack: composes the constructs from a validated config, the contract and the wheel.

Inputs are passed in (not read from fixed paths) so tests can build a stack from a modified contract or a
modified job tree without touching the repository.
"""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_databricks.provider import DatabricksProvider
from cdktf_cdktf_provider_random.provider import RandomProvider
from constructs import Construct

from anonymizer.contract import Contract
from infra.constructs.backend import configure_backend
from infra.constructs.binding import DevelopmentBinding
from infra.constructs.catalogs import AnonymizedCatalog, SourceCatalog
from infra.constructs.grants import AnonymizedGrants, SourceGrants
from infra.constructs.job import AnonymizationJob, JobLocations, WheelArtifact
from infra.constructs.job_permissions import JobPermissions
from infra.constructs.masks import ColumnMaskPolicies
from infra.constructs.secret import AnonymizationKey
from infra.constructs.tags import ContractTags
from infra.constructs.workspace import WorkspaceGuard
from infra.settings import EnvironmentConfig
from infra.wheel import Wheel


class AnonymizerStack(TerraformStack):
    """Governance (catalogs, binding, grants, tags), the key, and the job (with its ACL) of one environment."""

    def __init__(self, scope: Construct, config: EnvironmentConfig, contract: Contract, wheel: Wheel) -> None:
        super().__init__(scope, config.stack_name)
        configure_backend(self, config.backend)
        # Credentials come from the environment of whoever runs terraform (DATABRICKS_CLIENT_ID/SECRET,
        # a CLI profile, Azure CLI...), never from code or config.
        DatabricksProvider(self, "databricks", host=config.databricks.host)
        if config.secret.source == "generated":
            RandomProvider(self, "random")
        # Plan-time refusal to run against another workspace, or with ACL principals not assigned to it: every
        # data source is read during plan, so a failed lookup or postcondition stops the plan before any change.
        WorkspaceGuard(self, "workspace", config=config)

        cat = config.catalogs
        source = SourceCatalog(self, "source", source=cat.source, create=cat.create_source_catalog)
        anonymized = AnonymizedCatalog(self, "anonymized", target=cat.anonymized)
        DevelopmentBinding(
            self,
            "binding",
            catalog_name=anonymized.catalog.name,
            development_workspace_id=config.databricks.development_workspace_id,
        )
        SourceGrants(
            self,
            "source_grants",
            catalog_name=source.catalog_name,
            schema_full_name=source.schema_full_name,
            principals=config.principals,
        )
        AnonymizedGrants(
            self,
            "anonymized_grants",
            catalog_name=anonymized.catalog.name,
            final_schema=anonymized.final_full_name,
            staging_schema=anonymized.staging_full_name,
            artifacts_volume=anonymized.artifacts_volume.id,
            reports_volume=anonymized.reports_volume.id,
            principals=config.principals,
        )
        AnonymizationKey(self, "key", secret=config.secret, service_principal=config.principals.job_service_principal)
        ContractTags(
            self,
            "tags",
            contract=contract,
            source_catalog=cat.source.catalog,
            source_schema=cat.source.schema_,
            depends_on=source.dependables,
        )

        if config.column_masks is not None:
            # Defence in depth: PII columns read masked by everyone but the SP and the declared readers.
            ColumnMaskPolicies(
                self,
                "masks",
                config=config,
                contract=contract,
                schema_full_name=f"{cat.source.catalog}.{cat.source.schema_}",
            )

        staging_root = f"/Volumes/{cat.anonymized.catalog}/{cat.anonymized.staging_schema}"
        artifact = WheelArtifact(
            self, "artifact", wheel=wheel, volume=anonymized.artifacts_volume, volume_root=f"{staging_root}/artifacts"
        )
        locations = JobLocations(
            source_catalog=cat.source.catalog,
            source_schema=cat.source.schema_,
            target_catalog=cat.anonymized.catalog,
            target_schema=cat.anonymized.schema_,
            staging_schema=cat.anonymized.staging_schema,
            report_dir=f"{staging_root}/reports",
        )
        job = AnonymizationJob(
            self,
            "job",
            config=config,
            wheel=wheel,
            wheel_path=artifact.file.path,
            locations=locations,
            contract_digest=contract.digest(),
        )
        # Who may edit the job decides what code runs as the production-reading SP: authoritative ACL.
        JobPermissions(self, "job_permissions", job_id=job.job.id, principals=config.principals)

        TerraformOutput(self, "job_id", value=job.job.id)
        TerraformOutput(self, "wheel_path", value=artifact.path)
        TerraformOutput(self, "contract_sha256", value=contract.digest())
