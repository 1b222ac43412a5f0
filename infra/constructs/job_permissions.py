"""Who may see, run and edit the anonymization job: one authoritative ``databricks_permissions`` on it.

The job runs as the service principal that reads production. Whoever can edit it (CAN_MANAGE, IS_OWNER) can
make production-reading code run under that identity: point a task at another wheel, add a task, change a
parameter. Whoever can run it (CAN_MANAGE_RUN) can start a production read on demand and open the Spark UI
and logs of every run. Without this resource the job keeps whatever ACL someone clicked together in the UI;
``databricks_permissions`` is authoritative, so every entry not declared here is removed on the next apply.

The ACL (``JOB_ACL``):

* ``principals.job_admins_group`` (default ``data-platform-admins``): CAN_MANAGE: edit, run, change
  permissions. The only non-admin principal that may change the job outside Terraform.
* ``principals.developers_group``: CAN_VIEW only when ``principals.developers_view_job`` is true (default
  false): job settings, run status and results in the Jobs UI; no Run now, no cancel, no Spark UI or logs
  (those need CAN_MANAGE_RUN), no edit. A workspace ACL needs the group assigned to the production workspace,
  which would also let developers sign in there. Results include a task's output, so the job's steps print
  counts and ids, never row values.
* the job's service principal: nothing. ``run_as`` needs no job ACL: Databricks checks that whoever *sets*
  run_as holds the **Service Principal User** role on the SP (the deploying identity, see infra/README.md),
  and scheduled runs execute as run_as whatever the ACL says.
* IS_OWNER: not declared. Databricks refuses a group as job owner, and naming a person or another SP would
  hand them edit rights. The provider keeps the identity that created the job through Terraform (the deploying
  identity) as owner: "if no owner is specified, the currently authenticated principal becomes the owner".
* workspace ``admins`` keep CAN_MANAGE on every job; it cannot be lowered (the provider drops such entries).

CKV_DBX_20 (``policies/checks/jobs.py``) enforces the naming rule and CKV_DBX_24 (``policies/stack_rules.py``)
the exact ACL of ``infra/allowlist.py`` on the synthesized JSON.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/permissions#job-usage
      https://docs.databricks.com/jobs/privileges.html
"""

from __future__ import annotations

from cdktf_cdktf_provider_databricks.permissions import Permissions, PermissionsAccessControl
from constructs import Construct

from infra import settings
from infra.allowlist import job_acl


class JobPermissions(Construct):
    """The authoritative ACL of one job: admins manage, developers view, nobody else (owner implicit)."""

    def __init__(self, scope: Construct, id: str, *, job_id: str, principals: settings.Principals) -> None:
        super().__init__(scope, id)
        self.permissions = Permissions(
            self,
            "permissions",
            job_id=job_id,
            access_control=[
                PermissionsAccessControl(group_name=group, permission_level=level)
                for group, level in job_acl(principals)
            ],
        )
