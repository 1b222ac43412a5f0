"""Per-environment configuration (``infra/config/<env>.yaml``), validated before any construct is built.

A stack built from a wrong config would be planned against production, so loading fails closed: every
problem is reported at once with the file, the line, the field and the fix, and nothing partial is returned.
The configuration is also checked against the data contract, because the job receives the catalog names as
parameters and the gate compares them with the contract packaged in its wheel, and against the naming contract
of the policies (``policies/checks/_naming.py``): the CKV_DBX rules recognise the developers group, the admins
group, the anonymized catalog and the staging schema by their names only, so a name they would misread (a
developers group called ``eng-team``) would let a dangerous grant pass the gate silently. Such names are
refused here, before synth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from anonymizer.contract import Contract
from anonymizer.sqlident import IDENTIFIER, NAME
from anonymizer.validation import FileProblem, InvalidFile, YamlDocument, parse_yaml, read_text
from anonymizer.validation import render as render_issue

# The policies' own naming rules (stdlib only, no checkov): one source of truth for both enforcers.
from policies.checks import _naming as naming

CONFIG_DIR = Path(__file__).resolve().parent / "config"

_IDENT = IDENTIFIER
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Groups that contain every identity of the account or workspace: granting them anything would let every
# user read production (source) or the anonymized copy outside the developers group.
FORBIDDEN_PRINCIPALS = naming.ALL_USERS_GROUPS

# Unity Catalog privileges (underscored, as the provider expects them); used to catch typos such as
# "USE CATALOG" or "USAGE" (Hive metastore) before Databricks rejects them at apply time.
SCHEMA_PRIVILEGES = frozenset(
    {
        "ALL_PRIVILEGES",
        "APPLY_TAG",
        "BROWSE",
        "CREATE_FUNCTION",
        "CREATE_MATERIALIZED_VIEW",
        "CREATE_MODEL",
        "CREATE_TABLE",
        "CREATE_VOLUME",
        "EXECUTE",
        "EXTERNAL_USE_SCHEMA",
        "MANAGE",
        "MODIFY",
        "READ_VOLUME",
        "REFRESH",
        "SELECT",
        "USE_SCHEMA",
        "WRITE_VOLUME",
    }
)
CATALOG_PRIVILEGES = SCHEMA_PRIVILEGES | {"USE_CATALOG", "CREATE_SCHEMA"}

Identifier = Annotated[str, Field(pattern=_IDENT)]
# A catalog's managed location: a cloud object-store URL with a bucket/container (no http, no DBFS, no blanks).
# Metastores created since late 2023 have no root storage, so a new catalog without one fails at apply.
STORAGE_ROOT_PATTERN = (
    r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]|abfss://[A-Za-z0-9-]+@[a-z0-9]+\.dfs\.core\.windows\.net"
    r"|gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(/[^\s]*)?$"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NamingContractError(ValueError):
    """A name the CKV_DBX policies would misread. Carries its own fix: the field description alone ("the
    account group of developers") does not say which naming rule the value breaks or how to satisfy it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _recognised_as_developers(value: str) -> str:
    if not naming.is_developers(value):
        raise NamingContractError(
            f"'{value}' would not be recognised as the developers group by the policies: CKV_DBX_6..8 and "
            f"CKV_DBX_20 treat a principal as developers only if its name contains '{naming.DEVELOPERS_MARKER}', "
            "so grants to this group (on production, on staging, write privileges) would pass the gate unchecked",
            f"use an account group of developers whose name contains '{naming.DEVELOPERS_MARKER}', "
            "e.g. medical-developers",
        )
    if naming.is_admins(value):
        raise NamingContractError(
            f"'{value}' is also recognised as an admins group by the policies (its name ends in "
            f"'{naming.ADMINS_SUFFIX}'), which may hold MANAGE and ALL_PRIVILEGES",
            f"use a developers group whose name does not end in '{naming.ADMINS_SUFFIX}', e.g. medical-developers",
        )
    return value


def _recognised_as_admins(value: str) -> str:
    if not naming.is_admins(value) or naming.is_developers(value):
        raise NamingContractError(
            f"'{value}' would not be recognised as an admins group by the policies: CKV_DBX_20 lets only a group "
            f"whose name ends in '{naming.ADMINS_SUFFIX}' and does not contain '{naming.DEVELOPERS_MARKER}' "
            "manage the job, so the gate would fail this stack",
            f"use the group of pipeline administrators, named '...{naming.ADMINS_SUFFIX}', e.g. data-platform-admins",
        )
    return value


class DatabricksSettings(_Model):
    host: str = Field(
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]+)?/?$",
        description="the production workspace URL, e.g. https://dbc-1234abcd-5678.cloud.databricks.com",
    )
    production_workspace_id: int = Field(
        gt=0, description="the numeric id of the production workspace (the ?o= value of its URL)"
    )
    development_workspace_id: int = Field(
        gt=0, description="the numeric id of the development workspace that reads the anonymized copy"
    )

    @model_validator(mode="after")
    def _distinct_workspaces(self) -> DatabricksSettings:
        if self.production_workspace_id == self.development_workspace_id:
            raise ValueError(
                "development_workspace_id equals production_workspace_id: the anonymized catalog would be "
                "bound to production only; set the id of the separate development workspace"
            )
        return self


