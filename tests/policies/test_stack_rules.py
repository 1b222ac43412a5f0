"""The allowlist rules (CKV_DBX_21..28) against the edits a reviewer tried on the synthesized JSON.

Every case starts from the production stack exactly as ``make synth`` writes it and the allowlist the gate
derives from ``infra/config/prod.yaml``, applies one edit, and runs the rules. Each refused pattern has a
failing edit (must fail the named rule, with a message that says why) and a passing edit close to it (an
allowed variation of the same thing, which must pass every rule): a rule that refused everything would fail
the second, one that refused nothing the first. The names are chosen to defeat the name-based rules
(``contractors-admins``, a person, a group without "developer"), which is what an allowlist is for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies import scan, stack_rules
from tests.policies.conftest import Synthesized

Doc = dict[str, Any]
Allow = dict[str, Any]
SP = "00000000-0000-4000-8000-000000000001"
STEWARDS = "medical-data-stewards"


def _find(doc: Doc, rtype: str, path_suffix: str) -> dict[str, Any]:
    """The resource of type ``rtype`` whose cdktf construct path ends with ``path_suffix``."""
    found = [
        conf
        for conf in doc["resource"][rtype].values()
        if isinstance(conf, dict) and conf["//"]["metadata"]["path"].endswith(path_suffix)
    ]
    assert len(found) == 1, (rtype, path_suffix)
    return found[0]


def _name(doc: Doc, rtype: str, path_suffix: str) -> str:
    conf = _find(doc, rtype, path_suffix)
    return next(n for n, c in doc["resource"][rtype].items() if c is conf)


def _add(doc: Doc, rtype: str, name: str, conf: dict[str, Any], section: str = "resource") -> None:
    doc.setdefault(section, {}).setdefault(rtype, {})[name] = conf


def _job(doc: Doc) -> dict[str, Any]:
    return _find(doc, "databricks_job", "job/job")


def _cluster(doc: Doc) -> dict[str, Any]:
    cluster = _job(doc)["job_cluster"]
    return (cluster[0] if isinstance(cluster, list) else cluster)["new_cluster"]


def _first_task(doc: Doc) -> dict[str, Any]:
    tasks = _job(doc)["task"]
    return tasks[0] if isinstance(tasks, list) else tasks


def _scope_ref(doc: Doc) -> str:
    return f"${{databricks_secret_scope.{_name(doc, 'databricks_secret_scope', 'key/scope')}.name}}"


def _grant(doc: Doc, path_suffix: str, principal: str, privileges: list[str]) -> None:
    conf = _find(doc, "databricks_grants", path_suffix)
    grants = conf["grant"] if isinstance(conf["grant"], list) else [conf["grant"]]
    conf["grant"] = [*grants, {"principal": principal, "privileges": privileges}]


def _key_in_state(doc: Doc, allow: Allow, *, acknowledged: bool = True) -> str:
    """Turn the stack into the state-held variant (as ``secret.source: generated`` synthesizes it)."""
    allow["secret"].update(key_in_state=True, key_in_state_acknowledged=acknowledged)
    allow["resource_types"] = sorted({*allow["resource_types"], "databricks_secret", "random_password"})
    _add(doc, "random_password", "key_value", {"length": 64, "special": False})
    _add(
        doc,
        "databricks_secret",
        "key_secret",
        {"scope": _scope_ref(doc), "key": "anonymization-key", "string_value": "${random_password.key_value.result}"},
    )
    doc.setdefault("provider", {})["random"] = [{}]
    return "${random_password.key_value.result}"


Mutation = Callable[[Doc, Allow], None]


def developers_read_the_scope(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_secret_acl",
        "dev",
        {"scope": _scope_ref(doc), "principal": "medical-developers", "permission": "READ"},
    )


def sp_read_acl_declared_twice(doc: Doc, allow: Allow) -> None:
    _add(doc, "databricks_secret_acl", "again", {"scope": _scope_ref(doc), "principal": SP, "permission": "READ"})


def scope_managed_by_users(doc: Doc, allow: Allow) -> None:
    _find(doc, "databricks_secret_scope", "key/scope")["initial_manage_principal"] = "users"


def key_as_job_parameter(doc: Doc, allow: Allow) -> None:
    value = _key_in_state(doc, allow)
    _first_task(doc)["python_wheel_task"]["named_parameters"]["key"] = value


def secret_reference_as_job_parameter(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["python_wheel_task"]["named_parameters"]["key"] = "{{secrets/anonymizer/anonymization-key}}"


def scope_name_as_job_parameter(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["python_wheel_task"]["named_parameters"]["scope_again"] = "anonymizer"


def key_as_spark_env_var(doc: Doc, allow: Allow) -> None:
    _cluster(doc)["spark_env_vars"] = {"ANONYMIZATION_KEY": "{{secrets/anonymizer/anonymization-key}}"}


def harmless_spark_env_var(doc: Doc, allow: Allow) -> None:
    _cluster(doc)["spark_env_vars"] = {"TZ": "UTC"}


def key_in_nonsensitive_output(doc: Doc, allow: Allow) -> None:
    _key_in_state(doc, allow)
    doc.setdefault("output", {})["leak"] = {"value": "${nonsensitive(random_password.key_value.result)}"}


def key_through_a_local(doc: Doc, allow: Allow) -> None:
    _key_in_state(doc, allow)
    doc["locals"] = {"k": "${random_password.key_value.result}", "k2": "${upper(local.k)}"}
    _cluster(doc)["spark_env_vars"] = {"K": "${local.k2}"}


def key_in_a_file(doc: Doc, allow: Allow) -> None:
    _key_in_state(doc, allow)
    _add(
        doc,
        "databricks_file",
        "keyfile",
        {
            "path": f"{allow['code_volume']}/k.txt",
            "content_base64": "${base64encode(random_password.key_value.result)}",
        },
    )


def key_in_state_acknowledged(doc: Doc, allow: Allow) -> None:
    _key_in_state(doc, allow)


def key_in_state_unacknowledged(doc: Doc, allow: Allow) -> None:
    _key_in_state(doc, allow, acknowledged=False)


def key_in_state_under_key_init(doc: Doc, allow: Allow) -> None:
    _key_in_state(doc, allow)
    allow["secret"].update(key_in_state=False, key_in_state_acknowledged=False)


def person_can_manage_run(doc: Doc, allow: Allow) -> None:
    acl = _find(doc, "databricks_permissions", "job_permissions/permissions")
    entries = acl["access_control"] if isinstance(acl["access_control"], list) else [acl["access_control"]]
    acl["access_control"] = [*entries, {"user_name": "jane.doe@example.com", "permission_level": "CAN_MANAGE_RUN"}]


def admins_acl_rewritten(doc: Doc, allow: Allow) -> None:
    acl = _find(doc, "databricks_permissions", "job_permissions/permissions")
    acl["access_control"] = [{"group_name": "data-platform-admins", "permission_level": "CAN_MANAGE"}]


def job_runs_as_a_person(doc: Doc, allow: Allow) -> None:
    _job(doc)["run_as"] = {"user_name": "jane.doe@example.com"}


def contractors_admins_all_privileges(doc: Doc, allow: Allow) -> None:
    _grant(doc, "source_grants/catalog", "contractors-admins", ["ALL_PRIVILEGES"])


def stewards_select_on_production(doc: Doc, allow: Allow) -> None:
    _grant(doc, "source_grants/schema", "medical-analysts", ["SELECT", "USE_SCHEMA"])


def declared_reader_keeps_its_grant(doc: Doc, allow: Allow) -> None:
    conf = _find(doc, "databricks_grants", "source_grants/schema")
    conf["grant"] = [g for g in conf["grant"] if g["principal"] != STEWARDS] + [
        {"principal": STEWARDS, "privileges": ["SELECT"]}
    ]


def sp_gets_modify_on_production(doc: Doc, allow: Allow) -> None:
    conf = _find(doc, "databricks_grants", "source_grants/schema")
    for grant in conf["grant"]:
        if grant["principal"] == SP:
            grant["privileges"] = [*grant["privileges"], "MODIFY"]


def principal_from_a_variable(doc: Doc, allow: Allow) -> None:
    doc.setdefault("variable", {})["readers"] = {"type": "list(string)"}
    _grant(doc, "source_grants/schema", "${var.readers[0]}", ["SELECT"])


def grants_by_for_each(doc: Doc, allow: Allow) -> None:
    doc.setdefault("variable", {})["readers"] = {"type": "set(string)"}
    schema = _find(doc, "databricks_grants", "source_grants/schema")["schema"]
    _add(
        doc,
        "databricks_grants",
        "each",
        {
            "for_each": "${var.readers}",
            "schema": schema,
            "grant": [{"principal": "${each.value}", "privileges": ["SELECT"]}],
        },
    )


def grants_by_dynamic_block(doc: Doc, allow: Allow) -> None:
    doc.setdefault("variable", {})["readers"] = {"type": "list(string)"}
    conf = _find(doc, "databricks_grants", "source_grants/catalog")
    conf["dynamic"] = {
        "grant": {
            "for_each": "${var.readers}",
            "content": {"principal": "${grant.value}", "privileges": ["USE_CATALOG"]},
        }
    }


def grant_on_another_catalog(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_grants",
        "other",
        {"catalog": "finance", "grant": [{"principal": SP, "privileges": ["USE_CATALOG"]}]},
    )


def source_grants_removed(doc: Doc, allow: Allow) -> None:
    del doc["resource"]["databricks_grants"][_name(doc, "databricks_grants", "source_grants/schema")]


def catalog_owned_by_developers(doc: Doc, allow: Allow) -> None:
    _find(doc, "databricks_catalog", "anonymized/catalog")["owner"] = "medical-developers"


def remote_module(doc: Doc, allow: Allow) -> None:
    doc["module"] = {"helper": {"source": "git::https://example.com/modules/helper.git"}}


def view_over_the_source(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_sql_table",
        "patients_view",
        {
            "catalog_name": "medical_anonymized",
            "schema_name": "visits",
            "name": "patients",
            "table_type": "VIEW",
            "view_definition": "SELECT * FROM medical.visits.dim_patients",
        },
    )


def delta_share_of_the_source(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_share",
        "out",
        {"name": "out", "object": [{"name": "medical.visits.dim_patients", "data_object_type": "TABLE"}]},
    )


def external_location(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_external_location",
        "dump",
        {"name": "dump", "url": "s3://elsewhere/dump", "credential_name": "c"},
    )


def connection(doc: Doc, allow: Allow) -> None:
    _add(doc, "databricks_connection", "pg", {"name": "pg", "connection_type": "POSTGRESQL", "options": {"host": "x"}})


def workspace_init_script(doc: Doc, allow: Allow) -> None:
    _add(doc, "databricks_global_init_script", "init", {"name": "init", "content_base64": "ZWNobyBoaQ=="})


def cluster_init_script(doc: Doc, allow: Allow) -> None:
    _cluster(doc)["init_scripts"] = [{"volumes": {"destination": f"{allow['code_volume']}/init.sh"}}]


def wheel_from_dbfs(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["library"] = [{"whl": "dbfs:/FileStore/anonymizer-0.1.0-py3-none-any.whl"}]


def wheel_from_another_volume(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["library"] = [
        {"whl": "/Volumes/medical_anonymized/visits/scratch/anonymizer-0.1.0-py3-none-any.whl"}
    ]


def wheel_from_the_declared_volume(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["library"] = [
        {"whl": f"{allow['code_volume']}/anonymizer/0.1.1/abc/anonymizer-0.1.1-py3-none-any.whl"}
    ]


def pypi_library(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["library"] = [{"pypi": {"package": "requests"}}]


def notebook_task(doc: Doc, allow: Allow) -> None:
    _first_task(doc)["notebook_task"] = {"notebook_path": "/Users/someone/exfil"}


def instance_profile(doc: Doc, allow: Allow) -> None:
    _cluster(doc)["aws_attributes"] = {"instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/x"}


def instance_profile_resource(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_instance_profile",
        "x",
        {"instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/x"},
    )


def aws_availability_only(doc: Doc, allow: Allow) -> None:
    _cluster(doc)["aws_attributes"] = {"availability": "ON_DEMAND"}


def source_bound_to_development(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_workspace_binding",
        "src",
        {
            "securable_type": "catalog",
            "securable_name": "medical",
            "workspace_id": 2222222222222222,
            "binding_type": "BINDING_TYPE_READ_ONLY",
        },
    )


def provider_on_another_workspace(doc: Doc, allow: Allow) -> None:
    doc["provider"]["databricks"] = [{"host": "https://dbc-other-9999.cloud.databricks.com"}]


def provider_host_with_slash(doc: Doc, allow: Allow) -> None:
    doc["provider"]["databricks"] = [{"host": allow["host"] + "/"}]


def cluster_permissions(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_permissions",
        "cluster",
        {
            "cluster_id": "0101-abc",
            "access_control": [{"group_name": "data-platform-admins", "permission_level": "CAN_MANAGE"}],
        },
    )


def job_file_elsewhere(doc: Doc, allow: Allow) -> None:
    _find(doc, "databricks_file", "artifact/file")["path"] = "/Workspace/Shared/anonymizer-0.1.0-py3-none-any.whl"


def external_volume(doc: Doc, allow: Allow) -> None:
    volume = _find(doc, "databricks_volume", "anonymized/reports_volume")
    volume.update(volume_type="EXTERNAL", storage_location="s3://elsewhere/reports")


def mask_policy_not_configured(doc: Doc, allow: Allow) -> None:
    _add(
        doc,
        "databricks_policy_info",
        "mask",
        {
            "name": "m",
            "policy_type": "POLICY_TYPE_COLUMN_MASK",
            "to_principals": ["account users"],
            "except_principals": ["medical-analysts"],
            "for_securable_type": "TABLE",
        },
    )


# (case id, edit, rule that must fail, fragment of its message)
REFUSED: list[tuple[str, Mutation, str, str]] = [
    ("developers READ on the secret scope", developers_read_the_scope, "CKV_DBX_23", "medical-developers gets READ"),
    ("initial_manage_principal users", scope_managed_by_users, "CKV_DBX_23", "initial_manage_principal users"),
    ("key as a job parameter", key_as_job_parameter, "CKV_DBX_25", "references the anonymization key"),
    ("{{secrets/}} as a job parameter", secret_reference_as_job_parameter, "CKV_DBX_25", "{{secrets/...}}"),
    ("key as a Spark env var", key_as_spark_env_var, "CKV_DBX_25", "spark_env_vars"),
    ("nonsensitive() output of the key", key_in_nonsensitive_output, "CKV_DBX_25", "output.leak"),
    ("key through locals", key_through_a_local, "CKV_DBX_25", "spark_env_vars.K"),
    ("key in a file", key_in_a_file, "CKV_DBX_25", "content_base64"),
    ("key in state, not acknowledged", key_in_state_unacknowledged, "CKV_DBX_26", "key_in_state_acknowledged"),
    ("key in state under key-init", key_in_state_under_key_init, "CKV_DBX_26", "anonymizer key init"),
    ("a person with CAN_MANAGE_RUN", person_can_manage_run, "CKV_DBX_24", "jane.doe@example.com holds CAN_MANAGE_RUN"),
    ("job runs as a person", job_runs_as_a_person, "CKV_DBX_24", "not the config's SP"),
    (
        "contractors-admins ALL_PRIVILEGES on production",
        contractors_admins_all_privileges,
        "CKV_DBX_21",
        "contractors-admins",
    ),
    ("SELECT on medical.visits for another group", stewards_select_on_production, "CKV_DBX_21", "medical-analysts"),
    ("the SP gets MODIFY on production", sp_gets_modify_on_production, "CKV_DBX_21", "['MODIFY']"),
    ("principal var.x[0]", principal_from_a_variable, "CKV_DBX_21", "cannot be resolved"),
    ("grants through for_each", grants_by_for_each, "CKV_DBX_28", "for_each is set"),
    ("grants through a dynamic block", grants_by_dynamic_block, "CKV_DBX_21", "dynamic block"),
    ("grant on an undeclared catalog", grant_on_another_catalog, "CKV_DBX_21", "catalog finance"),
    ("authoritative grants removed", source_grants_removed, "CKV_DBX_21", "no databricks_grants declares"),
    ("catalog owner developers", catalog_owned_by_developers, "CKV_DBX_22", "owner is medical-developers"),
    ("remote module", remote_module, "CKV_DBX_27", "module source"),
    ("view over the source", view_over_the_source, "CKV_DBX_27", "databricks_sql_table"),
    ("Delta share of the source", delta_share_of_the_source, "CKV_DBX_27", "Delta share"),
    ("external location", external_location, "CKV_DBX_27", "external location"),
    ("connection", connection, "CKV_DBX_27", "connection federates"),
    ("workspace init script", workspace_init_script, "CKV_DBX_27", "init script"),
    ("cluster init script from the volume", cluster_init_script, "CKV_DBX_27", "init_scripts"),
    ("wheel from dbfs:", wheel_from_dbfs, "CKV_DBX_27", "dbfs:/FileStore"),
    ("wheel from another volume", wheel_from_another_volume, "CKV_DBX_27", "not in the declared volume"),
    ("PyPI library", pypi_library, "CKV_DBX_27", "pypi library"),
    ("notebook task", notebook_task, "CKV_DBX_27", "notebook_task"),
    ("instance profile on the cluster", instance_profile, "CKV_DBX_27", "instance_profile_arn"),
    ("instance profile resource", instance_profile_resource, "CKV_DBX_27", "instance profile"),
    ("source bound to development", source_bound_to_development, "CKV_DBX_27", "binds medical"),
    ("provider on another workspace", provider_on_another_workspace, "CKV_DBX_27", "not the configured production"),
    ("permissions on a cluster", cluster_permissions, "CKV_DBX_24", "cluster_id"),
    ("wheel file outside the volume", job_file_elsewhere, "CKV_DBX_27", "/Workspace/Shared"),
    ("external volume", external_volume, "CKV_DBX_27", "EXTERNAL volume"),
    ("ABAC policy the config does not declare", mask_policy_not_configured, "CKV_DBX_27", "databricks_policy_info"),
]

# Allowed variations of the same things: each must pass every allowlist rule.
ALLOWED: list[tuple[str, Mutation]] = [
    ("the SP's READ ACL declared again", sp_read_acl_declared_twice),
    ("the scope name as a job parameter", scope_name_as_job_parameter),
    ("a harmless Spark env var", harmless_spark_env_var),
    ("key in state, acknowledged", key_in_state_acknowledged),
    ("the admins' ACL rewritten", admins_acl_rewritten),
    ("a declared reader with fewer privileges", declared_reader_keeps_its_grant),
    ("another wheel version in the declared volume", wheel_from_the_declared_volume),
    ("cluster AWS attributes without an instance profile", aws_availability_only),
    ("the provider host with a trailing slash", provider_host_with_slash),
]


def _evaluate(shipped: Synthesized, mutate: Mutation | None = None) -> list[stack_rules.Violation]:
    doc, allow = copy.deepcopy(shipped.document), copy.deepcopy(shipped.allowlist)
    if mutate is not None:
        mutate(doc, allow)
    return stack_rules.evaluate(doc, allow, "anonymizer-prod")


def test_the_shipped_stack_passes_every_allowlist_rule(shipped: Synthesized) -> None:
    assert _evaluate(shipped) == []


@pytest.mark.parametrize(("case", "mutate", "check_id", "fragment"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_edit_fails_its_rule(
    shipped: Synthesized, case: str, mutate: Mutation, check_id: str, fragment: str
) -> None:
    violations = _evaluate(shipped, mutate)
    matching = [v for v in violations if v.check_id == check_id]
    assert matching, f"{case}: {check_id} did not fail; got {violations}"
    assert any(fragment in f"{v.address} {v.message}" for v in matching), matching


@pytest.mark.parametrize(("case", "mutate"), ALLOWED, ids=[c[0] for c in ALLOWED])
def test_allowed_edit_passes(shipped: Synthesized, case: str, mutate: Mutation) -> None:
    assert _evaluate(shipped, mutate) == [], case


def test_a_stack_without_a_config_fails_as_a_whole(shipped: Synthesized) -> None:
    [violation] = stack_rules.evaluate(shipped.document, None, "anonymizer-rogue")
    assert violation.check_id == "CKV_DBX_21" and "anonymizer-rogue" in violation.message


def test_messages_never_echo_the_key(shipped: Synthesized) -> None:
    """Violations go to CI logs and SARIF: a literal key in a job parameter must not be copied there."""
    literal = "bm90LWEtcmVhbC1rZXktYnV0LWEtbGl0ZXJhbC0zMmI="

    def literal_key(doc: Doc, allow: Allow) -> None:
        _key_in_state(doc, allow)
        doc["resource"]["databricks_secret"]["key_secret"]["string_value"] = literal
        _first_task(doc)["python_wheel_task"]["named_parameters"]["k"] = "{{secrets/anonymizer/anonymization-key}}"

    violations = _evaluate(shipped, literal_key)
    assert violations and all(literal not in v.message for v in violations)


def test_the_gate_reports_allowlist_findings_with_exit_1(shipped: Synthesized, tmp_path: Path) -> None:
    """End to end through ``python -m policies.scan``: findings printed, in the SARIF, exit status 1."""
    from tests.policies.conftest import run_cli

    doc, allow = copy.deepcopy(shipped.document), copy.deepcopy(shipped.allowlist)
    contractors_admins_all_privileges(doc, allow)
    stack_dir = tmp_path / "out" / "stacks" / "anonymizer-prod"
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(doc, indent=2), "utf-8")
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(json.dumps({"anonymizer-prod": allow}), "utf-8")
    result = run_cli("--skip-synth", "--allowlist", str(allowlist), outdir=tmp_path / "out", reports=tmp_path / "r")
    assert result.returncode == scan.EXIT_FAILED, result.stdout + result.stderr
    assert "FAILED CKV_DBX_21 databricks_grants." in result.stdout
    assert "[anonymizer-prod/source_grants/catalog]" in result.stdout
    sarif = json.loads((tmp_path / "r" / "results_sarif.sarif").read_text("utf-8"))
    assert any(r["ruleId"] == "CKV_DBX_21" for r in sarif["runs"][0]["results"])
    # The name rule lets it through (an *admins group may hold ALL_PRIVILEGES): only the allowlist catches it.
    assert "CKV_DBX_9 " not in result.stdout
