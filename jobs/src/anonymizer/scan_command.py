"""``anonymizer scan --table catalog.schema.table``: the pipeline's content scan, on any table.

Why a command: a team can scan a new source *before* writing its contract (or a published table after a
change) and get, per column, the identifier patterns found with their rate and a masked example, plus a
suggested contract entry (:func:`anonymizer.classify.suggest`) that takes the findings into account. Exit 10
when anything is found above the threshold; nothing is written anywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import yaml

from anonymizer.classify import suggest
from anonymizer.content_scan import SCANNED_FAMILIES, ScanTarget, contract_needles, scan
from anonymizer.context import Context
from anonymizer.errors import IdentifiersFound, UsageError
from anonymizer.runtime import LiveColumn, RuntimeError_, split_name
from anonymizer.scan_settings import ColumnScan
from anonymizer.sqltypes import parse_type


def _contract_table(ctx: Context, uc_name: str) -> str | None:
    """The contract table a UC name is the source, staging or target of (its column settings apply)."""
    for table in ctx.contract.tables:
        c = ctx.contract
        if uc_name in (c.source_name(table), c.staging_name(table), c.target_name(table)):
            return table
    return None


def scan_command(  # noqa: C901 - argument checks, then scan, then print: split in a later clean-up
    args: argparse.Namespace, ctx: Context, emit: Callable[[str], None]
) -> int:
    runtime, contract = ctx.runtime, ctx.contract
    wanted = [c.strip() for c in (args.columns or "").split(",") if c.strip()]
    targets: list[ScanTarget] = []
    settings: dict[tuple[str, str], ColumnScan] = {}
    live_columns: dict[str, list[LiveColumn]] = {}
    for name in args.table:
        try:
            split_name(name)
        except RuntimeError_ as exc:
            raise UsageError(str(exc), fix="pass --table catalog.schema.table") from None
        if not runtime.exists(name):
            raise UsageError(f"table {name} does not exist", fix="pass an existing catalog.schema.table")
        live = runtime.columns(name)
        live_columns[name] = live
        scannable = [c.name for c in live if parse_type(c.type).family in SCANNED_FAMILIES]
        if wanted:
            unknown = sorted(set(wanted) - {c.name for c in live})
            if unknown and len(args.table) == 1:
                raise UsageError(f"{name} has no column(s) {', '.join(unknown)}", fix="check --columns")
            scannable = [c for c in scannable if c in wanted]
        targets.append(ScanTarget(name, runtime.read(name), tuple(scannable)))
        table = _contract_table(ctx, name)
        if table is not None:
            for c_name, col in contract.tables[table].columns.items():
                if col.scan is not None:
                    settings[(name, c_name)] = col.scan
    defaults = contract.settings.scan
    if args.sample_rows:
        defaults = defaults.model_copy(update={"sample_rows": max(1_000, int(args.sample_rows))})
    needles, from_columns = None, list[str]()
    sources_exist = all(runtime.exists(contract.source_name(t)) for t in contract.tables)
    if not args.no_source_values and sources_exist:
        needles, from_columns = contract_needles(runtime, contract)
    result = scan(runtime.spark, targets, needles=needles, defaults=defaults, column_settings=settings)
    for table, fraction in result.fractions.items():
        cols = result.sampled.get(table, {})
        emit(f"{table}: sampled {fraction:.2%} of rows, {len(cols)} column(s)")
    if from_columns:
        emit(f"source values of {len(from_columns)} direct-identifier column(s): {', '.join(from_columns)}")
    for finding in result.findings:
        emit("  " + finding.render())
    if not result.findings:
        emit("no identifiers found (a clean column's 95% bound on the true rate is 3 / sampled values)")
        return 0
    doc: dict[str, dict[str, dict[str, object]]] = {}
    notes = []
    for name, live in live_columns.items():
        keys = runtime.key_metadata(name)
        key_cols = [c.name for c in live if c.name in keys.primary_key]
        for live_col in live:
            rates = {f.pattern: f.rate for f in result.findings if f.table == name and f.column == live_col.name}
            if rates:
                entry = suggest(split_name(name)[2], live_col, keys, key_cols, rates)
                notes.append(f"# {entry.pop('review')}")
                doc.setdefault(split_name(name)[2], {})[live_col.name] = entry
    emit("suggested contract entries for the columns with findings (review every line):")
    for line in (
        notes + yaml.safe_dump({"tables": {t: {"columns": c} for t, c in doc.items()}}, sort_keys=False).splitlines()
    ):
        emit("  " + line)
    blocking = result.blocking
    if blocking:
        raise IdentifiersFound(
            f"identifiers found in {len(blocking)} column/pattern(s) of {', '.join(args.table)}",
            fix="anonymize these columns in the contract (see the suggested entries) or acknowledge them with a reason",
        )
    return 0