class SourceLocation(_Model):
    catalog: Identifier = Field(description="the production catalog, e.g. medical")
    schema_: Identifier = Field(alias="schema", description="the production schema, e.g. visits")
    storage_root: str | None = Field(
        default=None,
        pattern=STORAGE_ROOT_PATTERN,
        description="the managed storage location of the production catalog (only with create_source_catalog)",
    )

    @field_validator("catalog")
    @classmethod
    def _not_anonymized(cls, value: str) -> str:
        if naming.is_anonymized_catalog(value):
            suffix = naming.ANONYMIZED_CATALOG_SUFFIX
            raise NamingContractError(
                f"'{value}' would be treated as the anonymized copy by the policies (its name ends in '{suffix}'): "
                "developers' grants on production and a binding of production to development would pass the "
                "gate unchecked (CKV_DBX_3, CKV_DBX_6)",
                f"name the production catalog without the '{suffix}' suffix",
            )
        return value


class AnonymizedLocation(_Model):
    catalog: Identifier = Field(description="the anonymized catalog, e.g. medical_anonymized")
    schema_: Identifier = Field(alias="schema", description="the final schema developers read, e.g. visits")
    staging_schema: Identifier = Field(description="the staging schema only the job writes, e.g. visits_staging")
    storage_root: str = Field(
        pattern=STORAGE_ROOT_PATTERN,
        description=(
            "the managed storage location of the new catalog (s3://bucket/path, abfss://container@account"
            ".dfs.core.windows.net/path or gs://bucket/path), covered by an external location the deployer may use"
        ),
    )

    @field_validator("catalog")
    @classmethod
    def _anonymized(cls, value: str) -> str:
        suffix = naming.ANONYMIZED_CATALOG_SUFFIX
        if not naming.is_anonymized_catalog(value):
            raise NamingContractError(
                f"'{value}' would be treated as source (production) data by the policies, which recognise the "
                f"anonymized catalog only by a name ending in '{suffix}': its binding to development "
                "(CKV_DBX_3) and the developers' read grants (CKV_DBX_6) would fail the gate",
                f"name the anonymized catalog '<name>{suffix}', e.g. medical{suffix} (with "
                "catalogs.override_contract: true if the data contract names it differently)",
            )
        return value

    @field_validator("schema_")
    @classmethod
    def _final_not_staging(cls, value: str) -> str:
        suffix = naming.STAGING_SCHEMA_SUFFIX
        if naming.is_staging_schema(value):
            raise NamingContractError(
                f"'{value}' would be treated as a staging schema by the policies (its name ends in '{suffix}'), "
                "so the developers' read grant on the final schema would fail the gate (CKV_DBX_8)",
                f"name the final schema without the '{suffix}' suffix, e.g. visits",
            )
        return value

    @field_validator("staging_schema")
    @classmethod
    def _staging(cls, value: str) -> str:
        suffix = naming.STAGING_SCHEMA_SUFFIX
        if not naming.is_staging_schema(value):
            raise NamingContractError(
                f"'{value}' would not be recognised as the staging schema by the policies, which protect only "
                f"schemas whose name ends in '{suffix}': a grant to developers on this unchecked job output "
                "would pass the gate (CKV_DBX_8)",
                f"name the staging schema '<final schema>{suffix}', e.g. visits{suffix}",
            )
        return value

    @model_validator(mode="after")
    def _distinct_schemas(self) -> AnonymizedLocation:
        if self.schema_ == self.staging_schema:
            raise ValueError("schema and staging_schema must differ: developers must never see staging")
        return self


