"""Replacement-value pools (names, cities, addresses, hospitals) shipped with the package as text files.

Why ship them instead of calling Faker at run time: the output of a run must depend only on the key and the
data. Faker's word lists and generators change between releases, and Faker is not installed on a
Databricks cluster. The pools are generated once, deterministically (fixed seed, en_US, Faker pinned in the dev tools'
tools/pyproject.toml), by ``python -m anonymizer_tools.pools_build --build`` (not shipped in the wheel); a test
rebuilds them and compares with the shipped files, so a silent drift cannot happen.

The engine only indexes into these lists (``pyarrow`` ``take``), so selecting replacements is vectorized.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa

POOL_NAMES = ("first_names", "last_names", "cities", "addresses", "hospitals")


def pool_dir() -> Path:
    return Path(str(resources.files("anonymizer").joinpath("pools")))


@cache
def load_pool(name: str) -> tuple[str, ...]:
    """The shipped pool ``name`` (one value per line)."""
    if name not in POOL_NAMES:
        raise KeyError(f"unknown pool {name!r}; pools: {', '.join(POOL_NAMES)}")
    text = resources.files("anonymizer").joinpath("pools", f"{name}.txt").read_text("utf-8")
    values = tuple(line for line in text.splitlines() if line)
    if not values:
        raise RuntimeError(f"pool {name} is empty: rebuild with `python -m anonymizer_tools.pools_build --build`")
    return values


@cache
def pool_array(name: str) -> pa.Array:
    """The pool as an Arrow string array, for vectorized ``take``."""
    return pa.array(load_pool(name), type=pa.string())
