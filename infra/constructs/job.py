"""The anonymization job: the wheel uploaded to a volume under a content-addressed path, and the Lakeflow job.

Task graph (every task runs one console script of the ``anonymizer`` wheel on one shared job cluster):

    gate -> anonymize -> check -> promote -> report
      \\________\\__________\\_________\\____> rollback (run_if AT_LEAST_ONE_FAILED)

* gate: compares live source schema and tags with the contract in the wheel, fails closed.
* anonymize: rewrites the staging tables completely (a retry starts over: idempotent).
* check: verifies staging (row counts, keys, no clear-text leak) before anything is published.
* promote: publishes staging into the final schema and journals the previous versions. NOT retried: a
  half-applied promote must be rolled back, not repeated.
* report: writes the run report to the reports volume.
* rollback: runs only when a step failed, restores from the journal and then exits non-zero itself. A run
  whose last task succeeds ends "Succeeded with failures" and job-level on_failure may not fire, so the
  failure must come from the rollback task (the job code does that). NOT retried.

Every task receives the same named parameters, so any task can be re-run alone with the run's context.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/job
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/file
      https://docs.databricks.com/aws/en/jobs/run-if
      https://docs.databricks.com/aws/en/jobs/python-wheel
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import AssetType, TerraformAsset, TerraformResourceLifecycle
from cdktf_cdktf_provider_databricks.file import File
from cdktf_cdktf_provider_databricks.job import (
    Job,
    JobEmailNotifications,
    JobJobCluster,
    JobJobClusterNewCluster,
    JobJobClusterNewClusterAutoscale,
    JobRunAs,
    JobSchedule,
    JobTask,
    JobTaskDependsOn,
    JobTaskLibrary,
    JobTaskPythonWheelTask,
    JobWebhookNotifications,
    JobWebhookNotificationsOnFailure,
)
from cdktf_cdktf_provider_databricks.volume import Volume
from constructs import Construct

from infra import settings
from infra.wheel import Wheel

PACKAGE_NAME = "anonymizer"
JOB_CLUSTER_KEY = "anonymizer"


@dataclass(frozen=True)
class Step:
    """One task: its console script, upstream tasks, run condition and whether a retry is safe."""

    key: str
    entry_point: str
    depends_on: tuple[str, ...]
    idempotent: bool
    run_if: str = "ALL_SUCCESS"
    # A retry only helps a transient failure. The gate fails on drift between the live source and the
    # contract, which a retry minutes later cannot fix; retrying it would only delay the alert.
    retried: bool | None = None

    @property
    def retries(self) -> bool:
        return self.idempotent if self.retried is None else self.retried


STEPS: tuple[Step, ...] = (
    Step("gate", "anonymizer-gate", (), idempotent=True, retried=False),
    Step("anonymize", "anonymizer-anonymize", ("gate",), idempotent=True),
    Step("check", "anonymizer-check", ("anonymize",), idempotent=True),
    # risk: re-identification risk on staging (exit 9 above the contract's thresholds); a no-op without `privacy`.
    Step("risk", "anonymizer-risk", ("check",), idempotent=True),
    Step("promote", "anonymizer-promote", ("risk",), idempotent=False),
    Step("report", "anonymizer-report", ("promote",), idempotent=True),
    # Restores from the journal, then fails the run on purpose (see the module docstring).
    Step(
        "rollback",
        "anonymizer-rollback",
        ("gate", "anonymize", "check", "risk", "promote"),
        idempotent=False,
        run_if="AT_LEAST_ONE_FAILED",
    ),
)


@dataclass(frozen=True)
class JobLocations:
    """Names the job receives as parameters (from the config, which matches the contract or overrides it)."""

    source_catalog: str
    source_schema: str
    target_catalog: str
    target_schema: str
    staging_schema: str
    report_dir: str


def named_parameters(locations: JobLocations, secret: settings.SecretSettings) -> dict[str, str]:
    """The parameters every task gets; ``{{job.run_id}}`` ties journal, report and rollback to one run."""
    return {
        "runtime": "databricks",
        "source_catalog": locations.source_catalog,
        "source_schema": locations.source_schema,
        "target_catalog": locations.target_catalog,
        "target_schema": locations.target_schema,
        "staging_schema": locations.staging_schema,
        "secret_scope": secret.scope,
        "secret_key": secret.key,
        "run_id": "{{job.run_id}}",
        "report_dir": locations.report_dir,
    }


class WheelArtifact(Construct):
    """The wheel, copied into the stack directory as an asset and uploaded to ``<artifacts volume>/...``.

    The asset makes ``cdktf.out/stacks/<stack>`` self-contained, so plain ``terraform plan`` finds the file.
    """

    def __init__(self, scope: Construct, id: str, *, wheel: Wheel, volume: Volume, volume_root: str) -> None:
        super().__init__(scope, id)
        asset = TerraformAsset(self, "wheel", path=str(wheel.path), type=AssetType.FILE, asset_hash=wheel.short_hash)
        self.path = wheel.volume_path(volume_root)
        # The path carries the wheel's content hash, so a new wheel is a new file (a replacement, never an
        # in-place overwrite a running cluster could read half-written). create_before_destroy uploads the new
        # file and updates the job before the old file is deleted: no moment where the job points at nothing.
        self.file = File(
            self,
            "file",
            path=self.path,
            source=asset.path,
            depends_on=[volume],
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )


def _cluster(job: settings.JobSettings, service_principal: str) -> JobJobClusterNewCluster:
    cluster = job.cluster
    # Dedicated (single-user) access mode, assigned to the job's SP: the only mode in which the cluster runs
    # as exactly one identity, so Unity Catalog checks the SP's grants and nobody else's.
    dedicated = cluster.data_security_mode == "DEDICATED"
    return JobJobClusterNewCluster(
        spark_version=cluster.spark_version,
        node_type_id=cluster.node_type_id,
        num_workers=cluster.num_workers,
        autoscale=JobJobClusterNewClusterAutoscale(
            min_workers=cluster.autoscale.min_workers,
            max_workers=cluster.autoscale.max_workers,
        )
        if cluster.autoscale
        else None,
        # The API spells dedicated mode DATA_SECURITY_MODE_DEDICATED and accepts it only with kind
        # CLASSIC_PREVIEW; SINGLE_USER is the classic spelling of the same mode.
        data_security_mode="DATA_SECURITY_MODE_DEDICATED" if dedicated else "SINGLE_USER",
        kind="CLASSIC_PREVIEW" if dedicated else None,
        single_user_name=service_principal,
        enable_local_disk_encryption=cluster.enable_local_disk_encryption,
        custom_tags={"purpose": "anonymization"},
    )


class AnonymizationJob(Construct):
    """The ``databricks_job`` running the wheel as the service principal, one run at a time."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: settings.EnvironmentConfig,
        wheel: Wheel,
        wheel_path: str,
        locations: JobLocations,
        contract_digest: str,
    ) -> None:
        super().__init__(scope, id)
        job_cfg = config.job
        sp = config.principals.job_service_principal
        parameters = named_parameters(locations, config.secret)
        missing = {s.entry_point for s in STEPS} - wheel.entry_points
        if missing:
            raise ValueError(
                f"the job wheel does not declare the entry points {sorted(missing)}: "
                "add them to [project.scripts] in jobs/pyproject.toml"
            )
        retries = job_cfg.retries
        tasks = [
            JobTask(
                task_key=step.key,
                description=f"{step.entry_point} ({'retried' if step.retries else 'never retried'})",
                job_cluster_key=JOB_CLUSTER_KEY,
                depends_on=[JobTaskDependsOn(task_key=k) for k in step.depends_on] or None,
                run_if=step.run_if,
                python_wheel_task=JobTaskPythonWheelTask(
                    package_name=PACKAGE_NAME,
                    entry_point=step.entry_point,
                    named_parameters=parameters,
                ),
                library=[JobTaskLibrary(whl=wheel_path)],
                max_retries=retries.max_retries if step.retries else 0,
                min_retry_interval_millis=retries.min_retry_interval_millis if step.retries else None,
                retry_on_timeout=step.retries,
            )
            for step in STEPS
        ]
        webhooks = config.notifications.webhook_destination_ids
        self.job = Job(
            self,
            "job",
            name=job_cfg.name,
            description=(
                "Anonymizes production (source) into the staging schema, checks and promotes it. "
                "Managed by infra/ (CDKTF): edits in the UI are overwritten."
            ),
            run_as=JobRunAs(service_principal_name=sp),
            max_concurrent_runs=1,  # two runs would race on the staging tables and the journal
            timeout_seconds=job_cfg.timeout_seconds,
            job_cluster=[JobJobCluster(job_cluster_key=JOB_CLUSTER_KEY, new_cluster=_cluster(job_cfg, sp))],
            task=tasks,
            email_notifications=JobEmailNotifications(on_failure=list(config.notifications.emails)),
            webhook_notifications=JobWebhookNotifications(
                on_failure=[JobWebhookNotificationsOnFailure(id=i) for i in webhooks],
            )
            if webhooks
            else None,
            schedule=JobSchedule(
                quartz_cron_expression=job_cfg.schedule.quartz_cron_expression,
                timezone_id=job_cfg.schedule.timezone_id,
                pause_status="PAUSED" if config.schedule_paused else "UNPAUSED",
            ),
            tags={
                "environment": config.environment,
                "managed_by": "cdktf",
                "anonymizer_version": wheel.version,
                "contract_sha256": contract_digest[:12],
            },
        )