class Catalogs(_Model):
    source: SourceLocation
    anonymized: AnonymizedLocation
    create_source_catalog: bool = Field(
        default=False,
        description="true only when this stack owns the production catalog (greenfield); false references it",
    )
    override_contract: bool = Field(
        default=False,
        description="true to deploy under catalog/schema names other than the contract's (test environments)",
    )

    @model_validator(mode="after")
    def _distinct_catalogs(self) -> Catalogs:
        if self.source.catalog == self.anonymized.catalog:
            raise ValueError("the anonymized catalog must differ from the source catalog: it is bound to development")
        if self.create_source_catalog and self.source.storage_root is None:
            raise ValueError(
                "create_source_catalog: true needs catalogs.source.storage_root (the production catalog's managed "
                "location); a catalog without one fails at apply on a metastore without root storage"
            )
        if not self.create_source_catalog and self.source.storage_root is not None:
            raise ValueError(
                "catalogs.source.storage_root is set but the stack only references the existing production "
                "catalog (create_source_catalog: false); remove it"
            )
        return self


class ProductionPrincipal(_Model):
    """A principal other than the job that may read production, declared so that no grant goes unreviewed."""

    principal: str = Field(min_length=1, description="a user name, group display name or SP application id")
    catalog_privileges: list[str] = Field(
        default_factory=lambda: ["USE_CATALOG"], description="privileges on the source catalog"
    )
    schema_privileges: list[str] = Field(
        default_factory=list, description="privileges on the source schema, e.g. [USE_SCHEMA, SELECT]"
    )
    reason: str = Field(min_length=1, description="why this principal may read production (kept for review)")

    @field_validator("principal")
    @classmethod
    def _not_everyone(cls, value: str) -> str:
        return _reject_everyone(value)

    @field_validator("catalog_privileges")
    @classmethod
    def _catalog_privileges(cls, value: list[str]) -> list[str]:
        return _check_privileges(value, CATALOG_PRIVILEGES)

    @field_validator("schema_privileges")
    @classmethod
    def _schema_privileges(cls, value: list[str]) -> list[str]:
        return _check_privileges(value, SCHEMA_PRIVILEGES)


class Principals(_Model):
    job_service_principal: str = Field(
        pattern=_UUID, description="the application id (a UUID) of the service principal the job runs as"
    )
    developers_group: str = Field(
        min_length=1,
        description=f"the account group of developers (its name must contain '{naming.DEVELOPERS_MARKER}')",
    )
    job_admins_group: str = Field(
        default="data-platform-admins",
        min_length=1,
        description=(
            f"the group that may edit the job and its permissions (CAN_MANAGE), named '...{naming.ADMINS_SUFFIX}'"
        ),
    )
    production_readers: list[ProductionPrincipal] = Field(
        default_factory=list,
        description="every other principal that may read the source catalog, with its privileges",
    )
    developers_view_job: bool = Field(
        default=False,
        description=(
            "true to give developers CAN_VIEW on the job; a workspace ACL needs the group assigned to the "
            "production workspace, which also lets developers sign in there, so it is off by default"
        ),
    )

    # Order matters: pydantic reports the first failing validator, and "contains every user" is the clearer
    # message for 'account users' than "not recognised as developers".
    @field_validator("developers_group")
    @classmethod
    def _developers(cls, value: str) -> str:
        return _recognised_as_developers(_reject_everyone(value))

    @field_validator("job_admins_group")
    @classmethod
    def _job_admins(cls, value: str) -> str:
        return _recognised_as_admins(_reject_everyone(value))

    @model_validator(mode="after")
    def _unique_principals(self) -> Principals:
        names = [p.principal for p in self.production_readers]
        if self.job_service_principal in names:
            raise ValueError("production_readers must not list the job's service principal (it is granted already)")
        if len(set(names)) != len(names):
            raise ValueError("production_readers lists a principal twice; merge its privileges into one entry")
        return self


class Notifications(_Model):
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        min_length=1, description="addresses mailed when a run fails (at least one)"
    )
    webhook_destination_ids: list[str] = Field(
        default_factory=list, description="ids of notification destinations (Slack, Teams, PagerDuty)"
    )


class Autoscale(_Model):
    min_workers: int = Field(ge=1)
    max_workers: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscale:
        if self.max_workers < self.min_workers:
            raise ValueError("max_workers must be >= min_workers")
        return self


