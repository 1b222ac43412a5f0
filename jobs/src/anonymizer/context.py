"""Everything one job step needs, built the same way for every CLI command and wheel entry point.

Locally the step gets a LocalRuntime over the lakehouse folder and a key from ``ANONYMIZER_KEY`` or a key
file; on Databricks (``--runtime databricks``) it gets the cluster's session, real UC names and the key from
the secret scope named by the job parameters. Catalog/schema overrides (per environment, set by the stack)
are applied here; the contract hash is always that of the reviewed file, before overrides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from anonymizer.contract import Contract, load_contract

if TYPE_CHECKING:
    from anonymizer.journal import Journal
    from anonymizer.keys import Keyring
    from anonymizer.runtime import Runtime


@dataclass
class Options:
    """Parsed common options (CLI flags or python_wheel_task named parameters)."""

    contract: str | None = None
    lakehouse: str = ".lakehouse"
    runtime: str = "local"
    source_catalog: str | None = None
    source_schema: str | None = None
    target_catalog: str | None = None
    target_schema: str | None = None
    staging_schema: str | None = None
    secret_scope: str | None = None
    secret_key: str | None = None
    key_file: str | None = None
    run_id: str | None = None
    report_dir: str | None = None
    rotate_key: bool = False
    as_of: str | None = None  # run date YYYY-MM-DD for release windows (default: today, UTC)
    extra: dict[str, object] = field(default_factory=dict)


def apply_overrides(contract: Contract, opts: Options) -> Contract:
    """Return the contract with per-environment catalog/schema names (never changes classification)."""
    source = contract.source.model_copy(
        update={k: v for k, v in {"catalog": opts.source_catalog, "schema_": opts.source_schema}.items() if v}
    )
    target = contract.target.model_copy(
        update={
            k: v
            for k, v in {
                "catalog": opts.target_catalog,
                "schema_": opts.target_schema,
                "staging_schema": opts.staging_schema,
            }.items()
            if v
        }
    )
    return contract.model_copy(update={"source": source, "target": target})


@dataclass
class Context:
    opts: Options
    contract: Contract  # with overrides applied
    contract_sha256: str  # of the reviewed contract, before overrides
    runtime: Runtime
    _keyring: Keyring | None = None
    journal: Journal | None = None  # shared by the steps of one process

    @property
    def keyring(self) -> Keyring:
        """Load the key lazily: the gate and the report never need it."""
        if self._keyring is None:
            self._keyring = load_keyring(self.opts, self.lakehouse)
        return self._keyring

    @property
    def lakehouse(self) -> Path:
        return Path(self.opts.lakehouse).resolve()


def default_key_file(lakehouse: Path) -> Path:
    return lakehouse / "anonymizer.key"


def load_keyring(opts: Options, lakehouse: Path) -> Keyring:
    """The key from the secret scope (Databricks), ANONYMIZER_KEY, --key-file, or the lakehouse key file."""
    from anonymizer.keys import Keyring

    if opts.runtime == "databricks":
        from anonymizer.runtime import databricks_secret

        if not (opts.secret_scope and opts.secret_key):
            raise ValueError("--secret-scope and --secret-key are required with --runtime databricks")
        return Keyring.from_text(databricks_secret(opts.secret_scope, opts.secret_key).decode("utf-8").strip())
    if os.environ.get("ANONYMIZER_KEY"):
        return Keyring.from_text(os.environ["ANONYMIZER_KEY"])
    path = Path(opts.key_file) if opts.key_file else default_key_file(lakehouse)
    return Keyring.from_file(path)


def build_context(opts: Options) -> Context:
    reviewed = load_contract(opts.contract)
    contract = apply_overrides(reviewed, opts)
    runtime: Runtime
    if opts.runtime == "databricks":
        from pyspark.sql import SparkSession

        from anonymizer.runtime import DatabricksRuntime

        runtime = DatabricksRuntime(SparkSession.builder.getOrCreate())
    elif opts.runtime == "local":
        from anonymizer.lakehouse import lakehouse_dir, local_spark
        from anonymizer.runtime import LocalRuntime

        runtime = LocalRuntime(local_spark(), lakehouse_dir(opts.lakehouse))
    else:
        raise ValueError(f"unknown runtime '{opts.runtime}': use local or databricks")
    return Context(opts=opts, contract=contract, contract_sha256=reviewed.digest(), runtime=runtime)
