"""Plan-time guards: the stack refuses to run against any workspace but the configured production one, and
refuses to apply workspace ACLs to principals that are not assigned to that workspace.

Why: workspace ACLs (the secret scope's READ ACL, the job's ACL, ``run_as``) accept only principals assigned to
the workspace; an apply against a workspace where they are missing fails half-way, after catalogs and grants
were already changed. Each guard is a data source whose lookup (or postcondition) fails at *plan* time, before
anything is changed.

* ``databricks_current_config`` with a postcondition: the provider talks to ``databricks.host`` of the config
  and is a workspace-level (not account-level) client. Provider 1.99 exposes no data source with the numeric
  workspace id, so the host is what is compared; the config validator ties host and workspace id together
  in review, and CKV_DBX_27 fails a stack whose provider host differs from the config's.
* ``databricks_service_principal`` (by application id) and ``databricks_group`` (by display name) for every
  principal a workspace ACL names: the lookup fails with "not found" when the principal is not assigned to the
  workspace. Assigning them is a documented prerequisite (infra/README.md), checked here rather than done here:
  doing it would need an account-admin provider alias (``databricks_mws_permission_assignment``), i.e. account
  admin credentials in the deploy job, which is more power than this pipeline should hold.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/data-sources/current_config
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/data-sources/service_principal
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/data-sources/group
      https://developer.hashicorp.com/terraform/language/expressions/custom-conditions
"""

from __future__ import annotations

import json

from cdktf import Postcondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_databricks.data_databricks_current_config import DataDatabricksCurrentConfig
from cdktf_cdktf_provider_databricks.data_databricks_group import DataDatabricksGroup
from cdktf_cdktf_provider_databricks.data_databricks_service_principal import DataDatabricksServicePrincipal
from constructs import Construct

from infra import settings
from infra.allowlist import job_acl


def _hcl_string(value: str) -> str:
    """A Terraform string literal (JSON escaping is a subset of HCL's for the characters a host may hold)."""
    return json.dumps(value)


def same_host_condition(host: str) -> str:
    """``self.host`` equals the configured host, with or without a trailing slash, and is not an account host."""
    wanted = _hcl_string(host.rstrip("/"))
    return f'${{trimsuffix(self.host, "/") == {wanted} && !self.is_account}}'


class WorkspaceGuard(Construct):
    """Fails the plan unless it runs against the configured production workspace with its principals assigned."""

    def __init__(self, scope: Construct, id: str, *, config: settings.EnvironmentConfig) -> None:
        super().__init__(scope, id)
        host = config.databricks.host.rstrip("/")
        self.current = DataDatabricksCurrentConfig(
            self,
            "current",
            lifecycle=TerraformResourceLifecycle(
                postcondition=[
                    Postcondition(
                        condition=same_host_condition(host),
                        error_message=(
                            f"This stack deploys to {host} (workspace {config.databricks.production_workspace_id}) "
                            "only: the provider is configured for another host or for the account console."
                        ),
                    )
                ]
            ),
        )
        principals = config.principals
        self.service_principal = DataDatabricksServicePrincipal(
            self, "job_service_principal", application_id=principals.job_service_principal
        )
        self.groups = [
            DataDatabricksGroup(self, f"group_{index}", display_name=group)
            for index, (group, _) in enumerate(job_acl(principals))
        ]
