"""``anonymizer classify``: a suggested contract for live source tables that have none yet.

Part of the job (not the dev tools) because it reads live tables through the runtime adapter, so it also runs
against Unity Catalog with ``--runtime databricks``. Every guess is marked for review.
"""

from __future__ import annotations

import yaml

from anonymizer.classify import suggest
from anonymizer.contract import Contract
from anonymizer.errors import UsageError
from anonymizer.runtime import LocalRuntime, Runtime


def suggest_contract(runtime: Runtime, contract: Contract, only: str | None = None) -> str:
    """YAML of suggested column entries for live source tables (every guess marked for review)."""
    src = contract.source
    if isinstance(runtime, LocalRuntime):
        tables = runtime.list_tables(src.catalog, src.schema_)
    else:
        rows = runtime.sql(f"SHOW TABLES IN `{src.catalog}`.`{src.schema_}`").collect()
        tables = sorted(r["tableName"] for r in rows)
    if only:
        tables = [t for t in tables if t == only.split(".")[-1]]
        if not tables:
            raise UsageError(
                f"--table {only}: no such table in {src.catalog}.{src.schema_}",
                fix="pass the name of an existing source table, or omit --table",
            )
    doc: dict[str, object] = {}
    notes: list[str] = []
    for table in tables:
        name = f"{src.catalog}.{src.schema_}.{table}"
        live = runtime.columns(name)
        keys = runtime.key_metadata(name)
        key_cols = [c.name for c in live if c.name in keys.primary_key] or [
            c.name for c in live if c.name.endswith("_id")
        ]
        entries = {c.name: suggest(table, c, keys, key_cols) for c in live}
        notes += [f"# {e.pop('review')}" for e in entries.values()]
        doc[table] = {"primary_key": list(keys.primary_key) or key_cols[:1], "columns": entries}
    return "\n".join(notes) + "\n" + yaml.safe_dump({"tables": doc}, sort_keys=False)
