"""The dev tools' ``anonymizer`` subcommands: ``generate``, ``demo``, ``load`` and ``bench``.

Each ``register_*`` function is an ``anonymizer.commands`` entry point (tools/pyproject.toml): the job's CLI
calls it with its :class:`anonymizer.cli.CommandAdder`, so the commands share the job's option groups and
error handling while the job wheel contains none of this code.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from anonymizer.cli import KEY, REPORT, CommandAdder, options, progress, run_id_for, run_pipeline
from anonymizer.context import Context, build_context, default_key_file
from anonymizer.errors import ExitCode
from anonymizer.pipeline import StepLog


def positive(text: str) -> int:
    """argparse type: an integer >= 1 (a row count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _sizes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--visits", type=positive, default=100_000, help="rows of fact_visits (default 100000)")
    parser.add_argument("--patients", type=positive, help="rows of dim_patients (default visits/5)")
    parser.add_argument("--hospitals", type=positive, help="rows of dim_hospitals (default visits/5000, >= 3)")
    parser.add_argument("--doctors", type=positive, help="rows of dim_doctors (default 25 per hospital)")
    parser.add_argument("--seed", type=int, default=42, help="random seed: same seed, same data")


def cmd_generate(args: argparse.Namespace) -> int:
    from anonymizer_tools.generate import Sizes, generate

    ctx = build_context(options(args))
    sizes = Sizes.for_visits(args.visits, args.patients, args.hospitals, args.doctors)
    started = time.perf_counter()
    progress(f"generating synthetic production data (seed {args.seed}) into {ctx.lakehouse}")
    counts = generate(ctx.runtime, ctx.contract, sizes, args.seed, ctx.lakehouse / "_scratch", progress=progress)
    took = time.perf_counter() - started
    total = sum(counts.values())
    progress(f"generated {total:,} rows in {took:.1f} s ({total / took:,.0f} rows/s)")
    return ExitCode.OK


def _print_table_counts(ctx: Context, side: str) -> None:
    for table in ctx.contract.dependency_order():
        name = ctx.contract.source_name(table) if side == "source" else ctx.contract.target_name(table)
        progress(f"  {name:<45} {ctx.runtime.read(name).count():>10,} rows")


def cmd_demo(args: argparse.Namespace) -> int:
    from anonymizer.keys import ensure_key_file
    from anonymizer_tools.demo import print_samples

    opts = options(args)
    ctx = build_context(opts)
    if not opts.key_file and not os.environ.get("ANONYMIZER_KEY"):
        path = default_key_file(ctx.lakehouse)
        _, created = ensure_key_file(path)
        progress(f"key: {'created' if created else 'using'} {path} (mode 0600; keep it out of git)")
    cmd_generate(args)
    progress("source tables:")
    _print_table_counts(ctx, "source")
    report = run_pipeline(ctx, run_id_for(ctx), StepLog(progress))
    progress("anonymized tables:")
    _print_table_counts(ctx, "target")
    checks = report["checks"]
    assert isinstance(checks, list)
    progress(f"checks: {sum(1 for c in checks if c['passed'])}/{len(checks)} passed; status {report['status']}")
    from anonymizer.release import summary as release_summary
    from anonymizer.retention import summary as retention_summary

    for line in release_summary(report.get("release")) + retention_summary(report.get("retention")):  # type: ignore[arg-type]
        progress(line)
    print_samples(ctx, progress)
    return ExitCode.OK


def cmd_load(args: argparse.Namespace) -> int:
    from anonymizer_tools.load import load_directory

    ctx = build_context(options(args))
    load_directory(ctx.runtime, ctx.contract, Path(args.from_dir), progress, scratch_root=ctx.lakehouse / "_scratch")
    return ExitCode.OK


def cmd_bench(args: argparse.Namespace) -> int:
    from anonymizer_tools.bench import main as bench_main

    return bench_main(args)


def register_generate(add: CommandAdder) -> None:
    _sizes(add("generate", cmd_generate, "generate synthetic production data (Faker pools + numpy)"))


def register_demo(add: CommandAdder) -> None:
    _sizes(
        add(
            "demo",
            cmd_demo,
            "generate data, run the full pipeline, print the report summary and samples",
            KEY,
            REPORT,
        )
    )


def register_load(add: CommandAdder) -> None:
    ld = add("load", cmd_load, "import Parquet/CSV files (one per contract table) into the local source catalog")
    ld.add_argument("--from", dest="from_dir", required=True, help="folder with <table>.parquet|.csv files or folders")


def register_bench(add: CommandAdder) -> None:
    bp = add("bench", cmd_bench, "benchmark anonymization against a plain copy and baselines", base=False)
    bp.add_argument("--visits", type=positive, default=1_000_000)
    bp.add_argument("--repeats", type=positive, default=3)
    bp.add_argument("--json", default="bench-results.json")
    bp.add_argument("--markdown", default=None)
    bp.add_argument("--udf-rows", type=positive, default=200_000)
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
    bp.add_argument(
        "--variants", help="comma list: time only these variants (default: all; see anonymizer_tools.bench)"
    )
    bp.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the warm-up and the untimed pre-creation of outputs (smoke tests only)",
    )
    bp.add_argument("--verbose", action="store_true", help="print the pipeline's step and table lines")
    bp.add_argument(
        "--startup-runs",
        type=int,
        default=3,
        metavar="N",
        help="time N fresh processes starting Spark as `anonymizer run` does (0: skip; reported apart from steps)",
    )
    bp.add_argument(
        "--wide-rows",
        type=int,
        default=0,
        metavar="N",
        help="also time the nine-table wide schema (composite keys, deep FK graph) at N claims (~6.5 N rows)",
    )
