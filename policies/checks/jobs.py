"""The anonymization job: who it runs as, who hears about failures, where its code and clusters come from.

The job reads production and writes the copy developers see, so it is the one identity that may touch both:
it must run as a service principal (not a person who may leave or be phished), on clusters nobody else can
attach to, with code whose exact version is auditable, and only admins may edit it (whoever edits the job
chooses the code that runs as that service principal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from checkov.common.models.enums import CheckCategories

try:
    from policies.checks._check import DbxCheck, Resource
    from policies.checks._hcl import blocks, first_block, strings
    from policies.checks._naming import is_admins, is_all_users, is_developers
    from policies.checks._stack import reference_target
except ModuleNotFoundError:  # inside checkov: only this directory is on sys.path
    from _check import DbxCheck, Resource  # type: ignore[no-redef]
    from _hcl import blocks, first_block, strings  # type: ignore[no-redef]
    from _naming import is_admins, is_all_users, is_developers  # type: ignore[no-redef]
    from _stack import reference_target  # type: ignore[no-redef]

# SINGLE_USER is the classic name of dedicated access mode; the API's newer name is
# DATA_SECURITY_MODE_DEDICATED. Standard/shared modes let other users attach to the cluster.
DEDICATED_MODES = frozenset({"SINGLE_USER", "DATA_SECURITY_MODE_DEDICATED"})
# PEP 427: {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl, version starting with a digit.
_WHEEL = re.compile(
    r"^[A-Za-z0-9_.]+-\d[A-Za-z0-9_.!+]*(-\d[A-Za-z0-9_]*)?-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$"
)
_LIBRARY_KINDS = ("whl", "jar", "egg", "pypi", "maven", "cran", "requirements")
# Job permission levels (provider 1.99, databricks_permissions "Job usage"), weakest first.
JOB_PERMISSION_LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER")
_ACL_PRINCIPALS = ("group_name", "service_principal_name", "user_name")


def _tasks(conf: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every task of a job, including the task nested in a ``for_each_task``."""
    for task in blocks(conf, "task"):
        yield task
        for loop in blocks(task, "for_each_task"):
            yield from blocks(loop, "task")


def cluster_specs(resource: Resource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, spec) of every cluster a job creates, or of a ``databricks_cluster`` itself."""
    if resource.type == "databricks_cluster":
        yield "cluster", resource.conf
        return
    for spec in blocks(resource.conf, "new_cluster"):  # legacy single-task job format
        yield "new_cluster", spec
    for cluster in blocks(resource.conf, "job_cluster"):
        for spec in blocks(cluster, "new_cluster"):
            yield f"job_cluster {cluster.get('job_cluster_key')}", spec
    for task in _tasks(resource.conf):
        for spec in blocks(task, "new_cluster"):
            yield f"task {task.get('task_key')}", spec


def libraries(resource: Resource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, library block) of every library a job's tasks or a cluster install."""
    if resource.type == "databricks_cluster":
        for library in blocks(resource.conf, "library"):
            yield "cluster", library
        return
    for library in blocks(resource.conf, "library"):
        yield "job", library
    for task in _tasks(resource.conf):
        for library in blocks(task, "library"):
            yield f"task {task.get('task_key')}", library


class JobRunsAsServicePrincipal(DbxCheck):
    """CKV_DBX_13: a job runs as its owner by default: a person, whose grants then reach production."""

    check_id = "CKV_DBX_13"
    title = "Jobs run as a service principal (run_as.service_principal_name)"
    resource_types = ("databricks_job",)

    def violations(self, resource: Resource) -> Iterable[str]:
        run_as = first_block(resource.conf, "run_as")
        if run_as is None:
            yield "no run_as: the job runs as its owner, a person"
        elif run_as.get("user_name"):
            yield f"run_as.user_name is {run_as['user_name']}; run as a service principal"
        elif not run_as.get("service_principal_name"):
            yield "run_as has no service_principal_name"


