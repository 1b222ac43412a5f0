"""``anonymizer``: the command line and the wheel entry points of the job.

Every job step is a subcommand and a console script (``anonymizer-gate`` ...), so a Databricks
``python_wheel_task`` and a local shell run the same code. Options accept both ``--source-catalog`` and the
``--source_catalog=`` form that ``python_wheel_task.named_parameters`` produces.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from anonymizer.context import Context, Options, build_context, default_key_file
from anonymizer.contract import ContractError
from anonymizer.errors import AnonymizerError
from anonymizer.pipeline import (
    EXIT_BUSY,
    EXIT_OK,
    EXIT_USAGE,
    StepFailed,
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
)


def _opt(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """Add ``--a-b`` with the ``--a_b`` alias used by python_wheel_task named parameters."""
    flags = [f"--{name}"] + ([f"--{name.replace('-', '_')}"] if "-" in name else [])
    parser.add_argument(*flags, **kwargs)  # type: ignore[arg-type]


def common(parser: argparse.ArgumentParser, *, steps: bool = True) -> None:
    _opt(parser, "contract", help="contract YAML (default: the contract packaged in the wheel)")
    _opt(parser, "lakehouse", default=".lakehouse", help="local lakehouse folder (default .lakehouse)")
    _opt(parser, "runtime", default="local", choices=["local", "databricks"], help="where the job runs")
    for name in ("source-catalog", "source-schema", "target-catalog", "target-schema", "staging-schema"):
        _opt(parser, name, help=f"override the contract's {name.replace('-', ' ')} (per environment)")
    if steps:
        _opt(parser, "secret-scope", help="Databricks secret scope holding the key")
        _opt(parser, "secret-key", help="Databricks secret key name")
        _opt(parser, "key-file", help="local key file (default <lakehouse>/anonymizer.key; or set ANONYMIZER_KEY)")
        _opt(parser, "run-id", help="job run id shared by the steps of one run (default: new)")
        _opt(parser, "report-dir", help="where reports and the suggested contract patch go")
        _opt(parser, "rotate-key", action="store_true", help="allow a key different from the last published run's")
        _opt(parser, "allow-empty", action="store_true", help="do not fail the gate on an empty source table")
        _opt(parser, "as-of", help="run date YYYY-MM-DD for release windows (default: today in UTC)")


def options(args: argparse.Namespace) -> Options:
    names = Options.__dataclass_fields__
    return Options(**{k: v for k, v in vars(args).items() if k in names and k != "extra" and v is not None})


def _progress(text: str) -> None:
    print(text, flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    from anonymizer.generate import Sizes, generate

    ctx = build_context(options(args))
    sizes = Sizes.for_visits(args.visits, args.patients, args.hospitals, args.doctors)
    started = time.perf_counter()
    _progress(f"generating synthetic production data (seed {args.seed}) into {ctx.lakehouse}")
    counts = generate(ctx.runtime, ctx.contract, sizes, args.seed, ctx.lakehouse / "_scratch", progress=_progress)
    took = time.perf_counter() - started
    total = sum(counts.values())
    _progress(f"generated {total:,} rows in {took:.1f} s ({total / took:,.0f} rows/s)")
    return EXIT_OK


def _run_id(ctx: Context) -> str:
    return ctx.opts.run_id or new_run_id()


def _step(fn: Callable[[Context, str, StepLog], object]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        ctx = build_context(options(args))
        run_id = _run_id(ctx)
        _progress(f"{fn.__name__.replace('_step', '')}: run {run_id}")
        try:
            fn(ctx, run_id, StepLog(_progress))
        except StepFailed as exc:
            if exc.code != EXIT_BUSY:  # this run is over; never release another run's lock
                journal_for(ctx).release(run_id)
            raise
        return EXIT_OK

    return run


def cmd_gate(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    run_id = _run_id(ctx)
    _progress(f"gate: run {run_id}")
    gate_step(ctx, run_id, StepLog(_progress), allow_empty=bool(args.allow_empty))
    return EXIT_OK


def write_run_report(ctx: Context, run_id: str, log: StepLog | None = None) -> dict[str, object]:
    from anonymizer.report import build_report, write_report

    journal = journal_for(ctx)
    report = build_report(
        ctx.contract, ctx.contract_sha256, run_id, journal.events(run_id), log.durations if log else None
    )
    json_path, md_path = write_report(report, report_dir(ctx))
    _progress(f"report: {json_path} and {md_path}")
    return report


def cmd_report(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    run_id = ctx.opts.run_id
    if not run_id:
        last = journal_for(ctx).last_committed()
        if last is None:
            raise StepFailed(EXIT_USAGE, "no run to report on: pass --run-id")
        run_id = last.run_id
    write_run_report(ctx, run_id)
    return EXIT_OK


def run_pipeline(ctx: Context, run_id: str, log: StepLog, *, allow_empty: bool = False) -> dict[str, object]:
    """gate -> anonymize -> check -> promote in one process; any failure leaves final tables as they were."""
    ctx.keyring.fingerprint()  # a missing or malformed key fails now, before the lock or any read
    try:
        gate_step(ctx, run_id, log, allow_empty=allow_empty)
        anonymize_step(ctx, run_id, log)
        check_step(ctx, run_id, log)
        promote_step(ctx, run_id, log)
    except BaseException:
        with contextlib.suppress(StepFailed):
            rollback_after_failure(ctx, run_id, StepLog(_progress))
        write_run_report(ctx, run_id, log)
        raise
    return write_run_report(ctx, run_id, log)


def cmd_run(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    run_id = _run_id(ctx)
    _progress(
        f"run {run_id}: {ctx.contract.source.catalog}.{ctx.contract.source.schema_} -> "
        f"{ctx.contract.target.catalog}.{ctx.contract.target.schema_}"
    )
    report = run_pipeline(ctx, run_id, StepLog(_progress), allow_empty=bool(args.allow_empty))
    _progress(f"run {run_id}: {report['status']}")
    return EXIT_OK


def _print_table_counts(ctx: Context, side: str) -> None:
    for table in ctx.contract.dependency_order():
        name = ctx.contract.source_name(table) if side == "source" else ctx.contract.target_name(table)
        _progress(f"  {name:<45} {ctx.runtime.read(name).count():>10,} rows")


def cmd_demo(args: argparse.Namespace) -> int:
    from anonymizer.demo import print_samples
    from anonymizer.keys import ensure_key_file
    from anonymizer.release import summary as release_summary
    from anonymizer.retention import summary as retention_summary

    opts = options(args)
    ctx = build_context(opts)
    if not opts.key_file and not _env_key():
        path = default_key_file(ctx.lakehouse)
        _, created = ensure_key_file(path)
        _progress(f"key: {'created' if created else 'using'} {path} (mode 0600; keep it out of git)")
    args.contract = opts.contract
    cmd_generate(args)
    _progress("source tables:")
    _print_table_counts(ctx, "source")
    run_id = _run_id(ctx)
    log = StepLog(_progress)
    report = run_pipeline(ctx, run_id, log)
    _progress("anonymized tables:")
    _print_table_counts(ctx, "target")
    checks = report["checks"]
    assert isinstance(checks, list)
    _progress(f"checks: {sum(1 for c in checks if c['passed'])}/{len(checks)} passed; status {report['status']}")
    for line in release_summary(report.get("release")) + retention_summary(report.get("retention")):  # type: ignore[arg-type]
        _progress(line)
    print_samples(ctx, _progress)
    return EXIT_OK


def _env_key() -> bool:
    import os

    return bool(os.environ.get("ANONYMIZER_KEY"))


def cmd_rollback(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    versions = rollback_to_run(ctx, args.to_run, StepLog(_progress))
    _progress(f"rolled back {len(versions)} tables")
    return EXIT_OK


def cmd_unlock(args: argparse.Namespace) -> int:
    ctx = build_context(options(args))
    journal = journal_for(ctx)
    holder = journal.lock_holder()
    journal.force_release()
    _progress(f"released lock held by {holder.get('holder')!r}")
    return EXIT_OK


def cmd_load(args: argparse.Namespace) -> int:
    from anonymizer.load import load_directory

    ctx = build_context(options(args))
    load_directory(ctx.runtime, ctx.contract, Path(args.from_dir), _progress)
    return EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    from anonymizer.load import suggest_contract

    ctx = build_context(options(args))
    print(suggest_contract(ctx.runtime, ctx.contract, args.table))
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from anonymizer.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anonymizer", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str, steps: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        common(p, steps=steps)
        p.set_defaults(fn=fn)
        return p

    for p in (
        add("generate", cmd_generate, "generate synthetic production data (Faker pools + numpy)", steps=False),
        add("demo", cmd_demo, "generate data, run the full pipeline, print the report summary and samples"),
    ):
        p.add_argument("--visits", type=int, default=100_000, help="rows of fact_visits (default 100000)")
        p.add_argument("--patients", type=int, help="rows of dim_patients (default visits/5)")
        p.add_argument("--hospitals", type=int, help="rows of dim_hospitals (default visits/5000, >= 3)")
        p.add_argument("--doctors", type=int, help="rows of dim_doctors (default 25 per hospital)")
        p.add_argument("--seed", type=int, default=42, help="random seed: same seed, same data")
    add("gate", cmd_gate, "compare the live source with the contract; exit 3 and write a suggested patch on drift")
    add("anonymize", _step(anonymize_step), "anonymize source -> staging (full rewrite)")
    add("check", _step(check_step), "check staging against source; exit 4 on any failure")
    add("promote", _step(promote_step), "promote staging -> final tables, all or none")
    rb = add("rollback", cmd_rollback, "restore final tables to their versions before the last (or a given) run")
    rb.add_argument("--to-run", help="run id to undo (default: the last published run)")
    add("report", cmd_report, "write the JSON and Markdown report of a run")
    add("run", cmd_run, "gate -> anonymize -> check -> promote in one process, rollback on failure")
    ld = add(
        "load", cmd_load, "import Parquet/CSV files (one per contract table) into the local source catalog", steps=False
    )
    ld.add_argument("--from", dest="from_dir", required=True, help="folder with <table>.parquet|.csv files or folders")
    cl = add("classify", cmd_classify, "print a suggested contract classification for live source tables", steps=False)
    cl.add_argument("--table", help="only this source table (default: every table of the source schema)")
    add("unlock", cmd_unlock, "release a run lock left by a crashed run (after checking it is dead)", steps=False)
    bp = sub.add_parser(
        "bench",
        help="benchmark anonymization against a plain copy and baselines",
        description="benchmark anonymization against a plain copy and baselines",
    )
    bp.add_argument("--visits", type=int, default=1_000_000)
    bp.add_argument("--repeats", type=int, default=3)
    bp.add_argument("--json", default="bench-results.json")
    bp.add_argument("--markdown", default=None)
    bp.add_argument("--udf-rows", type=int, default=200_000)
    bp.add_argument("--workdir", default=None)
    bp.add_argument("--scale-10m", action="store_true", help="also run at 10,000,000 visits and report scaling")
    bp.add_argument(
        "--also-visits",
        type=int,
        action="append",
        metavar="N",
        help="also run at N visits (repeatable) and report scaling against --visits",
    )
    bp.add_argument("--skip-synth", action="store_true", help="do not time `python -m infra.synth`")
    bp.add_argument(
        "--scaling-core",
        action="store_true",
        help="at the extra scales time only copy, engine and anonymize step (what scaling needs)",
    )
    bp.add_argument("--variants", help="comma list: time only these variants (default: all; see anonymizer.bench)")
    bp.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the warm-up and the untimed pre-creation of outputs (smoke tests only)",
    )
    bp.add_argument("--verbose", action="store_true", help="print the pipeline's step and table lines")
    bp.set_defaults(fn=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except AnonymizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


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


def promote_entry() -> int:
    return _entry("promote")


def report_entry() -> int:
    return _entry("report")


def rollback_entry() -> int:
    """Wheel entry point of the job's rollback task (run_if AT_LEAST_ONE_FAILED): always exits non-zero."""
    args = build_parser().parse_args(["report", *sys.argv[1:]])
    try:
        ctx = build_context(options(args))
        if not ctx.opts.run_id:
            print("error: the rollback task needs --run_id={{job.run_id}}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
        rollback_after_failure(ctx, ctx.opts.run_id, StepLog(_progress))
    except StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.code) from None
    raise SystemExit(EXIT_USAGE)


if __name__ == "__main__":
    raise SystemExit(main())
