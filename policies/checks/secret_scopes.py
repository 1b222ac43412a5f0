"""Secret values and secret scope ACLs (the anonymization key lives in a secret scope).

Not named ``secrets.py``: checkov imports this file as a top-level module and would shadow the stdlib
``secrets`` for the rest of its run.
"""

from __future__ import annotations

from collections.abc import Iterable

from checkov.common.models.enums import CheckCategories

try:
    from policies.checks._check import DbxCheck, Resource
    from policies.checks._naming import is_all_users
    from policies.checks._stack import reference_target
except ModuleNotFoundError:  # inside checkov: only this directory is on sys.path
    from _check import DbxCheck, Resource  # type: ignore[no-redef]
    from _naming import is_all_users  # type: ignore[no-redef]
    from _stack import reference_target  # type: ignore[no-redef]


class SecretValueNotLiteral(DbxCheck):
    """CKV_DBX_10: a literal secret is in git forever; it must come from a resource or an input variable."""

    check_id = "CKV_DBX_10"
    title = "Secret values come from a resource or variable reference, never a literal"
    resource_types = ("databricks_secret",)
    category = CheckCategories.SECRETS

    def violations(self, resource: Resource) -> Iterable[str] | None:
        value = resource.conf.get("string_value")
        if value is None:
            return None
        target = reference_target(value) if isinstance(value, str) else None
        if target is None:
            # Never echo the value: the report ends up in CI logs and SARIF.
            return [
                "string_value is a literal (or mixes literal text into a reference); reference a "
                "random_password result or a variable without default"
            ]
        mode, _, name, _ = target
        if mode == "var" and resource.stack.variable_default(name)[0]:
            return [f"string_value comes from variable {name}, whose default is a literal in the code"]
        if mode == "local":
            return [f"string_value comes from local {name}, a value written in the code"]
        return []


class SecretAclReadOnly(DbxCheck):
    """CKV_DBX_11: WRITE/MANAGE on the scope would let a reader replace the key or grant it onwards."""

    check_id = "CKV_DBX_11"
    title = "Secret scope ACLs grant READ only"
    resource_types = ("databricks_secret_acl",)
    category = CheckCategories.SECRETS

    def violations(self, resource: Resource) -> Iterable[str]:
        permission = resource.conf.get("permission")
        if permission != "READ":
            yield f"permission is {permission}; grant READ"


class SecretAclNotAllUsers(DbxCheck):
    """CKV_DBX_12: the anonymization key in everyone's hands lets anyone re-identify the pseudonyms."""

    check_id = "CKV_DBX_12"
    title = "Secret scope ACLs are never granted to all users"
    resource_types = ("databricks_secret_acl",)
    category = CheckCategories.SECRETS

    def violations(self, resource: Resource) -> Iterable[str]:
        principal = resource.stack.resolve(resource.conf.get("principal"))
        if is_all_users(principal):
            yield f"the scope is readable by {principal} (every identity)"


secret_value_not_literal = SecretValueNotLiteral()
secret_acl_read_only = SecretAclReadOnly()
secret_acl_not_all_users = SecretAclNotAllUsers()