class ClusterSettings(_Model):
    spark_version: str = Field(
        default="17.3.x-scala2.13", description="a Databricks Runtime key; 17.3 LTS is what the job is tested on"
    )
    node_type_id: str = Field(min_length=1, description="a node type of the cloud, e.g. i3.xlarge")
    num_workers: int | None = Field(default=None, ge=0)
    autoscale: Autoscale | None = None
    # SINGLE_USER is the classic name of dedicated access mode; DEDICATED is written as the API's
    # DATA_SECURITY_MODE_DEDICATED with kind CLASSIC_PREVIEW. Both run the cluster as the job's SP only.
    data_security_mode: Literal["SINGLE_USER", "DEDICATED"] = "SINGLE_USER"
    enable_local_disk_encryption: bool = Field(
        default=True, description="encrypts shuffle spill of production rows on the workers' local disks"
    )

    @model_validator(mode="after")
    def _one_size(self) -> ClusterSettings:
        if (self.num_workers is None) == (self.autoscale is None):
            raise ValueError("set exactly one of num_workers or autoscale {min_workers, max_workers}")
        return self


class Schedule(_Model):
    quartz_cron_expression: str = Field(
        description="a Quartz cron expression with seconds, e.g. '0 0 2 * * ?' (02:00 every day)"
    )
    timezone_id: str = Field(default="UTC", description="a Java time zone id, e.g. Europe/Berlin")
    paused: bool = Field(default=False, description="pause in production too (outside production it always is)")

    @field_validator("quartz_cron_expression")
    @classmethod
    def _quartz(cls, value: str) -> str:
        fields = value.split()
        if len(fields) not in (6, 7):
            raise ValueError(
                f"'{value}' has {len(fields)} fields; Quartz needs 6 or 7 (seconds minutes hours day-of-month "
                "month day-of-week [year]), e.g. '0 0 2 * * ?'"
            )
        if "?" not in (fields[3], fields[5]):
            raise ValueError("Quartz needs '?' in day-of-month or day-of-week, e.g. '0 0 2 * * ?'")
        return value


class Retries(_Model):
    max_retries: int = Field(default=2, ge=0, le=5)
    min_retry_interval_millis: int = Field(default=300_000, ge=0)


class JobSettings(_Model):
    name: str = Field(default="anonymize-medical-visits", min_length=1)
    cluster: ClusterSettings
    schedule: Schedule
    timeout_seconds: int = Field(default=4 * 3600, ge=600, description="the whole run's timeout")
    retries: Retries = Field(default_factory=Retries, description="for idempotent tasks only")


KEY_IN_STATE_SOURCES = frozenset({"generated", "variable"})


class SecretSettings(_Model):
    scope: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$", description="the secret scope name")
    key: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$", description="the secret key name")
    source: Literal["key-init", "generated", "variable"] = Field(
        default="key-init",
        description=(
            "key-init (default): Terraform declares scope and ACL only and `anonymizer key init` writes the key, "
            "so it never enters Terraform state; generated (random_password) and variable "
            "(TF_VAR_anonymization_key) put the key IN CLEAR TEXT IN THE STATE and in every saved plan, readable "
            "by anyone who can read either: they need key_in_state_acknowledged: true"
        ),
    )
    key_in_state_acknowledged: bool = Field(
        default=False,
        description=(
            "true only with source generated/variable, to acknowledge that the key sits in the Terraform state "
            "(the policy gate fails such a stack otherwise, CKV_DBX_26)"
        ),
    )
    generation: int = Field(
        default=1,
        ge=1,
        description="bump to rotate the generated key (every pseudonym in development changes)",
    )

    @property
    def key_in_state(self) -> bool:
        """True when Terraform writes the key (it is then in the state and in every saved plan)."""
        return self.source in KEY_IN_STATE_SOURCES

    @model_validator(mode="after")
    def _acknowledged_only_with_state(self) -> SecretSettings:
        if self.key_in_state_acknowledged and not self.key_in_state:
            raise ValueError(
                "key_in_state_acknowledged is true but source is key-init (the key is not in the state); remove it"
            )
        return self


_FUNCTION = rf"^{NAME}\.{NAME}\.{NAME}$"
MaskedClassification = Literal["direct_identifier", "quasi_identifier"]
COLUMN_FAMILIES = ("integer", "decimal", "floating", "string", "date", "timestamp", "boolean", "binary")


