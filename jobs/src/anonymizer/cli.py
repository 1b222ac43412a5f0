"""``anonymizer``: the command line and the wheel entry points of the job.

Every job step is a subcommand and a console script (``anonymizer-gate`` ...), so a Databricks
``python_wheel_task`` and a local shell run the same code. Options accept both ``--source-catalog`` and the
``--source_catalog=`` form that ``python_wheel_task.named_parameters`` produces.

Each command takes only the flags it uses. The Databricks job passes one set of named parameters to every
task (runtime, catalog/schema overrides, secret scope/key, run id, report folder), so every wheel step accepts
that set; step-specific flags (``--rotate-key``, ``--allow-empty``) exist only where they act. The local
development commands (``generate``, ``demo``, ``load``, ``bench``) live in the dev tools package
(``tools/``, not in the wheel) and join this CLI through the ``anonymizer.commands`` entry points.

Exit codes come from :mod:`anonymizer.errors`: ``main`` maps only :class:`AnonymizerError` (one line: cause
and fix); anything else is a bug, reported as exit 1 without a trace unless ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Protocol

from anonymizer import __version__, key_init
from anonymizer.context import Context, Options, build_context
from anonymizer.errors import AnonymizerError, Busy, ExitCode, RolledBack, UsageError, exit_codes_epilog
from anonymizer.pipeline import (
    StepLog,
    anonymize_step,
    check_step,
    gate_step,
    journal_for,
    new_run_id,
    promote_step,
    report_dir,
    rollback_after_failure,
    rollback_to_run,
    scan_step,
)
from anonymizer.risk_step import risk_step

DESCRIPTION = (
    "Anonymize Unity Catalog tables as a reviewed data contract says: gate, anonymize, check, promote, "
    "rollback and report, one command per job step."
)
ENTRY_POINT_GROUP = "anonymizer.commands"
DEV_COMMANDS = ("generate", "demo", "load", "bench")

# Option groups a command can take (besides the base group every command but bench has).
KEY = "key"  # --secret-scope, --secret-key, --key-file
RUN_ID = "run-id"
REPORT = "report-dir"
ROTATE = "rotate-key"
EMPTY = "allow-empty"
AS_OF = "as-of"  # the run date that decides which event rows are released (anonymizer.release)
TASK = (KEY, RUN_ID, REPORT)  # the named parameters the Databricks job passes to every task


def _opt(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """Add ``--a-b`` with the ``--a_b`` alias used by python_wheel_task named parameters."""
    flags = [f"--{name}"] + ([f"--{name.replace('-', '_')}"] if "-" in name else [])
    parser.add_argument(*flags, **kwargs)  # type: ignore[arg-type]  # kwargs are argparse's own keywords


def add_base(parser: argparse.ArgumentParser) -> None:
    """Where the contract, the lakehouse and the tables are: every command but ``bench`` takes these."""
    _opt(parser, "contract", help="contract YAML (default: the contract packaged in the wheel)")
    _opt(parser, "lakehouse", default=".lakehouse", help="local lakehouse folder (default .lakehouse)")
    _opt(parser, "runtime", default="local", choices=["local", "databricks"], help="where the job runs")
    for name in ("source-catalog", "source-schema", "target-catalog", "target-schema", "staging-schema"):
        _opt(parser, name, help=f"override the contract's {name.replace('-', ' ')} (per environment)")


def add_group(parser: argparse.ArgumentParser, group: str) -> None:
    if group == KEY:
        _opt(parser, "secret-scope", help="Databricks secret scope holding the key")
        _opt(parser, "secret-key", help="Databricks secret key name")
        _opt(parser, "key-file", help="local key file (default <lakehouse>/anonymizer.key; or set ANONYMIZER_KEY)")
    elif group == RUN_ID:
        _opt(parser, "run-id", help="job run id shared by the steps of one run (default: new)")
    elif group == REPORT:
        _opt(parser, "report-dir", help="where reports and the suggested contract patch go")
    elif group == ROTATE:
        _opt(parser, "rotate-key", action="store_true", help="allow a key different from the last published run's")
    elif group == EMPTY:
        _opt(parser, "allow-empty", action="store_true", help="do not fail the gate on an empty source table")
    elif group == AS_OF:
        _opt(parser, "as-of", help="run date YYYY-MM-DD for release windows (default: today in UTC)")
    else:
        raise ValueError(f"unknown option group {group!r}")


def options(args: argparse.Namespace) -> Options:
    names = Options.__dataclass_fields__
    return Options(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def progress(text: str) -> None:
    print(text, flush=True)


def run_id_for(ctx: Context) -> str:
    return ctx.opts.run_id or new_run_id()


def _step(fn: Callable[[Context, str, StepLog], object]) -> Callable[[argparse.Namespace], int]:
    """A single job step as a command: on any failure but Busy, this run's lock is released."""

    def run(args: argparse.Namespace) -> int:
        ctx = build_context(options(args))
        run_id = run_id_for(ctx)
        progress(f"{fn.__name__.replace('_step', '')}: run {run_id}")
        try:
            fn(ctx, run_id, StepLog(progress))
        except Busy:
            raise  # never release another run's lock
        except BaseException:
            with contextlib.suppress(Exception):
                journal_for(ctx).release(run_id)
            raise
        return ExitCode.OK

    run.__name__ = fn.__name__
    return run


