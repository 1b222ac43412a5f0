"""Synthetic "production" data for the medical.visits star schema.

Faker makes small pools (names, streets, cities) once; numpy draws every row from them, so a million visits
take seconds rather than the minutes a Faker call per row would. Everything is drawn from one seeded
generator, so the same ``--seed`` and sizes give byte-identical tables. Unlike the seed project's generator,
every foreign key points at an existing row: visits reference existing patients and hospitals, and a visit's
doctor (when there is one) works at that visit's hospital.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from anonymizer.contract import Contract
from anonymizer.errors import UsageError
from anonymizer.runtime import Runtime
from anonymizer.sqltypes import spark_cast_type
from anonymizer.tables import contract_columns, foreign_keys

EPOCH = dt.date(1970, 1, 1)
DEFAULT_AS_OF = dt.date(2026, 10, 31)  # fixed, so a seed means the same data on every day
SPECIALIZATIONS = (
    "Cardiology",
    "Dermatology",
    "Emergency Medicine",
    "Endocrinology",
    "Family Medicine",
    "Gastroenterology",
    "General Surgery",
    "Geriatrics",
    "Internal Medicine",
    "Nephrology",
    "Neurology",
    "Obstetrics and Gynecology",
    "Oncology",
    "Ophthalmology",
    "Orthopedics",
    "Pediatrics",
    "Psychiatry",
    "Pulmonology",
    "Radiology",
    "Urology",
)
REQUIRED_TABLES = ("dim_patients", "dim_hospitals", "dim_doctors", "fact_visits")
NO_DOCTOR_SHARE = 0.08  # walk-in/triage visits recorded without a doctor


@dataclass(frozen=True)
class Sizes:
    visits: int
    patients: int
    hospitals: int
    doctors: int

    @classmethod
    def for_visits(
        cls, visits: int, patients: int | None = None, hospitals: int | None = None, doctors: int | None = None
    ) -> Sizes:
        """Proportional dimensions: ~5 visits per patient, a hospital per 5,000 visits, ~25 doctors each."""
        h = hospitals or max(3, min(2000, visits // 5000))
        return cls(
            visits=visits,
            patients=patients or max(1, visits // 5),
            hospitals=h,
            doctors=doctors or max(h, h * 25),
        )


@dataclass(frozen=True)
class Pools:
    first: np.ndarray
    last: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    states: np.ndarray
    saints: np.ndarray


def build_pools(seed: int) -> Pools:
    """A few thousand Faker values; every row is then drawn from these with numpy."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)

    def uniq(fn: Callable[[], str], n: int) -> np.ndarray:
        seen: dict[str, None] = {}
        for _ in range(n * 4):
            seen.setdefault(fn(), None)
            if len(seen) >= n:
                break
        return np.array(list(seen), dtype=object)

    return Pools(
        first=uniq(fake.first_name, 600),
        last=uniq(fake.last_name, 900),
        streets=uniq(fake.street_name, 1500),
        cities=uniq(fake.city, 600),
        states=uniq(fake.state_abbr, 50),
        saints=uniq(fake.first_name, 120),
    )


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(values.astype(str), width).astype(object)


def _addresses(rng: np.random.Generator, pools: Pools, n: int) -> np.ndarray:
    number = rng.integers(1, 9999, n).astype(str).astype(object)
    street = pools.streets[rng.integers(0, len(pools.streets), n)]
    city = pools.cities[rng.integers(0, len(pools.cities), n)]
    state = pools.states[rng.integers(0, len(pools.states), n)]
    zipc = _zfill(rng.integers(501, 99950, n), 5)
    out: np.ndarray = number + " " + street + ", " + city + ", " + state + " " + zipc
    return out


def _names(rng: np.random.Generator, pools: Pools, n: int) -> np.ndarray:
    first = pools.first[rng.integers(0, len(pools.first), n)]
    last = pools.last[rng.integers(0, len(pools.last), n)]
    out: np.ndarray = first + " " + last
    return out


def _ssns(rng: np.random.Generator, n: int) -> np.ndarray:
    area = rng.integers(1, 900, n)
    area = np.where(area == 666, 665, area)
    group = rng.integers(1, 100, n)
    serial = rng.integers(1, 10000, n)
    out: np.ndarray = _zfill(area, 3) + "-" + _zfill(group, 2) + "-" + _zfill(serial, 4)
    return out


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    area = _zfill(rng.integers(201, 990, n), 3)
    exch = _zfill(rng.integers(200, 1000, n), 3)
    line = _zfill(rng.integers(0, 10000, n), 4)
    style = rng.integers(0, 3, n)
    dashed = area + "-" + exch + "-" + line
    paren = "(" + area + ") " + exch + "-" + line
    dotted = area + "." + exch + "." + line
    return np.where(style == 0, dashed, np.where(style == 1, paren, dotted))


