"""The naming contract the policies rely on to tell source from anonymized data and developers from admins.

A synthesized stack carries no "this is production" flag, so the rules read roles from names, and every
unknown name is treated as the dangerous case (fail closed):

* a catalog is the **anonymized copy** only if its name ends in ``_anonymized``; every other catalog is
  treated as **source** (production) data. ``infra/config/prod.yaml`` names them ``medical`` and
  ``medical_anonymized``, as the data contract does.
* a schema is **staging** if its name ends in ``_staging`` (``visits_staging``): the job writes and checks
  tables there before promoting them, so developers must not read it.
* a principal is a **developers** group if its name contains ``developer`` (``medical-developers``).
* a principal is an **admins** group if its name ends in ``admins`` (``admins``, ``metastore-admins``).
* ``users``, ``account users`` and ``all users`` contain every identity of the workspace or account.

Stdlib only: checkov executes this file too, and ``infra/settings.py`` imports it to refuse, before synth, any
config name these rules would misread (a developers group named ``eng-team`` would make CKV_DBX_6..8 pass
silently). One rule, two enforcers: change it here and the config validation follows.
"""

from __future__ import annotations

ANONYMIZED_CATALOG_SUFFIX = "_anonymized"
STAGING_SCHEMA_SUFFIX = "_staging"
DEVELOPERS_MARKER = "developer"
ADMINS_SUFFIX = "admins"
ALL_USERS_GROUPS = frozenset({"users", "account users", "all users"})
# What developers may hold inside the anonymized catalog: enough to query the final tables, nothing that
# writes, changes grants or reads files under the tables.
DEVELOPER_READ_PRIVILEGES = frozenset({"USE_CATALOG", "USE_SCHEMA", "SELECT"})
# Privileges that hand over the securable: they include granting to others.
OWNERSHIP_PRIVILEGES = frozenset({"ALL_PRIVILEGES", "MANAGE"})


def is_anonymized_catalog(name: str | None) -> bool:
    return bool(name) and str(name).endswith(ANONYMIZED_CATALOG_SUFFIX)


def is_staging_schema(name: str | None) -> bool:
    return bool(name) and str(name).endswith(STAGING_SCHEMA_SUFFIX)


def is_all_users(principal: str | None) -> bool:
    return principal is not None and principal.strip().lower() in ALL_USERS_GROUPS


def is_developers(principal: str | None) -> bool:
    return principal is not None and DEVELOPERS_MARKER in principal.lower()


def is_admins(principal: str | None) -> bool:
    return principal is not None and principal.strip().lower().endswith(ADMINS_SUFFIX)
