"""The embedded lakehouse: one factory for a local SparkSession with Delta Lake.

Local runs, the demo and the tests use the same session settings: local[2], Delta extensions, quiet logs,
no Spark UI. Tables are path-based Delta tables under the lakehouse folder (see runtime.LocalRuntime), so a
table written by one process is read by the next: the job's steps run as separate processes, as on
Databricks. On a cluster this module is never used: the Databricks runtime hands us its session.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Delta 4.0 pairs with Spark 4.0 / Scala 2.13, the versions of Databricks Runtime 17.3 LTS.
DELTA_PACKAGE = "io.delta:delta-spark_2.13:4.0.1"
# What Ivy resolves DELTA_PACKAGE to; once cached, the jars are used directly (no resolution, no Ivy output).
DELTA_JARS = (
    "io.delta_delta-spark_2.13-4.0.1.jar",
    "io.delta_delta-storage-4.0.1.jar",
    "org.antlr_antlr4-runtime-4.13.1.jar",
)
DEFAULT_LAKEHOUSE = ".lakehouse"
# A JVM class-data-sharing archive of the classes a session start and a first Delta read load (JDK 13+
# dynamic AppCDS). `make setup`'s warm step writes it next to the interpreter (so it belongs to this
# environment's pyspark and java); later starts map it instead of loading and verifying ~10k classes from jars.
# Measured on the shared, overloaded 2-core machine (load ~16), 5 interleaved fresh starts each: median 76 s to
# the first Delta read with it vs 123 s without (session 32 vs 55 s, first read 42 vs 66 s); every start with
# it was faster than every start without. `anonymizer bench --startup-runs N` reports both when the archive
# exists; idle-machine numbers are still to be measured. A stale or mismatched archive is ignored by the JVM.
CDS_ARCHIVE = "anonymizer-spark-cds.jsa"
CDS_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def cds_archive() -> Path:
    """Where this environment's class-data-sharing archive lives (written by ``--warm``)."""
    return Path(sys.prefix) / CDS_ARCHIVE


def cds_options(*, dump: bool = False) -> str:
    """JVM options: write the archive at exit (``dump``), map it when present, or nothing.

    ``ANONYMIZER_SPARK_CDS=0`` turns it off (the bench measures start-up both ways with it).
    """
    if os.environ.get("ANONYMIZER_SPARK_CDS", "1") == "0":
        return ""
    if dump:
        return f"-XX:ArchiveClassesAtExit={cds_archive()} {CDS_QUIET}"
    return f"-XX:SharedArchiveFile={cds_archive()} {CDS_QUIET}" if cds_archive().is_file() else ""


def cached_delta_jars() -> list[Path] | None:
    """The Delta jars from the user's Ivy cache, when a previous session already fetched them."""
    for folder in (Path.home() / ".ivy2.5.2" / "jars", Path.home() / ".ivy2" / "jars"):
        jars = [folder / name for name in DELTA_JARS]
        if all(j.is_file() for j in jars):
            return jars
    return None


def local_spark(
    app_name: str = "anonymizer", *, shuffle_partitions: int = 4, driver_memory: str = "4g", cds_dump: bool = False
) -> SparkSession:
    """Create (or reuse) the local Delta-enabled SparkSession.

    The Delta jars come from Maven Central through ``spark.jars.packages`` and are cached by Ivy in the
    user's cache, so only the first start downloads them.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    log_config = Path(__file__).with_name("log4j2.properties")
    jars = cached_delta_jars()
    builder = SparkSession.builder.appName(app_name).master(os.environ.get("ANONYMIZER_SPARK_MASTER", "local[2]"))
    if jars:
        builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    else:
        builder = builder.config("spark.jars.packages", DELTA_PACKAGE)
    builder = (
        builder.config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", "2")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile=file:{log_config} {cds_options(dump=cds_dump)}".strip(),
        )
        # Delta retention checks would refuse RESTORE targets only after VACUUM; keep defaults otherwise.
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def lakehouse_dir(path: str | os.PathLike[str] | None) -> Path:
    """Absolute lakehouse folder (created if missing); refuse a path that is a file or cannot be a folder."""
    from anonymizer.errors import UsageError

    root = Path(path or DEFAULT_LAKEHOUSE).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--lakehouse {root} is not a folder", fix="pass a folder (it is created if missing)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--lakehouse {root}: cannot create the folder ({exc.strerror})",
            fix="pass a writable folder path",
        ) from None
    return root


def _wait_for_jvm_exit(timeout: float = 600.0) -> None:
    """Close the JVM's stdin (it exits on EOF) and wait: the archive is written while it exits.

    Without the wait the interpreter's exit can end the JVM before the archive is complete, and the warm step
    would silently leave none.
    """
    import subprocess

    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if proc is None:
        return
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # a JVM that does not exit in time only costs the archive
        return


def main(argv: list[str] | None = None) -> int:
    """``python -m anonymizer.lakehouse --warm``: start one session so Ivy caches the Delta jars.

    The warm session also reads a Delta table and, when its JVM exits, writes the class-data-sharing archive
    (:func:`cds_archive`) that later session starts map.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--warm", action="store_true", help="start and stop a session (fetches Delta jars once)")
    args = parser.parse_args(argv)
    if args.warm:
        import tempfile

        cds_archive().unlink(missing_ok=True)  # rewritten at exit; a read-only old one must not block it
        spark = local_spark("anonymizer-warm", cds_dump=True)
        with tempfile.TemporaryDirectory(prefix="anonymizer-warm-") as tmp:
            table = f"{tmp}/t"  # the classes of a Delta write and a first Delta read go into the archive
            spark.range(1).write.format("delta").save(table)
            spark.read.format("delta").load(table).count()
        version = spark.version
        spark.stop()
        _wait_for_jvm_exit()
        archive = cds_archive()
        written = f"{archive} ({archive.stat().st_size >> 20} MiB)" if archive.is_file() else "not written"
        print(f"Spark {version} with {DELTA_PACKAGE} ready; class-data-sharing archive: {written}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