def _gate(ctx: Context, run_id: str, log: StepLog) -> object:
    return gate_step(ctx, run_id, log, allow_empty=ctx.opts.allow_empty)


_gate.__name__ = "gate_step"


def write_run_report(ctx: Context, run_id: str, log: StepLog | None = None) -> dict[str, object]:
    from anonymizer.report import build_report, write_report

    journal = journal_for(ctx)
    report = build_report(
        ctx.contract, ctx.contract_sha256, run_id, journal.events(run_id), log.durations if log else None
    )
    json_path, md_path = write_report(report, report_dir(ctx))
    progress(f"report: {json_path} and {md_path}")
    return report


def cmd_report(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    run_id = ctx.opts.run_id
    if not run_id:
        last = journal_for(ctx).last_committed()
        if last is None:
            raise UsageError("no run to report on", fix="pass --run-id")
        run_id = last.run_id
    write_run_report(ctx, run_id)
    return ExitCode.OK


def run_pipeline(ctx: Context, run_id: str, log: StepLog, *, allow_empty: bool = False) -> dict[str, object]:
    """gate -> anonymize -> check -> promote in one process; any failure leaves final tables as they were."""
    ctx.keyring.fingerprint()  # a missing or malformed key fails now, before the lock or any read
    try:
        gate_step(ctx, run_id, log, allow_empty=allow_empty)
        anonymize_step(ctx, run_id, log)
        check_step(ctx, run_id, log)
        risk_step(ctx, run_id, log)
        scan_step(ctx, run_id, log)
        promote_step(ctx, run_id, log)
    except BaseException:
        with contextlib.suppress(RolledBack):
            rollback_after_failure(ctx, run_id, StepLog(progress))
        try:
            write_run_report(ctx, run_id, log)
        except Exception as exc:  # the report must never hide why the run failed
            print(f"warning: no report for run {run_id} ({type(exc).__name__})", file=sys.stderr)
        raise
    return write_run_report(ctx, run_id, log)


def cmd_run(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    run_id = run_id_for(ctx)
    progress(
        f"run {run_id}: {ctx.contract.source.catalog}.{ctx.contract.source.schema_} -> "
        f"{ctx.contract.target.catalog}.{ctx.contract.target.schema_}"
    )
    report = run_pipeline(ctx, run_id, StepLog(progress), allow_empty=ctx.opts.allow_empty)
    progress(f"run {run_id}: {report['status']}")
    return ExitCode.OK


def cmd_rollback(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    if args.to_run:
        Options.check_run_id(args.to_run, "--to-run")
    versions = rollback_to_run(ctx, args.to_run, StepLog(progress))
    progress(f"rolled back {len(versions)} tables")
    return ExitCode.OK


def cmd_unlock(args: argparse.Namespace) -> int:
    """Release the run lock, but only when its holder is dead (or with --force, on the user's word)."""
    ctx = build_context(options(args))
    journal = journal_for(ctx)
    holder = journal.lock_holder()
    if not holder.get("holder"):
        progress("the lock is free; nothing to release")
        return ExitCode.OK
    if journal.holder_alive(holder) and not args.force:
        raise Busy(
            f"run {holder.get('holder')!r} (host {holder.get('host')}, pid {holder.get('pid')}, since "
            f"{holder.get('since')}) may still be running; the lock was not released",
            fix="wait for it to finish; only if you know it is dead, pass --force",
        )
    journal.force_release()
    progress(f"released lock held by {holder.get('holder')!r}")
    return ExitCode.OK


def cmd_classify(args: argparse.Namespace) -> int:
    from anonymizer.suggest import suggest_contract

    ctx = build_context(options(args))
    print(suggest_contract(ctx.runtime, ctx.contract, args.table))
    return ExitCode.OK


def cmd_scan(args: argparse.Namespace) -> int:
    from anonymizer.scan_command import scan_command

    return scan_command(args, build_context(options(args)), progress)


class CommandAdder(Protocol):
    """What an ``anonymizer.commands`` entry point receives: adds one subcommand and returns its parser."""

    def __call__(
        self, name: str, fn: Callable[[argparse.Namespace], int], help_: str, *groups: str, base: bool = True
    ) -> argparse.ArgumentParser: ...


def _plugins() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def build_parser() -> argparse.ArgumentParser:
    return _build_parser()[0]


def _build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser and the names of its commands (the dev commands only when the dev tools are installed)."""
    parser = argparse.ArgumentParser(
        prog="anonymizer",
        description=DESCRIPTION,
        epilog=exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"anonymizer {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the full trace of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str, *groups: str, base: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=exit_codes_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # SUPPRESS: `anonymizer --debug gate` must not be reset to False by the subcommand's default.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="print the full trace")
        if base:
            add_base(p)
        for group in groups:
            add_group(p, group)
        p.set_defaults(fn=fn)
        return p

    add(
        "gate",
        _step(_gate),
        "compare the live source with the contract; exit 3 and write a suggested patch on drift",
        *TASK,
        EMPTY,
    )
    add("anonymize", _step(anonymize_step), "anonymize source -> staging (full rewrite)", *TASK, ROTATE, AS_OF)
    add("check", _step(check_step), "check staging against source; exit 4 on any failure", *TASK)
    add(
        "risk",
        _step(risk_step),
        "measure re-identification risk on staging; exit 9 above the contract's threshold",
        *TASK,
    )
    add("promote", _step(promote_step), "promote staging -> final tables, all or none", *TASK)
    rb = add("rollback", cmd_rollback, "restore final tables to their versions before the last (or a given) run")
    rb.add_argument("--to-run", help="run id to undo (default: the last published run)")
    add("report", cmd_report, "write the JSON and Markdown report of a run", *TASK)
    add(
        "run",
        cmd_run,
        "gate -> anonymize -> check -> risk -> scan -> promote in one process, rollback on failure",
        *TASK,
        ROTATE,
        EMPTY,
        AS_OF,
    )
    cl = add("classify", cmd_classify, "print a suggested contract classification for live source tables")
    cl.add_argument("--table", help="only this source table (default: every table of the source schema)")
    sc = add("scan", cmd_scan, "scan any table's values for identifiers; exit 10 on findings")
    sc.add_argument("--table", required=True, action="append", help="catalog.schema.table (repeatable)")
    sc.add_argument("--columns", help="comma list of columns (default: every column of a scannable type)")
    sc.add_argument("--sample-rows", type=int, help="rows sampled per table (default: the contract's setting)")
    sc.add_argument("--no-source-values", action="store_true", help="skip the contract's source identifier join")
    un = add("unlock", cmd_unlock, "release the run lock left by a crashed run (refused while its holder may live)")
    un.add_argument("--force", action="store_true", help="release even if the holder may still be alive")
    for ep in _plugins():
        try:
            register = ep.load()
        except ImportError as exc:
            print(f"warning: command {ep.name} unavailable ({exc})", file=sys.stderr)
            continue
        register(add)
    key_init.register(sub)  # `anonymizer key init` (logic in key_init.py)
    return parser, set(sub.choices)


def _describe(exc: BaseException) -> str:
    """Type and, for Spark errors, the error condition; never the message (it may quote data values)."""
    condition = None
    for getter in ("getCondition", "getErrorClass"):
        fn = getattr(exc, getter, None)
        if callable(fn):
            with contextlib.suppress(Exception):
                condition = fn()
            if condition:
                break
    return type(exc).__name__ + (f" [{condition}]" if condition else "")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _build_parser()
    command = next((a for a in arguments if not a.startswith("-")), None)
    if command in DEV_COMMANDS and command not in commands:
        print(
            f"error: `{command}` is a local development command and the dev tools are not installed. "
            "Fix: run `make setup` (or `pip install -e tools`) in a clone of the repository",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    return main_with(parser.parse_args(arguments))


def _quiet_spark_error_logs() -> None:
    """Silence pyspark's query-context loggers, which print every captured SQL error to stderr as JSON.

    Why: that output carries the JVM stack trace and Spark's message, which can quote data values (a value
    that failed a cast); the job's stderr must hold one line per error and no data. ``--debug`` keeps them.
    The loggers are created through PySparkLogger, as pyspark itself does (a plain Logger of the same name
    would break its structured ``exception`` calls).
    """
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pragma: no cover - pyspark < 4 has no such loggers
        return
    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def main_with(args: argparse.Namespace) -> int:
    """Run the parsed command; map AnonymizerError to its exit code and anything else to 1 (a bug)."""
    debug = bool(getattr(args, "debug", False))
    if not debug:
        _quiet_spark_error_logs()
    try:
        return int(args.fn(args))
    except AnonymizerError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(
            f"error: unexpected {_describe(exc)}; this is a bug. Fix: rerun with --debug for the trace and report it",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def _entry(command: str) -> int:
    """Console-script / python_wheel_task entry: exit with the step's code so a failed step fails the task."""
    code = main([command, *sys.argv[1:]])
    if code:
        raise SystemExit(code)
    return code


def gate_entry() -> int:
    return _entry("gate")


def anonymize_entry() -> int:
    return _entry("anonymize")


def check_entry() -> int:
    return _entry("check")


def risk_entry() -> int:
    return _entry("risk")


def promote_entry() -> int:
    return _entry("promote")


def report_entry() -> int:
    return _entry("report")


def _rollback_task(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    if not ctx.opts.run_id:
        raise UsageError("the rollback task needs the job run id", fix="pass --run_id={{job.run_id}}")
    rollback_after_failure(ctx, ctx.opts.run_id, StepLog(progress))
    return ExitCode.ROLLED_BACK  # not reached: rollback_after_failure always raises RolledBack


def rollback_entry() -> int:
    """Wheel entry point of the job's rollback task (run_if AT_LEAST_ONE_FAILED): always exits non-zero.

    It takes the job's shared task parameters (those of ``report``) and maps every error like ``main``.
    """
    args = build_parser().parse_args(["report", *sys.argv[1:]])
    args.fn = _rollback_task
    code = main_with(args)
    raise SystemExit(code or ExitCode.ROLLED_BACK)


if __name__ == "__main__":
    raise SystemExit(main())
