"""The job: task graph, run identity, notifications, retries, parameters and the content-addressed wheel."""

from __future__ import annotations

import re
from typing import Any

from tests.infra.conftest import SP, StackJson, only, ref, resources

STEPS = ["gate", "anonymize", "check", "risk", "promote", "report", "rollback"]


def _tasks(stack: StackJson) -> dict[str, dict[str, Any]]:
    return {t["task_key"]: t for t in only(stack, "databricks_job")["task"]}


def test_tasks_and_their_dependencies(prod_stack: StackJson) -> None:
    tasks = _tasks(prod_stack)
    assert list(tasks) == STEPS
    deps = {k: [d["task_key"] for d in t.get("depends_on", [])] for k, t in tasks.items()}
    assert deps == {
        "gate": [],
        "anonymize": ["gate"],
        "check": ["anonymize"],
        "risk": ["check"],
        "promote": ["risk"],
        "report": ["promote"],
        "rollback": ["gate", "anonymize", "check", "risk", "promote"],
    }
    assert {k: t["run_if"] for k, t in tasks.items()} == {
        **{k: "ALL_SUCCESS" for k in STEPS[:-1]},
        "rollback": "AT_LEAST_ONE_FAILED",
    }


def test_every_task_runs_its_wheel_entry_point_on_the_shared_cluster(prod_stack: StackJson) -> None:
    whl = ref(prod_stack, "databricks_file", "artifact/file", "path")
    for key, task in _tasks(prod_stack).items():
        assert task["python_wheel_task"]["package_name"] == "anonymizer"
        assert task["python_wheel_task"]["entry_point"] == f"anonymizer-{key}"
        assert task["job_cluster_key"] == "anonymizer"
        assert task["library"] == [{"whl": whl}]


def test_named_parameters_are_identical_for_every_task(prod_stack: StackJson) -> None:
    expected = {
        "runtime": "databricks",
        "source_catalog": "medical",
        "source_schema": "visits",
        "target_catalog": "medical_anonymized",
        "target_schema": "visits",
        "staging_schema": "visits_staging",
        "secret_scope": "anonymizer",
        "secret_key": "anonymization-key",
        "run_id": "{{job.run_id}}",
        "report_dir": "/Volumes/medical_anonymized/visits_staging/reports",
    }
    for task in _tasks(prod_stack).values():
        assert task["python_wheel_task"]["named_parameters"] == expected


def test_retries_only_on_idempotent_steps(prod_stack: StackJson) -> None:
    """promote and rollback are not idempotent; the gate is, but drift does not heal in minutes: no retry."""
    tasks = _tasks(prod_stack)
    for key in ("anonymize", "check", "risk", "report"):
        assert tasks[key]["max_retries"] == 2
        assert tasks[key]["min_retry_interval_millis"] == 300_000
    for key in ("gate", "promote", "rollback"):
        assert tasks[key]["max_retries"] == 0
        assert tasks[key]["retry_on_timeout"] is False
        assert "min_retry_interval_millis" not in tasks[key]


def test_job_runs_as_the_sp_once_at_a_time_with_notifications(prod_stack: StackJson) -> None:
    job = only(prod_stack, "databricks_job")
    assert job["run_as"] == {"service_principal_name": SP}
    assert job["max_concurrent_runs"] == 1
    assert job["timeout_seconds"] == 14400
    assert job["email_notifications"] == {"on_failure": ["data-platform-oncall@example.com"]}
    assert "webhook_notifications" not in job
    assert "max_retries" not in job  # retries are per task


def test_job_cluster_is_dedicated_to_the_sp(prod_stack: StackJson) -> None:
    [cluster] = only(prod_stack, "databricks_job")["job_cluster"]
    assert cluster == {
        "job_cluster_key": "anonymizer",
        "new_cluster": {
            "spark_version": "17.3.x-scala2.13",
            "node_type_id": "i3.xlarge",
            "autoscale": {"min_workers": 1, "max_workers": 4},
            "data_security_mode": "SINGLE_USER",
            "single_user_name": SP,
            "enable_local_disk_encryption": True,
            "custom_tags": {"purpose": "anonymization"},
        },
    }


def test_dedicated_mode_and_webhooks_in_the_variant(variant_stack: StackJson) -> None:
    job = only(variant_stack, "databricks_job")
    cluster = job["job_cluster"][0]["new_cluster"]
    assert cluster["data_security_mode"] == "DATA_SECURITY_MODE_DEDICATED"
    assert cluster["kind"] == "CLASSIC_PREVIEW"
    assert cluster["single_user_name"] == SP
    assert cluster["num_workers"] == 2 and "autoscale" not in cluster
    assert job["webhook_notifications"] == {"on_failure": [{"id": "0f2c7a3e-webhook-destination"}]}


def test_schedule_unpaused_in_production_only(prod_stack: StackJson, variant_stack: StackJson) -> None:
    assert only(prod_stack, "databricks_job")["schedule"] == {
        "quartz_cron_expression": "0 0 2 * * ?",
        "timezone_id": "UTC",
        "pause_status": "UNPAUSED",
    }
    assert only(variant_stack, "databricks_job")["schedule"]["pause_status"] == "PAUSED"


def test_wheel_is_uploaded_under_version_and_content_hash(prod_stack: StackJson, wheel: Any) -> None:
    file = only(prod_stack, "databricks_file")
    assert file["path"] == (
        "/Volumes/medical_anonymized/visits_staging/artifacts/anonymizer/0.1.0/"
        f"{wheel.sha256[:12]}/anonymizer-0.1.0-py3-none-any.whl"
    )
    assert re.fullmatch(
        r"assets/artifact_wheel_[0-9A-F]{8}/[0-9a-f]{12}/anonymizer-0\.1\.0-py3-none-any\.whl", file["source"]
    )
    assert file["depends_on"] == [
        ref(prod_stack, "databricks_volume", "anonymized/artifacts_volume", "id")
        .removeprefix("${")
        .removesuffix(".id}")
    ]
    assert prod_stack["output"]["wheel_path"]["value"] == file["path"]


def test_wheel_file_is_replaced_create_before_destroy(prod_stack: StackJson) -> None:
    """A new wheel has a new (content-hash) path: upload it and repoint the job before the old file goes."""
    file = only(prod_stack, "databricks_file")
    assert file["lifecycle"] == {"create_before_destroy": True}
    digest = file["path"].rsplit("/", 2)[-2]
    assert len(digest) == 12 and file["path"].startswith("/Volumes/medical_anonymized/visits_staging/artifacts/")
    [task] = [t for t in only(prod_stack, "databricks_job")["task"] if t["task_key"] == "gate"]
    assert task["library"] == [
        {"whl": f"${{databricks_file.{next(iter(resources(prod_stack, 'databricks_file')))}.path}}"}
    ]