class ColumnMasks(_Model):
    """ABAC column masks on production (defence in depth): PII columns read masked by everyone but the job's
    SP and the declared production readers, whatever grants they hold."""

    mask_functions: dict[str, Annotated[str, Field(pattern=_FUNCTION)]] = Field(
        min_length=1,
        description=(
            "existing Unity Catalog masking functions by column type family (string, date, integer, ...), e.g. "
            "{string: medical.governance.mask_string}; each takes the column value and returns the same type"
        ),
    )
    classifications: list[MaskedClassification] = Field(
        default_factory=lambda: list[MaskedClassification](["direct_identifier"]),
        min_length=1,
        description="which contract classifications are masked (by their anonymization_class tag)",
    )

    @field_validator("mask_functions")
    @classmethod
    def _families(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(COLUMN_FAMILIES))
        if unknown:
            raise ValueError(f"unknown type families {unknown}; use {list(COLUMN_FAMILIES)}")
        return value


class S3Backend(_Model):
    type: Literal["s3"]
    bucket: str = Field(min_length=3)
    key: str = Field(min_length=1, description="the state object key, e.g. anonymizer/prod.tfstate")
    region: str = Field(min_length=1)
    encrypt: Literal[True] = Field(default=True, description="must stay true: the state holds the anonymization key")
    kms_key_id: str | None = None
    dynamodb_table: str | None = None
    use_lockfile: bool = Field(default=True, description="S3-native state locking (Terraform >= 1.10)")


class AzurermBackend(_Model):
    type: Literal["azurerm"]
    resource_group_name: str = Field(min_length=1)
    storage_account_name: str = Field(min_length=3)
    container_name: str = Field(min_length=3)
    key: str = Field(min_length=1, description="the state blob name, e.g. anonymizer/prod.tfstate")
    use_azuread_auth: bool = True


class RemoteBackend(_Model):
    type: Literal["remote"]
    hostname: str = "app.terraform.io"
    organization: str = Field(min_length=1)
    workspace: str = Field(min_length=1, description="the Terraform Cloud / Enterprise workspace name")


class LocalBackend(_Model):
    type: Literal["local"]
    path: str = "terraform.tfstate"


Backend = Annotated[S3Backend | AzurermBackend | RemoteBackend | LocalBackend, Field(discriminator="type")]


class EnvironmentConfig(_Model):
    """Everything that differs between environments; the rest comes from the data contract."""

    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$", description="equal to the file name, e.g. prod")
    production: bool = Field(description="true for production: only then is the schedule unpaused")
    databricks: DatabricksSettings
    catalogs: Catalogs
    principals: Principals
    notifications: Notifications
    job: JobSettings
    secret: SecretSettings
    backend: Backend
    column_masks: ColumnMasks | None = Field(
        default=None,
        description="optional ABAC column masks on the production PII columns (needs governed tags, DBR 16.4+)",
    )

    @property
    def stack_name(self) -> str:
        return f"anonymizer-{self.environment}"

    @property
    def schedule_paused(self) -> bool:
        """Only production runs on a schedule: a second environment must never race it for the source."""
        return self.job.schedule.paused or not self.production


def _reject_everyone(value: str) -> str:
    if naming.is_all_users(value):
        raise ValueError(f"'{value}' contains every user; name a dedicated group instead")
    return value


def _check_privileges(values: list[str], allowed: frozenset[str]) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        hint = ", ".join(sorted(allowed))
        raise ValueError(f"unknown privilege(s) {bad}; use underscored Unity Catalog privileges: {hint}")
    if len(set(values)) != len(values):
        raise ValueError("a privilege is listed twice")
    return values


@dataclass(frozen=True)
class ConfigIssue:
    line: int | None
    field: str
    message: str
    fix: str

    def render(self, file: str) -> str:
        return render_issue(file, self.line, self.field or "<file>", self.message, self.fix)


class ConfigError(InvalidFile[ConfigIssue]):
    """An environment config is invalid; ``issues`` lists every problem found, each with its fix (exit 2)."""

    kind = "environment config"


def _field_description(path: tuple[Any, ...]) -> str | None:
    """The description of the field at ``path``: it is the most useful fix for a wrong value."""
    model: Any = EnvironmentConfig
    info = None
    for part in path:
        if isinstance(part, int) or model is None or not isinstance(model, type):
            continue
        fields = getattr(model, "model_fields", {})
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            return None
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return info.description if info is not None else None


