"""What one environment's stack may contain, derived from its config: the allowlist the policy gate enforces.

Why an allowlist: the name-based CKV_DBX rules recognise danger by name patterns (``users``, ``*admins``), so
a grant to a group called ``contractors-admins`` or a named person passes them. The allowlist says, from
``infra/config/<env>.yaml`` alone, exactly which principal may hold which privilege on which securable, who
may read the secret scope, who may see or manage the job, where the job's code comes from and which resource
types the stack may declare; ``policies/stack_rules.py`` fails everything else in the synthesized JSON,
whatever its name.

The constructs import their privilege sets and ACLs from here, so the stacks and the gate cannot drift apart
silently: a construct that granted more than this module allows fails the gate on the shipped stack.

No cdktf import: ``policies.scan`` builds allowlists before (and without) a synth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anonymizer.contract import Contract
from infra import settings

# The job's service principal (SP): least privilege (see infra/constructs/grants.py for the why).
SP_SOURCE_CATALOG = ("USE_CATALOG",)
SP_SOURCE_SCHEMA = ("SELECT", "USE_SCHEMA")
SP_ANONYMIZED_CATALOG = ("USE_CATALOG",)
SP_ANONYMIZED_SCHEMA = ("CREATE_TABLE", "MODIFY", "SELECT", "USE_SCHEMA")
SP_ARTIFACTS_VOLUME = ("READ_VOLUME",)
SP_REPORTS_VOLUME = ("READ_VOLUME", "WRITE_VOLUME")
DEVELOPERS_CATALOG = ("USE_CATALOG",)
DEVELOPERS_FINAL_SCHEMA = ("SELECT", "USE_SCHEMA")
ARTIFACTS_VOLUME = "artifacts"
REPORTS_VOLUME = "reports"

# Job ACL levels (databricks_permissions "Job usage").
ADMINS_JOB_LEVEL = "CAN_MANAGE"
DEVELOPERS_JOB_LEVEL = "CAN_VIEW"

# Every resource and data source type a stack may declare. Anything else (a view or table, a share or
# recipient, an external location, a connection, a storage credential, a notebook, workspace file or
# repo, a global init script, an instance profile, a cluster, a pipeline, a SQL query...) is an exfiltration
# path or code the gate does not review, so it fails CKV_DBX_27 whatever its configuration.
RESOURCE_TYPES = frozenset(
    {
        "databricks_catalog",
        "databricks_schema",
        "databricks_volume",
        "databricks_grants",
        "databricks_workspace_binding",
        "databricks_secret_scope",
        "databricks_secret_acl",
        "databricks_entity_tag_assignment",
        "databricks_file",
        "databricks_job",
        "databricks_permissions",
    }
)
# Only with a state-held key (secret.source generated / variable, acknowledged).
KEY_IN_STATE_RESOURCE_TYPES = frozenset({"databricks_secret", "random_password"})
DATA_SOURCE_TYPES = frozenset(
    {
        "databricks_catalog",
        "databricks_schema",
        "databricks_group",
        "databricks_service_principal",
        "databricks_user",
        "databricks_current_config",
    }
)
PROVIDERS = frozenset({"databricks", "random"})
# Terraform modules the stacks may call (source addresses). None today: a module is code outside this
# repository's review that runs with the deploying identity.
MODULE_SOURCES: tuple[str, ...] = ()


class ColumnMaskError(ValueError):
    """The config asks for column masks the contract's columns cannot get (a missing function, mixed types)."""


@dataclass(frozen=True)
class ColumnMaskPlan:
    """strategy -> masking function, and who reads unmasked (the SP and the declared production readers)."""

    functions: dict[str, str]
    exceptions: list[str]


def column_mask_plan(config: settings.EnvironmentConfig, contract: Contract) -> ColumnMaskPlan:
    """Which masking function each masked strategy needs; refuses what one ABAC policy cannot express."""
    masks = config.column_masks
    if masks is None:
        return ColumnMaskPlan({}, [])
    families: dict[str, set[str]] = {}
    for _, _, column in contract.iter_columns():
        if column.classification in masks.classifications:
            families.setdefault(column.strategy, set()).add(column.sql_type.family)
    functions: dict[str, str] = {}
    for strategy, found in sorted(families.items()):
        if len(found) != 1:
            raise ColumnMaskError(
                f"column_masks: the contract's {strategy} columns have types of several families {sorted(found)}; "
                "one ABAC policy per strategy cannot mask them with one function. Give those columns one type "
                "family, or leave their classification out of column_masks.classifications"
            )
        [family] = found
        if family not in masks.mask_functions:
            raise ColumnMaskError(
                f"column_masks.mask_functions has no function for type family {family} ({strategy} columns); add "
                f"e.g. {family}: <catalog>.<schema>.mask_{family}"
            )
        functions[strategy] = masks.mask_functions[family]
    principals = config.principals
    exceptions = sorted({principals.job_service_principal, *(r.principal for r in principals.production_readers)})
    return ColumnMaskPlan(functions, exceptions)


