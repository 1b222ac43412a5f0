"""Where Terraform keeps this environment's state.

The state holds the anonymization key in clear text (``databricks_secret.string_value``, the
``random_password`` result): it must live in an encrypted, access-controlled remote backend. A local backend
is only accepted when the config loader was told it runs in a test.

Docs: https://developer.hashicorp.com/terraform/language/backend/s3
      https://developer.hashicorp.com/terraform/language/backend/azurerm
      https://developer.hashicorp.com/terraform/language/backend/remote
"""

from __future__ import annotations

from cdktf import (
    AzurermBackend,
    LocalBackend,
    NamedRemoteWorkspace,
    RemoteBackend,
    S3Backend,
    TerraformBackend,
    TerraformStack,
)

from infra import settings


def configure_backend(stack: TerraformStack, backend: settings.Backend) -> TerraformBackend:
    """Declare the backend of ``stack`` (without one, cdktf writes a local backend with an absolute path)."""
    if isinstance(backend, settings.S3Backend):
        s3 = S3Backend(
            stack,
            bucket=backend.bucket,
            key=backend.key,
            region=backend.region,
            encrypt=backend.encrypt,
            kms_key_id=backend.kms_key_id,
            dynamodb_table=backend.dynamodb_table,
        )
        if backend.use_lockfile:
            # cdktf 0.21's S3Backend predates S3-native locking (Terraform >= 1.10); the escape hatch writes it.
            s3.add_override("use_lockfile", True)
        return s3
    if isinstance(backend, settings.AzurermBackend):
        # Azure Storage encrypts every blob at rest; Entra ID auth avoids a storage access key in the env.
        return AzurermBackend(
            stack,
            resource_group_name=backend.resource_group_name,
            storage_account_name=backend.storage_account_name,
            container_name=backend.container_name,
            key=backend.key,
            use_azuread_auth=backend.use_azuread_auth,
        )
    if isinstance(backend, settings.RemoteBackend):
        return RemoteBackend(
            stack,
            hostname=backend.hostname,
            organization=backend.organization,
            workspaces=NamedRemoteWorkspace(name=backend.workspace),
        )
    # Tests only: settings.parse_config refuses a local backend unless allow_local_backend=True.
    return LocalBackend(stack, path=backend.path)
