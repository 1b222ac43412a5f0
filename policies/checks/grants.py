"""Unity Catalog grants: one authoritative declaration per securable, and least privilege per principal.

``databricks_grants`` replaces every grant on its securable that the code does not declare, so a review of
the code is a review of who can read production. ``databricks_grant`` (one principal, additive) and the
legacy ``databricks_sql_permissions`` leave undeclared grants in place, and two ``databricks_grants`` on one
securable overwrite each other on every apply. The principal rules use the naming contract of ``_naming``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

try:
    from policies.checks._check import DbxCheck, Resource
    from policies.checks._hcl import blocks, strings
    from policies.checks._naming import (
        DEVELOPER_READ_PRIVILEGES,
        OWNERSHIP_PRIVILEGES,
        is_admins,
        is_all_users,
        is_anonymized_catalog,
        is_developers,
        is_staging_schema,
    )
    from policies.checks._stack import CATALOG_SCOPED, Securable
except ModuleNotFoundError:  # inside checkov: only this directory is on sys.path
    from _check import DbxCheck, Resource  # type: ignore[no-redef]
    from _hcl import blocks, strings  # type: ignore[no-redef]
    from _naming import (  # type: ignore[no-redef]
        DEVELOPER_READ_PRIVILEGES,
        OWNERSHIP_PRIVILEGES,
        is_admins,
        is_all_users,
        is_anonymized_catalog,
        is_developers,
        is_staging_schema,
    )
    from _stack import CATALOG_SCOPED, Securable  # type: ignore[no-redef]

GRANT_RESOURCES = ("databricks_grants", "databricks_grant")


@dataclass(frozen=True)
class Grant:
    """One principal's privileges; ``principal`` is resolved, or None when it is an unresolvable reference."""

    principal: str | None
    raw_principal: str
    privileges: frozenset[str]

    @property
    def who(self) -> str:
        return self.principal or f"{self.raw_principal} (unresolved)"


def grants_of(resource: Resource) -> list[Grant]:
    """The grant entries of a ``databricks_grants`` (``grant`` blocks) or a ``databricks_grant``."""
    entries = blocks(resource.conf, "grant") if resource.type == "databricks_grants" else [resource.conf]
    found = []
    for entry in entries:
        raw = entry.get("principal")
        if raw is None:
            continue
        found.append(Grant(resource.stack.resolve(raw), str(raw), frozenset(strings(entry.get("privileges")))))
    return found


def _developer_grants(resource: Resource) -> Iterator[tuple[Grant, Securable | None]]:
    securable = resource.stack.securable(resource.conf)
    for grant in grants_of(resource):
        if is_developers(grant.principal) and grant.privileges:
            yield grant, securable


def _in_anonymized_catalog(securable: Securable | None) -> bool:
    return securable is not None and is_anonymized_catalog(securable.catalog)


class GrantsAuthoritative(DbxCheck):
    """CKV_DBX_4: only databricks_grants (authoritative) may grant on catalogs and what is inside them."""

    check_id = "CKV_DBX_4"
    title = "Unity Catalog grants are authoritative: one databricks_grants per securable, no databricks_grant"
    resource_types = ("databricks_grants", "databricks_grant", "databricks_sql_permissions")

    def violations(self, resource: Resource) -> Iterable[str] | None:
        if resource.type == "databricks_sql_permissions":
            return ["legacy table ACLs (databricks_sql_permissions) bypass Unity Catalog; use databricks_grants"]
        securable = resource.stack.securable(resource.conf)
        if securable is None:
            return None
        if resource.type == "databricks_grant":
            if securable.kind in CATALOG_SCOPED:
                return [
                    f"databricks_grant on {securable.describe()} is additive: grants made outside the code "
                    "survive apply; declare all of them in one databricks_grants"
                ]
            return []
        return [
            f"databricks_grants.{other} is also authoritative for {securable.describe()}; "
            "the two overwrite each other on every apply: merge them"
            for other in self._duplicates(resource, securable)
        ]

    @staticmethod
    def _duplicates(resource: Resource, securable: Securable) -> list[str]:
        key = securable.full_name or resource.conf.get(securable.kind)
        others = []
        for name, conf in resource.stack.resources_of("databricks_grants").items():
            if name == resource.name or conf.get(securable.kind) is None:
                continue
            other = resource.stack.resolve(conf[securable.kind]) or conf[securable.kind]
            if other == key:
                others.append(name)
        return others