class JobNotifiesOnFailure(DbxCheck):
    """CKV_DBX_14: a silent failure leaves developers on stale data and a half-written staging schema."""

    check_id = "CKV_DBX_14"
    title = "Jobs notify someone when a run fails (email or webhook on_failure)"
    resource_types = ("databricks_job",)
    category = CheckCategories.LOGGING

    def violations(self, resource: Resource) -> Iterable[str]:
        email = first_block(resource.conf, "email_notifications") or {}
        webhook = first_block(resource.conf, "webhook_notifications") or {}
        if not strings(email.get("on_failure")) and not blocks(webhook, "on_failure"):
            yield "neither email_notifications.on_failure nor webhook_notifications.on_failure is set"


class JobSingleConcurrentRun(DbxCheck):
    """CKV_DBX_15: two concurrent runs race on the staging schema and can promote a mix of both."""

    check_id = "CKV_DBX_15"
    title = "Jobs allow one concurrent run (max_concurrent_runs = 1, set explicitly)"
    resource_types = ("databricks_job",)
    category = CheckCategories.GENERAL_SECURITY

    def violations(self, resource: Resource) -> Iterable[str]:
        value = resource.stack.resolve(resource.conf.get("max_concurrent_runs"))
        if value != "1":
            yield f"max_concurrent_runs is {value or 'unset'}; set it to 1 explicitly"


class ClustersDedicated(DbxCheck):
    """CKV_DBX_16: on a shared/standard cluster other users' code runs beside the production reader."""

    check_id = "CKV_DBX_16"
    title = "Job clusters use dedicated access mode (SINGLE_USER / DATA_SECURITY_MODE_DEDICATED)"
    resource_types = ("databricks_job", "databricks_cluster")

    def violations(self, resource: Resource) -> Iterable[str]:
        for where, spec in cluster_specs(resource):
            mode = spec.get("data_security_mode")
            if mode not in DEDICATED_MODES:
                yield f"{where}: data_security_mode is {mode or 'unset'}; use SINGLE_USER"
        if resource.type == "databricks_job":
            for task in _tasks(resource.conf):
                if task.get("existing_cluster_id"):
                    yield f"task {task.get('task_key')} runs on an existing cluster this stack does not govern"


class NoDbfsInitScripts(DbxCheck):
    """CKV_DBX_17: DBFS is writable by every workspace user, so a DBFS init script is anyone's code."""

    check_id = "CKV_DBX_17"
    title = "Clusters run no init script from DBFS"
    resource_types = ("databricks_job", "databricks_cluster")
    category = CheckCategories.SUPPLY_CHAIN

    def violations(self, resource: Resource) -> Iterable[str]:
        for where, spec in cluster_specs(resource):
            for script in blocks(spec, "init_scripts"):
                for kind, target in script.items():
                    destination = str((first_block(script, kind) or {}).get("destination", ""))
                    if kind == "dbfs" or destination.lower().startswith("dbfs:"):
                        yield f"{where}: init script {destination or target} is on DBFS"


class WheelsFromVolumesVersioned(DbxCheck):
    """CKV_DBX_18: code from /Volumes is governed by Unity Catalog grants; a version makes a run auditable."""

    check_id = "CKV_DBX_18"
    title = "Libraries are versioned wheels from a Unity Catalog volume (/Volumes/.../name-1.2.3-...whl)"
    resource_types = ("databricks_job", "databricks_cluster")
    category = CheckCategories.SUPPLY_CHAIN

    def violations(self, resource: Resource) -> Iterable[str]:
        for where, library in libraries(resource):
            kinds = [kind for kind in _LIBRARY_KINDS if library.get(kind) is not None]
            for kind in kinds:
                if kind != "whl":
                    yield f"{where}: a {kind} library; ship code as a versioned wheel in a volume"
                    continue
                path = resource.stack.resolve(library["whl"])
                if path is None:
                    yield f"{where}: wheel path {library['whl']} cannot be resolved to a /Volumes path"
                elif not path.startswith("/Volumes/"):
                    yield f"{where}: wheel {path} is not in a Unity Catalog volume (/Volumes/...)"
                elif not _WHEEL.match(path.rsplit("/", 1)[-1]):
                    yield f"{where}: wheel {path} has no version in its file name (name-1.2.3-py3-none-any.whl)"


def job_permission_sets(resource: Resource) -> list[str]:
    """Names of the ``databricks_permissions`` whose ``job_id`` is exactly ``${databricks_job.<this job>.id}``."""
    found = []
    for name, conf in resource.stack.resources_of("databricks_permissions").items():
        job_id = conf.get("job_id")
        target = reference_target(job_id) if isinstance(job_id, str) else None
        if target == ("resource", "databricks_job", resource.name, "id"):
            found.append(name)
    return found