def generate_frames(sizes: Sizes, seed: int, as_of: dt.date = DEFAULT_AS_OF) -> dict[str, pd.DataFrame]:
    """The four tables as pandas frames (vectorized; deterministic for a seed and sizes)."""
    return dict(iter_frames(sizes, seed, as_of))


def iter_frames(sizes: Sizes, seed: int, as_of: dt.date = DEFAULT_AS_OF) -> Iterator[tuple[str, pd.DataFrame]]:
    """The tables one by one, parents first, each as soon as it is drawn (same draws as one call for all).

    Why one at a time: :func:`write_source` loads a table into Spark while numpy draws the next one.
    """
    rng = np.random.default_rng(seed)
    pools = build_pools(seed)
    today = (as_of - EPOCH).days

    # Patients: dob uniform in 1935-01-01 .. 2007-12-31.
    lo, hi = (dt.date(1935, 1, 1) - EPOCH).days, (dt.date(2007, 12, 31) - EPOCH).days
    patient_ids = rng.permutation(np.arange(1, sizes.patients + 1, dtype=np.int32))
    dob = rng.integers(lo, hi + 1, sizes.patients)
    patients = pd.DataFrame(
        {
            "patient_id": patient_ids,
            "name": _names(rng, pools, sizes.patients),
            "dob": dob,
            "ssn": _ssns(rng, sizes.patients),
            "address": _addresses(rng, pools, sizes.patients),
        }
    )
    patients["dob"] = _dates(dob)
    yield "dim_patients", patients

    hospital_ids = np.arange(1, sizes.hospitals + 1, dtype=np.int32)
    city = pools.cities[rng.integers(0, len(pools.cities), sizes.hospitals)]
    saint = pools.saints[rng.integers(0, len(pools.saints), sizes.hospitals)]
    kind = rng.integers(0, 4, sizes.hospitals)
    hospital_names = np.where(
        kind == 0,
        "St. " + saint + " Medical Center",
        np.where(
            kind == 1,
            city + " General Hospital",
            np.where(kind == 2, city + " Regional Medical Center", saint + " Memorial Hospital"),
        ),
    )
    hospitals = pd.DataFrame(
        {
            "hospital_id": hospital_ids,
            "name": hospital_names,
            "address": _addresses(rng, pools, sizes.hospitals),
            "phone": _phones(rng, sizes.hospitals),
        }
    )
    yield "dim_hospitals", hospitals

    # Doctors: every hospital gets at least one, the rest spread by hospital size (lognormal weights).
    weights = rng.lognormal(0.0, 0.6, sizes.hospitals)
    extra = rng.choice(sizes.hospitals, sizes.doctors - sizes.hospitals, p=weights / weights.sum())
    doctor_hospital = np.sort(np.concatenate([np.arange(sizes.hospitals), extra]))
    doctor_ids = np.arange(1, sizes.doctors + 1, dtype=np.int32)
    doctors = pd.DataFrame(
        {
            "doctor_id": doctor_ids,
            "name": "Dr. " + _names(rng, pools, sizes.doctors),
            "specialization": np.array(SPECIALIZATIONS, dtype=object)[
                rng.integers(0, len(SPECIALIZATIONS), sizes.doctors)
            ],
            "hospital_id": hospital_ids[doctor_hospital],
        }
    )
    yield "dim_doctors", doctors

    # Visits: a long tail of frequent patients (Zipf-like weights over a random patient order).
    rank_weights = 1.0 / np.arange(1, sizes.patients + 1) ** 0.8
    patient_idx = rng.choice(sizes.patients, sizes.visits, p=rank_weights / rank_weights.sum())
    visit_hospital = rng.choice(sizes.hospitals, sizes.visits, p=weights / weights.sum())
    # A doctor of the visit's hospital: doctors are sorted by hospital, so pick an offset in its block.
    starts = np.searchsorted(doctor_hospital, np.arange(sizes.hospitals), side="left")
    counts = np.bincount(doctor_hospital, minlength=sizes.hospitals)
    offset = (rng.random(sizes.visits) * counts[visit_hospital]).astype(np.int64)
    visit_doctor = doctor_ids[starts[visit_hospital] + offset].astype("float64")
    visit_doctor[rng.random(sizes.visits) < NO_DOCTOR_SHARE] = np.nan
    # Visit dates: within the last 5 years and never before the patient's birth.
    first_day = np.maximum(today - 5 * 365, dob[patient_idx])
    visit_day = first_day + (rng.random(sizes.visits) * (today - first_day + 1)).astype(np.int64)
    visits = pd.DataFrame(
        {
            "visit_id": np.arange(1, sizes.visits + 1, dtype=np.int32),
            "patient_id": patient_ids[patient_idx],
            "hospital_id": hospital_ids[visit_hospital],
            "doctor_id": pd.array(visit_doctor, dtype="Int32"),
            "visit_date": _dates(visit_day),
        }
    )
    yield "fact_visits", visits