def job_acl(principals: settings.Principals) -> list[tuple[str, str]]:
    """(group name, permission level) of every job ACL entry, admins first: stable output, no plan noise."""
    acl = [(principals.job_admins_group, ADMINS_JOB_LEVEL)]
    if principals.developers_view_job:
        acl.append((principals.developers_group, DEVELOPERS_JOB_LEVEL))
    return acl


def source_grants(principals: settings.Principals) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(catalog grants, schema grants) on production: the SP plus every declared production reader."""
    sp = principals.job_service_principal
    catalog: dict[str, list[str]] = {sp: list(SP_SOURCE_CATALOG)}
    schema: dict[str, list[str]] = {sp: list(SP_SOURCE_SCHEMA)}
    for reader in principals.production_readers:
        catalog[reader.principal] = list(reader.catalog_privileges)
        schema[reader.principal] = list(reader.schema_privileges)
    return catalog, schema


def volume_root(config: settings.EnvironmentConfig, volume: str) -> str:
    anonymized = config.catalogs.anonymized
    return f"/Volumes/{anonymized.catalog}/{anonymized.staging_schema}/{volume}"


def _securable_grants(config: settings.EnvironmentConfig) -> dict[str, dict[str, dict[str, list[str]]]]:
    """kind -> full name -> principal -> privileges: every grant the stack may declare, nothing more."""
    principals = config.principals
    sp, developers = principals.job_service_principal, principals.developers_group
    source, anonymized = config.catalogs.source, config.catalogs.anonymized
    source_catalog, source_schema = source_grants(principals)
    staging = f"{anonymized.catalog}.{anonymized.staging_schema}"
    return {
        "catalog": {
            source.catalog: source_catalog,
            anonymized.catalog: {sp: list(SP_ANONYMIZED_CATALOG), developers: list(DEVELOPERS_CATALOG)},
        },
        "schema": {
            f"{source.catalog}.{source.schema_}": source_schema,
            f"{anonymized.catalog}.{anonymized.schema_}": {
                sp: list(SP_ANONYMIZED_SCHEMA),
                developers: list(DEVELOPERS_FINAL_SCHEMA),
            },
            staging: {sp: list(SP_ANONYMIZED_SCHEMA)},
        },
        "volume": {
            f"{staging}.{ARTIFACTS_VOLUME}": {sp: list(SP_ARTIFACTS_VOLUME)},
            f"{staging}.{REPORTS_VOLUME}": {sp: list(SP_REPORTS_VOLUME)},
        },
    }


def allowlist_for(config: settings.EnvironmentConfig, contract: Contract | None = None) -> dict[str, Any]:
    """The allowlist of ``config``'s stack as plain JSON data (``policies/stack_rules.py`` reads it stdlib-only).

    ``contract`` is needed only with ``column_masks`` (which functions the policies may name)."""
    principals = config.principals
    secret = config.secret
    resource_types = set(RESOURCE_TYPES)
    if secret.key_in_state:
        resource_types |= KEY_IN_STATE_RESOURCE_TYPES
    masks: dict[str, Any] | None = None
    if config.column_masks is not None:
        if contract is None:
            raise ColumnMaskError("column_masks: the allowlist needs the data contract to know the masked columns")
        plan = column_mask_plan(config, contract)
        resource_types.add("databricks_policy_info")
        source = config.catalogs.source
        masks = {
            "securable": f"{source.catalog}.{source.schema_}",
            "functions": sorted(set(plan.functions.values())),
            "except_principals": plan.exceptions,
            "to_principals": ["account users"],
        }
    return {
        "stack": config.stack_name,
        "environment": config.environment,
        "host": config.databricks.host.rstrip("/"),
        "production_workspace_id": str(config.databricks.production_workspace_id),
        "service_principal": principals.job_service_principal,
        "grants": _securable_grants(config),
        # No owner may be declared: the deploying identity owns what it creates (README "Security").
        "owners": [],
        "secret": {
            "scope": secret.scope,
            "key": secret.key,
            "acl": {principals.job_service_principal: "READ"},
            "key_in_state": secret.key_in_state,
            "key_in_state_acknowledged": secret.key_in_state_acknowledged,
        },
        "job_acl": dict(job_acl(principals)),
        "code_volume": volume_root(config, ARTIFACTS_VOLUME),
        "workspace_bindings": {
            config.catalogs.anonymized.catalog: {
                "workspace_id": str(config.databricks.development_workspace_id),
                "binding_type": "BINDING_TYPE_READ_ONLY",
            }
        },
        "resource_types": sorted(resource_types),
        "data_source_types": sorted(DATA_SOURCE_TYPES),
        "providers": sorted(PROVIDERS),
        "module_sources": list(MODULE_SOURCES),
        "column_masks": masks,
    }
