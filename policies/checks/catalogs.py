"""Catalog isolation and workspace bindings: production data must stay in the production workspace.

An OPEN catalog is visible from every workspace attached to the metastore, development included. ISOLATED
catalogs are bound automatically to the workspace that creates them (production), and the provider
documents that binding that workspace explicitly breaks ``terraform destroy`` (provider #5300). So every
*explicit* binding in a stack targets another, non-production workspace; the rules below therefore allow
explicit bindings only for the anonymized copy, and only read-only.
"""

from __future__ import annotations

from collections.abc import Iterable

from checkov.common.models.enums import CheckCategories

try:
    from policies.checks._check import DbxCheck, Resource
    from policies.checks._naming import ANONYMIZED_CATALOG_SUFFIX, is_anonymized_catalog
except ModuleNotFoundError:  # inside checkov: only this directory is on sys.path
    from _check import DbxCheck, Resource  # type: ignore[no-redef]
    from _naming import ANONYMIZED_CATALOG_SUFFIX, is_anonymized_catalog  # type: ignore[no-redef]

BINDINGS = ("databricks_workspace_binding", "databricks_catalog_workspace_binding")


def _bound_catalog(resource: Resource) -> tuple[bool, str | None]:
    """(is a catalog binding, resolved catalog name). The legacy resource names it ``catalog_name``."""
    conf = resource.conf
    if str(conf.get("securable_type", "catalog")).lower() != "catalog":
        return False, None
    raw = conf.get("securable_name", conf.get("catalog_name"))
    return True, resource.stack.resolve(raw)


class CatalogIsolated(DbxCheck):
    """CKV_DBX_1: an OPEN catalog is readable from every workspace on the metastore, development too."""

    check_id = "CKV_DBX_1"
    title = "Unity Catalog catalogs are ISOLATED (bound to chosen workspaces only)"
    resource_types = ("databricks_catalog",)
    category = CheckCategories.NETWORKING

    def violations(self, resource: Resource) -> Iterable[str]:
        mode = resource.conf.get("isolation_mode")
        if mode != "ISOLATED":
            yield f"isolation_mode is {mode or 'unset (OPEN)'}; set ISOLATED"


class BindingReadOnly(DbxCheck):
    """CKV_DBX_2: a workspace bound to a catalog must not write to it (BINDING_TYPE_READ_ONLY)."""

    check_id = "CKV_DBX_2"
    title = "Catalog workspace bindings are BINDING_TYPE_READ_ONLY"
    resource_types = BINDINGS
    category = CheckCategories.NETWORKING

    def violations(self, resource: Resource) -> Iterable[str] | None:
        is_catalog, _ = _bound_catalog(resource)
        if not is_catalog:
            return None  # read-only bindings exist for catalogs only
        binding_type = resource.conf.get("binding_type")
        if binding_type != "BINDING_TYPE_READ_ONLY":
            return [f"binding_type is {binding_type or 'unset (BINDING_TYPE_READ_WRITE)'}; set BINDING_TYPE_READ_ONLY"]
        return []


class OnlyAnonymizedCatalogBound(DbxCheck):
    """CKV_DBX_3: only the anonymized copy may be bound to another (non-production) workspace."""

    check_id = "CKV_DBX_3"
    title = f"Only anonymized catalogs (*{ANONYMIZED_CATALOG_SUFFIX}) are bound to other workspaces"
    resource_types = BINDINGS
    category = CheckCategories.NETWORKING

    def violations(self, resource: Resource) -> Iterable[str] | None:
        is_catalog, catalog = _bound_catalog(resource)
        if not is_catalog:
            return None
        if catalog is None:
            return ["the bound catalog cannot be resolved, so it may be the source catalog"]
        if not is_anonymized_catalog(catalog):
            return [
                f"catalog {catalog} is source data (its name does not end in {ANONYMIZED_CATALOG_SUFFIX}) "
                "and is bound to a non-production workspace"
            ]
        return []


catalog_isolated = CatalogIsolated()
binding_read_only = BindingReadOnly()
only_anonymized_catalog_bound = OnlyAnonymizedCatalogBound()
