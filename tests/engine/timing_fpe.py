"""Timing of the keyed primitives on 1M values (best of 3), for before/after comparisons of fpe changes.

Not a test (no ``test_`` prefix). Run: ``PYTHONPATH=jobs/src .venv/bin/python tests/engine/timing_fpe.py``;
point PYTHONPATH at an older ``git archive`` of jobs/src to time the previous version on the same machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from anonymizer import fpe, transforms

KEY = bytes(range(7, 39))
N = 1_000_000


def best(name: str, f: Callable[[], object]) -> None:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    print(f"{name:<28} {min(times):.3f} s")


def main() -> None:
    rng = np.random.default_rng(1)
    ints = rng.integers(0, 2**31, N)
    idx = rng.integers(0, 888_931_098, N)
    a, b, c = rng.integers(201, 990, N), rng.integers(200, 1000, N), rng.integers(0, 10000, N)
    phones = pa.array([f"{x}-{y}-{z:04d}" for x, y, z in zip(a, b, c, strict=True)])
    s1, s2, s3 = rng.integers(1, 900, N), rng.integers(1, 100, N), rng.integers(1, 10000, N)
    ssns = pa.array([f"{x:03d}-{y:02d}-{z:04d}" for x, y, z in zip(s1, s2, s3, strict=True)])
    digits = pa.array([f"{x:09d}" for x in rng.integers(0, 10**9, N)])
    best("permute_signed int31", lambda: fpe.permute_signed(KEY, ints, 31))
    best("permute_range 888.9M", lambda: fpe.permute_range(KEY, idx, 888_931_098))
    best("string key 9 digits", lambda: transforms.key_strings(KEY, digits))
    best("phone", lambda: transforms.phone(KEY, phones))
    best("ssn", lambda: transforms.ssn(KEY, ssns))


if __name__ == "__main__":
    main()
