"""Everything one job step needs, built the same way for every CLI command and wheel entry point.

Locally the step gets a LocalRuntime over the lakehouse folder and a key from ``ANONYMIZER_KEY`` or a key
file; on Databricks (``--runtime databricks``) it gets the cluster's session, real UC names and the key from
the secret scope named by the job parameters. Catalog/schema overrides (per environment, set by the stack)
are applied here; the contract hash is always that of the reviewed file, before overrides.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from anonymizer.contract import Contract, load_contract
from anonymizer.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from anonymizer.journal import Journal
    from anonymizer.keys import Keyring
    from anonymizer.runtime import Runtime


# A run id names report files and journal rows: letters, digits, '.', '_', '-' only, so it can never be a
# path (no '/', no leading '.') or break out of a SQL literal. Databricks' {{job.run_id}} is numeric.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class Options:
    """Parsed common options (CLI flags or python_wheel_task named parameters), validated on creation."""

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
    allow_empty: bool = False
    as_of: str | None = None  # run date YYYY-MM-DD for release windows (default: today, UTC)

    def __post_init__(self) -> None:
        if self.run_id is not None:
            self.check_run_id(self.run_id, "--run-id")

    @staticmethod
    def check_run_id(value: str, flag: str) -> None:
        """Refuse a run id that could be a path or break quoting, before anything runs or locks."""
        if not RUN_ID_PATTERN.fullmatch(value):
            raise UsageError(
                f"{flag} {value[:80]!r} is not a valid run id",
                fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )


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
    # The Delta version of each source table this run's gate read (None: current versions, e.g. no gate yet).
    source_versions: dict[str, int] | None = None

    def read_source(self, table: str) -> DataFrame:
        """A source table as the run's gate saw it (:func:`anonymizer.tables.read_source`)."""
        from anonymizer.tables import read_source

        return read_source(self.runtime, self.contract, table, self.source_versions)

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
            raise UsageError(
                "--runtime databricks needs the key's secret scope and name",
                fix="pass --secret-scope and --secret-key",
            )
        return Keyring.from_text(databricks_secret(opts.secret_scope, opts.secret_key).decode("utf-8").strip())
    if os.environ.get("ANONYMIZER_KEY"):
        return Keyring.from_text(os.environ["ANONYMIZER_KEY"])
    path = Path(opts.key_file) if opts.key_file else default_key_file(lakehouse)
    check_key_file_mode(path)
    return Keyring.from_file(path)


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file that group or others may read or write, as ssh refuses such a private key."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # missing or unreadable: Keyring.from_file says so, with its own fix
    if mode & 0o077:
        raise UsageError(
            f"key file {path} is accessible by other users (mode {mode:04o}); it was not used",
            fix=f"run `chmod 600 {path}`",
        )


def build_context(opts: Options) -> Context:
    if opts.runtime == "local":
        from anonymizer.lakehouse import lakehouse_dir

        lakehouse_dir(opts.lakehouse)  # a bad --lakehouse fails before Spark starts
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
        raise UsageError(f"unknown runtime '{opts.runtime}'", fix="pass --runtime local or --runtime databricks")
    return Context(opts=opts, contract=contract, contract_sha256=reviewed.digest(), runtime=runtime)