class NoGrantsToAllUsers(DbxCheck):
    """CKV_DBX_5: `users` / `account users` contain everyone, so a grant to them is a grant to all."""

    check_id = "CKV_DBX_5"
    title = "No Unity Catalog privilege is granted to all users (users, account users)"
    resource_types = GRANT_RESOURCES

    def violations(self, resource: Resource) -> Iterable[str]:
        for grant in grants_of(resource):
            if is_all_users(grant.principal) and grant.privileges:
                yield f"{grant.principal} (every identity) holds {sorted(grant.privileges)}"


class DevelopersOnlyInAnonymizedCatalog(DbxCheck):
    """CKV_DBX_6: developers get nothing outside the anonymized catalog, above all not on the source."""

    check_id = "CKV_DBX_6"
    title = "Developers hold no privilege outside the anonymized catalog (none on the source catalog)"
    resource_types = GRANT_RESOURCES

    def violations(self, resource: Resource) -> Iterable[str]:
        for grant, securable in _developer_grants(resource):
            if not _in_anonymized_catalog(securable):
                where = securable.describe() if securable else "an unknown securable"
                yield f"{grant.who} holds {sorted(grant.privileges)} on {where}, which is not anonymized data"


class DevelopersReadOnly(DbxCheck):
    """CKV_DBX_7: developers only read the anonymized copy; writes would diverge it from the job's output."""

    check_id = "CKV_DBX_7"
    title = "Developers hold only USE_CATALOG, USE_SCHEMA and SELECT on the anonymized catalog"
    resource_types = GRANT_RESOURCES

    def violations(self, resource: Resource) -> Iterable[str]:
        for grant, securable in _developer_grants(resource):
            extra = grant.privileges - DEVELOPER_READ_PRIVILEGES
            if _in_anonymized_catalog(securable) and extra and securable is not None:
                yield (
                    f"{grant.who} holds {sorted(extra)} on {securable.describe()}; allowed: "
                    f"{sorted(DEVELOPER_READ_PRIVILEGES)}"
                )


class DevelopersNotOnStaging(DbxCheck):
    """CKV_DBX_8: staging holds unchecked job output; catalog-level grants would reach it by inheritance."""

    check_id = "CKV_DBX_8"
    title = "Developers hold nothing on the staging schema, directly or inherited from the catalog"
    resource_types = GRANT_RESOURCES

    def violations(self, resource: Resource) -> Iterable[str]:
        for grant, securable in _developer_grants(resource):
            if not _in_anonymized_catalog(securable) or securable is None:
                continue  # CKV_DBX_6 covers every other securable
            if securable.kind == "catalog":
                inherited = grant.privileges - {"USE_CATALOG"}
                if inherited:
                    yield (
                        f"{grant.who} holds {sorted(inherited)} on {securable.describe()}: catalog "
                        "privileges are inherited by every schema, staging included; grant them on the "
                        "final schema"
                    )
            elif is_staging_schema(securable.schema):
                yield f"{grant.who} holds {sorted(grant.privileges)} on {securable.describe()} (staging)"


class OwnershipOnlyForAdmins(DbxCheck):
    """CKV_DBX_9: ALL_PRIVILEGES/MANAGE let the holder re-grant the data to anyone."""

    check_id = "CKV_DBX_9"
    title = "ALL_PRIVILEGES and MANAGE are granted only to admin groups (*admins)"
    resource_types = GRANT_RESOURCES

    def violations(self, resource: Resource) -> Iterable[str]:
        for grant in grants_of(resource):
            held = grant.privileges & OWNERSHIP_PRIVILEGES
            if held and not is_admins(grant.principal):
                yield f"{grant.who} holds {sorted(held)} but is not an admins group"


grants_authoritative = GrantsAuthoritative()
no_grants_to_all_users = NoGrantsToAllUsers()
developers_only_in_anonymized_catalog = DevelopersOnlyInAnonymizedCatalog()
developers_read_only = DevelopersReadOnly()
developers_not_on_staging = DevelopersNotOnStaging()
ownership_only_for_admins = OwnershipOnlyForAdmins()