def _dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as numpy dates."""
    return np.datetime64("1970-01-01") + days.astype("timedelta64[D]")


def _stage_parquet(frame: pd.DataFrame, folder: Path) -> None:
    """pandas -> one Parquet file with pyarrow: far cheaper than shipping rows through the Py4J gateway."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-0.parquet")


def write_source(
    runtime: Runtime,
    contract: Contract,
    frames: Iterable[tuple[str, pd.DataFrame]],
    scratch: Path,
    progress: Callable[[str], None] = print,
) -> dict[str, int]:
    """(Re)create the source tables with the contract's DDL and load the frames; returns row counts.

    The tables are created from the contract (types, VARCHAR bounds, NOT NULL) before the rows go in, so
    the source looks like a governed production table, PK/FK metadata included.

    Why on threads, each table as its frame arrives: a table costs about a second of fixed work (staging
    file, CREATE and INSERT OVERWRITE commits) whatever its size, and numpy can draw the next table meanwhile.
    In a warm JVM that took a 1M-visit generation from 5.5 to 4.4 s; the first generation of a fresh JVM is
    dominated by its warm-up and gains nothing measurable. Not :func:`anonymizer.parallel.in_parallel`: the
    frames arrive one by one. The keys are declared at the end, parents first, as a workspace needs a
    parent's primary key before a foreign key can name it.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from pyspark.sql import functions as F

    from anonymizer.parallel import MAX_THREADS

    def load(table: str, frame: pd.DataFrame) -> int:
        started = time.perf_counter()
        name = contract.source_name(table)
        columns = contract_columns(contract, table)
        _stage_parquet(frame, scratch / table)
        if runtime.exists(name):
            runtime.drop(name)
        runtime.create_table(name, columns)
        df = runtime.spark.read.parquet(str(scratch / table))
        df = df.select(*[F.col(c.name).cast(spark_cast_type(c.type)).alias(c.name) for c in columns])
        runtime.overwrite(name, df, [c.name for c in columns])
        progress(f"  generated {name:<40} {len(frame):>10,} rows  {time.perf_counter() - started:6.1f} s")
        return len(frame)

    loads: dict[str, Future[int]] = {}
    with ThreadPoolExecutor(max_workers=MAX_THREADS) as pool:  # leaving the block waits for every load
        for table, frame in frames:
            loads[table] = pool.submit(load, table, frame)
    rows = {table: future.result() for table, future in loads.items()}  # the first failed load raises here
    counts = {table: rows[table] for table in contract.dependency_order() if table in rows}
    for table in counts:
        runtime.declare_keys(
            contract.source_name(table), contract.tables[table].primary_key, foreign_keys(contract, table)
        )
    shutil.rmtree(scratch, ignore_errors=True)
    return counts


def generate(
    runtime: Runtime,
    contract: Contract,
    sizes: Sizes,
    seed: int,
    scratch: Path,
    as_of: dt.date = DEFAULT_AS_OF,
    progress: Callable[[str], None] = print,
) -> dict[str, int]:
    """Generate and write the synthetic source schema the contract describes."""
    missing = [t for t in REQUIRED_TABLES if t not in contract.tables]
    if missing:
        raise UsageError(
            f"the generator builds the medical.visits star schema; the contract lacks {missing}",
            fix="generate with the packaged contract, or load your own files with `anonymizer load`",
        )
    return write_source(runtime, contract, iter_frames(sizes, seed, as_of), scratch, progress)