def _issues_from_validation(exc: ValidationError, doc: YamlDocument) -> Iterator[ConfigIssue]:
    for err in exc.errors():
        # Drop discriminator tags (backend.s3.bucket -> backend.bucket) and validator names from the path.
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and (p in {"s3", "azurerm", "remote", "local"} or p.startswith("function-")))
        )
        field = ".".join(str(p) for p in loc)
        description = _field_description(loc)
        error = err.get("ctx", {}).get("error")
        if isinstance(error, NamingContractError):
            fix = error.fix
        elif err["type"] == "missing":
            fix = f"add '{loc[-1]}'" + (f" ({description})" if description else "")
        elif err["type"] == "extra_forbidden":
            fix = f"remove '{loc[-1]}' (unknown field) or correct its spelling"
        elif description:
            fix = f"set {description}"
        else:
            fix = "change the value as the message says"
        message = err["msg"].removeprefix("Value error, ")
        yield ConfigIssue(doc.line(loc), field, message, fix)


def parse_config(text: str, file: str, *, allow_local_backend: bool = False) -> EnvironmentConfig:
    """Validate config text. ``allow_local_backend`` exists for tests: state on local disk is unencrypted."""
    try:
        doc = parse_yaml(text)
    except FileProblem as exc:
        raise ConfigError(file, [ConfigIssue(exc.line, "", exc.message, exc.fix)]) from None
    duplicates = [
        ConfigIssue(d.line, ".".join(map(str, d.path)), f"duplicate key '{d.path[-1]}'", "list each key once")
        for d in doc.duplicates
    ]
    if duplicates:  # YAML would silently keep the last value: a reviewer would read the first
        raise ConfigError(file, duplicates)
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(
            file, [ConfigIssue(1, "", "the config is not a YAML mapping", "start from infra/config/prod.yaml")]
        )
    try:
        config = EnvironmentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, list(_issues_from_validation(exc, doc))) from None
    issues: list[ConfigIssue] = []
    stem = Path(file).stem
    if config.environment != stem:
        issues.append(
            ConfigIssue(
                doc.line(("environment",)),
                "environment",
                f"'{config.environment}' differs from the file name '{stem}'",
                f"set environment: {stem} or rename the file",
            )
        )
    if config.backend.type == "local" and not allow_local_backend:
        issues.append(
            ConfigIssue(
                doc.line(("backend", "type")),
                "backend.type",
                "a local backend keeps the state, which holds the anonymization key, unencrypted on one disk",
                "use an encrypted remote backend: s3, azurerm or remote",
            )
        )
    if issues:
        raise ConfigError(file, issues)
    return config


def check_against_contract(config: EnvironmentConfig, contract: Contract, file: str) -> None:
    """Refuse catalog names that differ from the contract's unless the config says it overrides them.

    The job receives the config's names as parameters; a silent mismatch would tag one catalog and read
    another, and the gate would fail every run.
    """
    if config.catalogs.override_contract:
        return
    expected = {
        "catalogs.source.catalog": (config.catalogs.source.catalog, contract.source.catalog),
        "catalogs.source.schema": (config.catalogs.source.schema_, contract.source.schema_),
        "catalogs.anonymized.catalog": (config.catalogs.anonymized.catalog, contract.target.catalog),
        "catalogs.anonymized.schema": (config.catalogs.anonymized.schema_, contract.target.schema_),
        "catalogs.anonymized.staging_schema": (
            config.catalogs.anonymized.staging_schema,
            contract.target.staging_schema,
        ),
    }
    issues = [
        ConfigIssue(
            None,
            field,
            f"'{got}' differs from the data contract's '{want}'",
            f"set '{want}', or set catalogs.override_contract: true to deploy under other names",
        )
        for field, (got, want) in expected.items()
        if got != want
    ]
    if issues:
        raise ConfigError(file, issues)


def load_config(
    path: str | Path, contract: Contract | None = None, *, allow_local_backend: bool = False
) -> EnvironmentConfig:
    """Load one environment file; with ``contract``, also check the catalog names against it."""
    p = Path(path)
    try:
        text = read_text(p, missing_fix="create it from infra/config/prod.yaml")
    except FileProblem as exc:
        raise ConfigError(str(p), [ConfigIssue(exc.line, "", exc.message, exc.fix)]) from None
    config = parse_config(text, str(p), allow_local_backend=allow_local_backend)
    if contract is not None:
        check_against_contract(config, contract, str(p))
    return config


def config_files(config_dir: Path = CONFIG_DIR) -> list[Path]:
    """Every environment file, sorted so the stacks are synthesized in a stable order."""
    return sorted(p for p in config_dir.glob("*.yaml") if p.is_file()) + sorted(
        p for p in config_dir.glob("*.yml") if p.is_file()
    )