class JobPermissionsAdminsOnly(DbxCheck):
    """CKV_DBX_20: whoever edits the job chooses the code that runs as the production-reading SP.

    On a ``databricks_job``: exactly one ``databricks_permissions`` declares its ACL (without one, grants
    clicked in the UI persist; with two, they overwrite each other on every apply). On a job's
    ``databricks_permissions``: CAN_MANAGE only for ``*admins`` groups; no IS_OWNER (Databricks refuses a
    group as owner, and a named person or SP would get edit rights: the deploying identity stays the implicit
    owner); developers and all users at most CAN_VIEW (CAN_MANAGE_RUN starts production reads on demand and
    opens the Spark UI and logs).
    """

    check_id = "CKV_DBX_20"
    title = (
        "Jobs have one databricks_permissions: CAN_MANAGE only for *admins groups, no declared IS_OWNER, "
        "developers and all users at most CAN_VIEW"
    )
    resource_types = ("databricks_job", "databricks_permissions")

    def violations(self, resource: Resource) -> Iterable[str] | None:
        if resource.type == "databricks_job":
            return self._job(resource)
        if resource.conf.get("job_id") is None:
            return None  # permissions on a cluster, notebook, ...: not this rule
        return list(self._acl(resource))

    @staticmethod
    def _job(resource: Resource) -> list[str]:
        sets = job_permission_sets(resource)
        if not sets:
            return [
                "no databricks_permissions declares this job's ACL: permissions granted in the UI (CAN_MANAGE "
                "lets the holder change the code that runs as the job's identity) stay in place"
            ]
        if len(sets) > 1:
            return [
                f"databricks_permissions {', '.join(sorted(sets))} are each authoritative for this job and "
                "overwrite each other on every apply: merge them"
            ]
        return []

    @staticmethod
    def _acl(resource: Resource) -> Iterator[str]:
        entries = blocks(resource.conf, "access_control")
        if not entries:
            yield "no access_control block"
        for entry in entries:
            kinds = [kind for kind in _ACL_PRINCIPALS if entry.get(kind) is not None]
            if len(kinds) != 1:
                yield f"an access_control block names {len(kinds)} principals ({', '.join(kinds) or 'none'}); name one"
                continue
            kind = kinds[0]
            principal = resource.stack.resolve(entry[kind])
            who = f"{kind} {principal or str(entry[kind]) + ' (unresolved)'}"
            level = resource.stack.resolve(entry.get("permission_level"))
            if level not in JOB_PERMISSION_LEVELS:
                yield f"{who}: permission_level {level or 'unresolved'} is not one of {list(JOB_PERMISSION_LEVELS)}"
            elif level == "IS_OWNER":
                if kind == "group_name":
                    yield (
                        f"{who} is declared IS_OWNER: a group cannot own a job (apply fails); declare no owner "
                        "(the deploying identity stays owner) and give the admins group CAN_MANAGE"
                    )
                else:
                    yield (
                        f"{who} is declared IS_OWNER and could edit the code that runs as the job's identity; "
                        "declare no owner (the deploying identity stays owner) and give an admins group CAN_MANAGE"
                    )
            elif is_developers(principal) or is_all_users(principal):
                if level != "CAN_VIEW":
                    yield (
                        f"{who} holds {level}; developers and all users may hold CAN_VIEW at most "
                        "(CAN_MANAGE_RUN starts production reads on demand and shows Spark UI and logs)"
                    )
            elif level == "CAN_MANAGE" and not (kind == "group_name" and is_admins(principal)):
                yield (
                    f"{who} holds CAN_MANAGE but is not an admins group (*admins): it could change the code "
                    "that runs as the job's identity"
                )


job_runs_as_service_principal = JobRunsAsServicePrincipal()
job_notifies_on_failure = JobNotifiesOnFailure()
job_single_concurrent_run = JobSingleConcurrentRun()
clusters_dedicated = ClustersDedicated()
no_dbfs_init_scripts = NoDbfsInitScripts()
wheels_from_volumes_versioned = WheelsFromVolumesVersioned()
job_permissions_admins_only = JobPermissionsAdminsOnly()
