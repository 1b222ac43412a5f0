"""Make the anonymized catalog visible, read-only, in the development workspace and nowhere else.

Only the development workspace is bound here. The production workspace is NOT bound explicitly: an ISOLATED
catalog is bound automatically to the workspace that creates it, and an explicit binding of that workspace
makes ``terraform destroy`` fail (databricks/terraform-provider-databricks#5300).

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/workspace_binding
      https://docs.databricks.com/aws/en/catalogs/binding
"""

from __future__ import annotations

from cdktf_cdktf_provider_databricks.workspace_binding import WorkspaceBinding
from constructs import Construct


class DevelopmentBinding(Construct):
    """READ_ONLY: even a developer with a stray MODIFY grant cannot write from development."""

    def __init__(self, scope: Construct, id: str, *, catalog_name: str, development_workspace_id: int) -> None:
        super().__init__(scope, id)
        self.binding = WorkspaceBinding(
            self,
            id_="development",
            securable_type="catalog",
            securable_name=catalog_name,
            workspace_id=development_workspace_id,
            binding_type="BINDING_TYPE_READ_ONLY",
        )
