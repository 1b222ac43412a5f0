"""Allowlist rules: everything in a synthesized stack must be something its environment config declares.

The CKV_DBX checkov rules recognise danger by name (``users``, ``*admins``, ``developer``); these rules
recognise safety by identity. ``infra/allowlist.py`` derives, from ``infra/config/<env>.yaml``, which principal
may hold which privilege on which securable, who may read the secret scope, who may see or manage the job,
where code may come from and which resource types may exist; anything else in ``cdk.tf.json`` fails, whatever
its name. A value that cannot be resolved statically (a variable, an expression, ``for_each``, a ``dynamic``
block, ``each.value``) fails with a message saying so: "not proven allowed" is not allowed.

Why not checkov checks: these rules need the whole document (outputs, locals, modules, providers, every
reference to the key), which checkov's ``terraform_json`` runner does not hand a resource check, and they need
the allowlist, which lives outside the stack (a stack that carried its own allowlist could grant itself
anything). ``policies.scan`` runs them on every stack, like the backend rule (CKV_DBX_19), and merges them
into the same reports. Stdlib only, so checkov's venv could import it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from policies.checks._stack import SECURABLE_ARGS, StackDocument

TITLES = {
    "CKV_DBX_21": "Every Unity Catalog grant is declared in the environment config (allowlist)",
    "CKV_DBX_22": "No owner is declared on any securable (the deploying identity owns what it creates)",
    "CKV_DBX_23": "Secret scopes and their ACLs are exactly the config's: the job's service principal alone reads",
    "CKV_DBX_24": "Workspace ACLs and identities are exactly the config's (job ACL, run_as, cluster user)",
    "CKV_DBX_25": "The anonymization key is referenced nowhere but in its databricks_secret",
    "CKV_DBX_26": "The key stays out of Terraform state unless the config acknowledges it",
    "CKV_DBX_27": "No exfiltration path: only allowlisted resource types, providers, modules, code and bindings",
    "CKV_DBX_28": "Every resource is static: no for_each, count or dynamic block",
}
STACK_RULE_IDS = tuple(TITLES)

_RANDOM_TYPES = ("random_password", "random_string", "random_bytes", "random_id")
_INTERPOLATION = re.compile(r"\$\{(.*?)\}", re.DOTALL)
_SECRET_REFERENCE = re.compile(r"\{\{\s*secrets/", re.IGNORECASE)
_ITERATION_KEYS = ("for_each", "count", "dynamic")
_TASK_KINDS = (
    "notebook_task",
    "spark_python_task",
    "spark_jar_task",
    "spark_submit_task",
    "pipeline_task",
    "sql_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "power_bi_task",
    "dashboard_task",
    "gen_ai_compute_task",
)
_LIBRARY_KINDS = ("whl", "jar", "egg", "pypi", "maven", "cran", "requirements")
_CLUSTER_FORBIDDEN = {
    "init_scripts": "an init script runs arbitrary code on the production-reading cluster",
    "docker_image": "a container image is code from outside the declared volume",
    "cluster_mount_info": "a network mount exposes the cluster's data outside Unity Catalog",
}
# Why a resource type outside the allowlist is dangerous (the default reason covers the rest).
_TYPE_REASONS = {
    "databricks_sql_table": "a view or table can expose the source outside the job's service principal",
    "databricks_table": "a view or table can expose the source outside the job's service principal",
    "databricks_share": "a Delta share exposes tables outside the metastore",
    "databricks_recipient": "a share recipient receives data outside the metastore",
    "databricks_external_location": "an external location exposes cloud storage outside Unity Catalog grants",
    "databricks_storage_credential": "a storage credential reaches cloud storage outside Unity Catalog grants",
    "databricks_credential": "a credential reaches cloud storage or services outside Unity Catalog grants",
    "databricks_connection": "a connection federates data to or from another system",
    "databricks_global_init_script": "a workspace init script runs code on every cluster, the job's too",
    "databricks_instance_profile": "an instance profile gives clusters cloud access outside Unity Catalog",
    "databricks_notebook": "a notebook is code outside the declared volume",
    "databricks_workspace_file": "a workspace file is code outside the declared volume",
    "databricks_repo": "a repo is code outside the declared volume",
    "databricks_cluster": "a cluster outside the job can be attached to and read what the job reads",
    "databricks_grant": "an additive grant leaves undeclared access in place",
    "databricks_secret": "a secret value set by Terraform sits in clear text in the state",
    "random_password": "a generated key sits in clear text in the state",
}


@dataclass(frozen=True)
class Violation:
    """One rule broken at one place of a stack (a resource address, ``output.x``, ``module.x`` or ``stack``)."""

    check_id: str
    address: str
    message: str


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _resources(document: dict[str, Any], section: str = "resource") -> Iterator[tuple[str, str, dict[str, Any]]]:
    for type_, by_name in (document.get(section) or {}).items():
        if type_ == "//" or not isinstance(by_name, dict):
            continue
        for name, conf in by_name.items():
            if name != "//" and isinstance(conf, dict):
                yield type_, name, {k: v for k, v in conf.items() if k != "//"}


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, string) of every string inside ``value`` (keys of "//" metadata excluded)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "//":
                yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


class _Rules:
    """Evaluates every allowlist rule on one stack document."""

    def __init__(self, document: dict[str, Any], allow: dict[str, Any]) -> None:
        self.document = document
        self.stack = StackDocument(document)
        self.allow = allow
        self.found: list[Violation] = []

    def add(self, check_id: str, address: str, message: str) -> None:
        self.found.append(Violation(check_id, address, message))

    def resolve(self, value: Any) -> str | None:
        return self.stack.resolve(value)

    # CKV_DBX_21 -----------------------------------------------------------------------------------------
    def grants(self) -> None:
        allowed_by_kind: dict[str, dict[str, dict[str, list[str]]]] = self.allow.get("grants", {})
        declared: dict[tuple[str, str], list[str]] = {}
        for type_ in ("databricks_grants", "databricks_grant"):
            for name, conf in self.stack.resources_of(type_).items():
                address = f"{type_}.{name}"
                securable = self.stack.securable(conf)
                if securable is None:
                    self.add("CKV_DBX_21", address, "names no securable (catalog, schema, volume, ...)")
                    continue
                if securable.full_name is None:
                    self.add(
                        "CKV_DBX_21",
                        address,
                        f"its {securable.kind} ({conf.get(securable.kind)}) cannot be resolved statically, so the "
                        "grant cannot be matched against the config; name the securable by a literal or a "
                        "reference to a resource of this stack",
                    )
                    continue
                if type_ == "databricks_grants":
                    declared.setdefault((securable.kind, securable.full_name), []).append(name)
                allowed = allowed_by_kind.get(securable.kind, {}).get(securable.full_name)
                if allowed is None:
                    self.add(
                        "CKV_DBX_21",
                        address,
                        f"{securable.describe()} is not a securable the config grants on; only "
                        + ", ".join(f"{k} {n}" for k, names in sorted(allowed_by_kind.items()) for n in sorted(names)),
                    )
                    continue
                for problem in _iteration(conf):
                    self.add("CKV_DBX_21", address, f"{problem}: its principals cannot be checked before apply")
                entries = _blocks(conf.get("grant")) if type_ == "databricks_grants" else [conf]
                for entry in entries:
                    self._grant_entry(address, securable.describe(), entry, allowed)
        for kind, names in sorted(allowed_by_kind.items()):
            for full_name in sorted(names):
                if (kind, full_name) not in declared:
                    self.add(
                        "CKV_DBX_21",
                        "stack",
                        f"no databricks_grants declares the grants on {kind} {full_name}: grants made outside "
                        "Terraform would stay in place",
                    )

    def _grant_entry(self, address: str, where: str, entry: dict[str, Any], allowed: dict[str, list[str]]) -> None:
        raw = entry.get("principal")
        principal = self.resolve(raw)
        if principal is None:
            self.add(
                "CKV_DBX_21",
                address,
                f"principal {raw} on {where} cannot be resolved (a variable, expression or for_each value): "
                "write the principal from the config as a literal",
            )
            return
        privileges: set[str] = set()
        raw_privileges = entry.get("privileges")
        for value in raw_privileges if isinstance(raw_privileges, list) else [raw_privileges]:
            resolved = self.resolve(value)
            if resolved is None:
                self.add("CKV_DBX_21", address, f"a privilege of {principal} on {where} cannot be resolved ({value})")
            else:
                privileges.add(resolved)
        if principal not in allowed:
            self.add(
                "CKV_DBX_21",
                address,
                f"{principal} holds {sorted(privileges)} on {where} but the config grants it nothing there "
                f"(allowed principals: {sorted(allowed)})",
            )
            return
        extra = privileges - set(allowed[principal])
        if extra:
            self.add(
                "CKV_DBX_21",
                address,
                f"{principal} holds {sorted(extra)} on {where} beyond the config's {sorted(allowed[principal])}",
            )

    def column_masks(self) -> None:
        """ABAC masks: an extra exception or another function reads production unmasked."""
        allowed = self.allow.get("column_masks")
        for name, conf in self.stack.resources_of("databricks_policy_info").items():
            address = f"databricks_policy_info.{name}"
            if allowed is None:
                continue  # the type is not allowlisted: CKV_DBX_27 fails it
            if self.resolve(conf.get("policy_type")) != "POLICY_TYPE_COLUMN_MASK" or conf.get("row_filter"):
                self.add("CKV_DBX_21", address, "only the config's column masks are declared (no row filter)")
            securable = self.resolve(conf.get("on_securable_fullname"))
            if securable != allowed["securable"]:
                self.add("CKV_DBX_21", address, f"the mask is on {securable}, not the source schema")
            to = [self.resolve(v) for v in conf.get("to_principals") or []]
            if to != allowed["to_principals"]:
                self.add("CKV_DBX_21", address, f"to_principals {to} must be {allowed['to_principals']}")
            for raw in conf.get("except_principals") or []:
                principal = self.resolve(raw)
                if principal not in allowed["except_principals"]:
                    self.add(
                        "CKV_DBX_21",
                        address,
                        f"except_principals lets {principal or str(raw) + ' (unresolved)'} read production "
                        f"unmasked; only {allowed['except_principals']} may",
                    )
            for mask in _blocks(conf.get("column_mask")):
                function = self.resolve(mask.get("function_name"))
                if function not in allowed["functions"]:
                    self.add("CKV_DBX_21", address, f"mask function {function} is not one of the config's")

    # CKV_DBX_22 -----------------------------------------------------------------------------------------
    def owners(self) -> None:
        allowed = set(self.allow.get("owners", []))
        for type_, name, conf in _resources(self.document):
            if "owner" not in conf:
                continue
            owner = self.resolve(conf["owner"])
            if owner is None or owner not in allowed:
                shown = owner if owner is not None else f"{conf['owner']} (unresolved)"
                self.add(
                    "CKV_DBX_22",
                    f"{type_}.{name}",
                    f"owner is {shown}: an owner holds every privilege and can grant it onwards; declare no owner "
                    "(the deploying identity keeps ownership)",
                )

    # CKV_DBX_23 -----------------------------------------------------------------------------------------
    def secrets(self) -> None:
        secret = self.allow.get("secret", {})
        scope_name = secret.get("scope")
        acl: dict[str, str] = secret.get("acl", {})
        for name, conf in self.stack.resources_of("databricks_secret_scope").items():
            address = f"databricks_secret_scope.{name}"
            resolved = self.resolve(conf.get("name"))
            if resolved != scope_name:
                self.add(
                    "CKV_DBX_23", address, f"scope {resolved or conf.get('name')} is not the config's {scope_name}"
                )
            if conf.get("initial_manage_principal") is not None:
                self.add(
                    "CKV_DBX_23",
                    address,
                    f"initial_manage_principal {conf['initial_manage_principal']} gets MANAGE on the scope (with "
                    "'users', every user reads the key); omit it",
                )
            if conf.get("keyvault_metadata") is not None or conf.get("backend_type") not in (None, "DATABRICKS"):
                self.add("CKV_DBX_23", address, "a Key Vault-backed scope is governed outside this stack")
        for name, conf in self.stack.resources_of("databricks_secret_acl").items():
            address = f"databricks_secret_acl.{name}"
            scope = self.resolve(conf.get("scope"))
            principal = self.resolve(conf.get("principal"))
            permission = self.resolve(conf.get("permission"))
            if scope != scope_name:
                self.add("CKV_DBX_23", address, f"ACL on scope {scope or conf.get('scope')}, not the config's")
            if principal is None:
                self.add("CKV_DBX_23", address, f"principal {conf.get('principal')} cannot be resolved")
            elif acl.get(principal) != permission:
                self.add(
                    "CKV_DBX_23",
                    address,
                    f"{principal} gets {permission} on the key's scope; only the job's service principal may "
                    f"(READ): {sorted(acl.items())}",
                )
        for name, conf in self.stack.resources_of("databricks_secret").items():
            scope, key = self.resolve(conf.get("scope")), self.resolve(conf.get("key"))
            if (scope, key) != (scope_name, secret.get("key")):
                self.add("CKV_DBX_23", f"databricks_secret.{name}", f"secret {scope}/{key} is not the config's key")

    # CKV_DBX_24 -----------------------------------------------------------------------------------------
    def workspace_acls(self) -> None:
        job_acl: dict[str, str] = self.allow.get("job_acl", {})
        sp = self.allow.get("service_principal")
        jobs = self.stack.resources_of("databricks_job")
        for name, conf in self.stack.resources_of("databricks_permissions").items():
            address = f"databricks_permissions.{name}"
            job_id = conf.get("job_id")
            target = _reference(job_id)
            if target is None or target[0] != "databricks_job" or target[1] not in jobs:
                objects = [k for k in conf if k.endswith("_id") or k.endswith("_path") or k == "authorization"]
                self.add(
                    "CKV_DBX_24",
                    address,
                    f"permissions on {', '.join(objects) or 'an unknown object'}: the config declares an ACL for "
                    "the job of this stack only",
                )
                continue
            for problem in _iteration(conf):
                self.add("CKV_DBX_24", address, f"{problem}: its principals cannot be checked before apply")
            for entry in _blocks(conf.get("access_control")):
                kinds = [k for k in ("group_name", "user_name", "service_principal_name") if entry.get(k) is not None]
                if len(kinds) != 1:
                    self.add("CKV_DBX_24", address, f"an access_control entry names {len(kinds)} principals")
                    continue
                principal = self.resolve(entry[kinds[0]])
                level = self.resolve(entry.get("permission_level"))
                if principal is None:
                    self.add("CKV_DBX_24", address, f"principal {entry[kinds[0]]} cannot be resolved")
                elif job_acl.get(principal) != level or kinds[0] != "group_name":
                    self.add(
                        "CKV_DBX_24",
                        address,
                        f"{kinds[0]} {principal} holds {level} on the job; the config allows {sorted(job_acl.items())}",
                    )
        for name, conf in jobs.items():
            address = f"databricks_job.{name}"
            run_as = next(iter(_blocks(conf.get("run_as"))), {})
            runner = self.resolve(run_as.get("service_principal_name"))
            if runner != sp:
                self.add("CKV_DBX_24", address, f"runs as {runner or run_as or 'its owner'}, not the config's SP {sp}")
            for where, spec in _cluster_specs(conf):
                user = spec.get("single_user_name")
                if user is not None and self.resolve(user) != sp:
                    self.add("CKV_DBX_24", address, f"{where}: single_user_name {user} is not the job's SP")

    # CKV_DBX_25 / 26 ------------------------------------------------------------------------------------
    def key_material(self) -> None:
        key_vars = self._key_variables()
        patterns = [rf"\b{t}\.[A-Za-z0-9_-]+" for t in _RANDOM_TYPES]
        patterns += [rf"\bvar\.{re.escape(v)}\b" for v in key_vars]
        patterns.append(r"\bdatabricks_secret\.[A-Za-z0-9_-]+\.(string_value|config_reference)\b")
        patterns.append(r"\bdata\.databricks_secret\b")
        tainted_locals = self._tainted_locals(patterns)
        patterns += [rf"\blocal\.{re.escape(name)}\b" for name in tainted_locals]
        key_ref = re.compile("|".join(f"(?:{p})" for p in patterns))
        for section, where, path, text in self._every_string():
            if section == "resource" and where.startswith("databricks_secret.") and path == "string_value":
                continue  # the one home of the key
            if section in ("variable", "locals"):
                continue  # declarations; their uses are what is checked
            expressions = " ".join(_INTERPOLATION.findall(text))
            if key_ref.search(expressions):
                self.add(
                    "CKV_DBX_25",
                    where,
                    f"{path or 'value'} references the anonymization key (or its generator): the key may live "
                    "only in its databricks_secret",
                )
            elif _SECRET_REFERENCE.search(text):
                self.add(
                    "CKV_DBX_25",
                    where,
                    f"{path or 'value'} holds a {{{{secrets/...}}}} reference: the secret would be resolved into "
                    "cluster configuration readable by any code on it; the job reads the key itself",
                )
        secret = self.allow.get("secret", {})
        for type_ in ("databricks_secret", *_RANDOM_TYPES):
            for name in self.stack.resources_of(type_):
                if not secret.get("key_in_state"):
                    self.add(
                        "CKV_DBX_26",
                        f"{type_}.{name}",
                        "puts a key value into the Terraform state (and every saved plan); the config's "
                        "secret.source is key-init: `anonymizer key init` writes the key",
                    )
                elif not secret.get("key_in_state_acknowledged"):
                    self.add(
                        "CKV_DBX_26",
                        f"{type_}.{name}",
                        "the key sits in clear text in the Terraform state; set secret.key_in_state_acknowledged: "
                        "true after reviewing who can read the state, or use secret.source: key-init",
                    )

    def _key_variables(self) -> set[str]:
        names = {
            n for n, v in (self.document.get("variable") or {}).items() if isinstance(v, dict) and v.get("sensitive")
        }
        for _, conf in self.stack.resources_of("databricks_secret").items():
            for found in re.findall(r"\bvar\.([A-Za-z0-9_-]+)", str(conf.get("string_value", ""))):
                names.add(found)
        return names

    def _tainted_locals(self, patterns: list[str]) -> set[str]:
        local_values = self.document.get("locals") or {}
        tainted: set[str] = set()
        for _ in range(len(local_values) + 1):
            current = patterns + [rf"\blocal\.{re.escape(n)}\b" for n in tainted]
            regex = re.compile("|".join(f"(?:{p})" for p in current))
            grown = {
                name
                for name, value in local_values.items()
                if any(regex.search(" ".join(_INTERPOLATION.findall(text))) for _, text in _strings(value))
            }
            if grown <= tainted:
                break
            tainted |= grown
        return tainted

    def _every_string(self) -> Iterator[tuple[str, str, str, str]]:
        """(section, address, attribute path, text) of every string in the document."""
        for section in ("resource", "data"):
            for type_, name, conf in _resources(self.document, section):
                prefix = "data." if section == "data" else ""
                for path, text in _strings(conf):
                    yield section, f"{prefix}{type_}.{name}", path, text
        for section in ("output", "module", "provider", "variable", "locals"):
            for name, value in (self.document.get(section) or {}).items():
                if name == "//":
                    continue
                for path, text in _strings(value):
                    yield section, f"{section}.{name}", path, text

    # CKV_DBX_27 -----------------------------------------------------------------------------------------
    def exfiltration(self) -> None:  # noqa: C901 - a flat list of refused paths reads as the policy
        allowed_types = set(self.allow.get("resource_types", []))
        for type_, name, _ in _resources(self.document):
            if type_ not in allowed_types:
                reason = _TYPE_REASONS.get(type_, "the config declares no such resource")
                self.add("CKV_DBX_27", f"{type_}.{name}", f"{type_} is not allowlisted: {reason}")
        allowed_data = set(self.allow.get("data_source_types", []))
        for type_, name, _ in _resources(self.document, "data"):
            if type_ not in allowed_data:
                self.add("CKV_DBX_27", f"data.{type_}.{name}", f"data source {type_} is not allowlisted")
        self._providers_and_modules()
        code_volume = str(self.allow.get("code_volume", "")).rstrip("/") + "/"
        for name, conf in self.stack.resources_of("databricks_job").items():
            self._job(f"databricks_job.{name}", conf, code_volume)
        for name, conf in self.stack.resources_of("databricks_file").items():
            path = self.resolve(conf.get("path"))
            if path is None or not path.startswith(code_volume):
                self.add(
                    "CKV_DBX_27", f"databricks_file.{name}", f"file {path or conf.get('path')} is outside {code_volume}"
                )
        bindings: dict[str, dict[str, str]] = self.allow.get("workspace_bindings", {})
        for name, conf in self.stack.resources_of("databricks_workspace_binding").items():
            catalog = self.resolve(conf.get("securable_name"))
            expected = bindings.get(catalog or "")
            actual = {
                "workspace_id": self.resolve(conf.get("workspace_id")),
                "binding_type": self.resolve(conf.get("binding_type")),
            }
            if expected is None or actual != expected or self.resolve(conf.get("securable_type")) != "catalog":
                self.add(
                    "CKV_DBX_27",
                    f"databricks_workspace_binding.{name}",
                    f"binds {catalog or conf.get('securable_name')} to workspace {actual['workspace_id']} "
                    f"({actual['binding_type']}); the config binds only {bindings}",
                )
        for type_ in ("databricks_catalog", "databricks_volume"):
            for name, conf in self.stack.resources_of(type_).items():
                for key in ("connection_name", "provider_name", "share_name", "storage_location"):
                    if conf.get(key) is not None:
                        self.add("CKV_DBX_27", f"{type_}.{name}", f"{key} is set: data outside managed storage")
                if type_ == "databricks_volume" and self.resolve(conf.get("volume_type")) != "MANAGED":
                    self.add("CKV_DBX_27", f"{type_}.{name}", "an EXTERNAL volume exposes cloud storage")

    def _providers_and_modules(self) -> None:
        allowed = set(self.allow.get("providers", []))
        host = self.allow.get("host")
        for name, configs in (self.document.get("provider") or {}).items():
            if name not in allowed:
                self.add("CKV_DBX_27", f"provider.{name}", f"provider {name} is not allowlisted")
                continue
            if name == "databricks":
                for conf in _blocks(configs):
                    configured = self.resolve(conf.get("host"))
                    if configured is None or configured.rstrip("/") != host:
                        self.add(
                            "CKV_DBX_27",
                            "provider.databricks",
                            f"host {configured or conf.get('host')} is not the configured production workspace {host}",
                        )
        sources = set(self.allow.get("module_sources", []))
        for name, conf in (self.document.get("module") or {}).items():
            if name != "//" and (not isinstance(conf, dict) or conf.get("source") not in sources):
                source = conf.get("source") if isinstance(conf, dict) else conf
                self.add("CKV_DBX_27", f"module.{name}", f"module source {source} is not allowlisted")

    def _job(self, address: str, conf: dict[str, Any], code_volume: str) -> None:  # noqa: C901 - one check per job field, in the provider's order
        for key in ("git_source", "environment", "notebook_task", "spark_python_task", "spark_jar_task"):
            if conf.get(key) is not None:
                self.add("CKV_DBX_27", address, f"{key}: code from outside {code_volume}")
        for task in _blocks(conf.get("task")):
            where = f"task {task.get('task_key')}"
            for kind in _TASK_KINDS:
                if task.get(kind) is not None:
                    self.add("CKV_DBX_27", address, f"{where}: a {kind} runs code from outside {code_volume}")
            if task.get("environment_key") is not None or task.get("existing_cluster_id") is not None:
                self.add("CKV_DBX_27", address, f"{where}: runs outside the job cluster this stack declares")
            for library in _blocks(task.get("library")):
                for kind in _LIBRARY_KINDS:
                    if library.get(kind) is None:
                        continue
                    path = self.resolve(library[kind]) if kind == "whl" else None
                    if path is None or not path.startswith(code_volume):
                        self.add(
                            "CKV_DBX_27",
                            address,
                            f"{where}: {kind} library {path or library[kind]} is not in the declared volume "
                            f"{code_volume}",
                        )
        for where, spec in _cluster_specs(conf):
            for key, reason in _CLUSTER_FORBIDDEN.items():
                if spec.get(key):
                    self.add("CKV_DBX_27", address, f"{where}: {key}: {reason}")
            for attributes in ("aws_attributes", "gcp_attributes", "azure_attributes"):
                for block in _blocks(spec.get(attributes)):
                    for key in ("instance_profile_arn", "google_service_account"):
                        if block.get(key):
                            self.add(
                                "CKV_DBX_27",
                                address,
                                f"{where}: {attributes}.{key} gives the cluster cloud access outside Unity Catalog",
                            )

    # CKV_DBX_28 -----------------------------------------------------------------------------------------
    def static(self) -> None:
        for section in ("resource", "data"):
            for type_, name, conf in _resources(self.document, section):
                for problem in _iteration(conf):
                    prefix = "data." if section == "data" else ""
                    self.add(
                        "CKV_DBX_28",
                        f"{prefix}{type_}.{name}",
                        f"{problem}: what it declares is known only at apply; write each instance out "
                        "(cdktf iterators emit for_each and dynamic)",
                    )


def _iteration(conf: dict[str, Any]) -> list[str]:
    """Why ``conf`` is not static: meta-arguments or ``dynamic`` blocks (at any depth)."""
    problems = [f"{key} is set" for key in ("for_each", "count") if key in conf]
    for path, _ in _strings(conf):
        if ".dynamic." in f".{path}." or path.startswith("dynamic."):
            problems.append("a dynamic block generates nested blocks")
            break
    if "dynamic" in conf and not any("dynamic" in p for p in problems):
        problems.append("a dynamic block generates nested blocks")
    return problems


def _reference(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\$\{([A-Za-z0-9_]+)\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_]+\}", value.strip())
    return (match.group(1), match.group(2)) if match else None


def _cluster_specs(conf: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for spec in _blocks(conf.get("new_cluster")):
        yield "new_cluster", spec
    for cluster in _blocks(conf.get("job_cluster")):
        for spec in _blocks(cluster.get("new_cluster")):
            yield f"job_cluster {cluster.get('job_cluster_key')}", spec
    for task in _blocks(conf.get("task")):
        for spec in _blocks(task.get("new_cluster")):
            yield f"task {task.get('task_key')}", spec


def evaluate(document: dict[str, Any], allow: dict[str, Any] | None, stack: str = "") -> list[Violation]:
    """Every allowlist violation of one stack; without an allowlist the stack fails as a whole."""
    if allow is None:
        return [
            Violation(
                "CKV_DBX_21",
                "stack",
                f"no environment config produces stack {stack or '<unknown>'}: the gate cannot tell what it may "
                "grant; add infra/config/<env>.yaml or remove the stack",
            )
        ]
    rules = _Rules(document, allow)
    rules.grants()
    rules.column_masks()
    rules.owners()
    rules.secrets()
    rules.workspace_acls()
    rules.key_material()
    rules.exfiltration()
    rules.static()
    unique = list(dict.fromkeys(rules.found))
    return sorted(unique, key=lambda v: (int(v.check_id.rsplit("_", 1)[1]), v.address, v.message))


__all__ = ["SECURABLE_ARGS", "STACK_RULE_IDS", "TITLES", "Violation", "evaluate"]
