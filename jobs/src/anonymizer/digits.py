"""Unicode decimal digits (Arabic-Indic, full-width, Devanagari, ...) for the format-preserving strategies.

Why: the FPE strategies work on ASCII digits and keep every other character as a "separator". A phone
number or SSN written with other digits would then be published verbatim (issue 14). Every strategy that
encrypts digits first reads every Unicode decimal digit as its value (``unicodedata.decimal``).
"""

from __future__ import annotations

import unicodedata
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc


@cache
def digit_map() -> dict[int, int]:
    """Every non-ASCII Unicode decimal digit (category Nd) -> the code point of its ASCII digit."""
    table: dict[int, int] = {}
    for cp in range(0x80, 0x110000):
        value = unicodedata.decimal(chr(cp), None)
        if value is not None:
            table[cp] = 48 + value
    return table


def non_ascii_rows(arr: pa.Array) -> npt.NDArray[np.intp]:
    """Indexes of the non-null rows that hold any non-ASCII character."""
    ascii_ok = np.asarray(pc.string_is_ascii(arr).to_numpy(zero_copy_only=False), dtype=bool)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return np.nonzero(valid & ~ascii_ok)[0]


def normalize_digits(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Replace every Unicode decimal digit by its ASCII digit.

    Only rows with non-ASCII characters are touched (a Python loop over those rows, which are rare); the
    format-preserving strategies then encrypt those digits like any other instead of keeping them as
    "separators" and publishing them verbatim. Other non-ASCII characters are left to the caller.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    rows = non_ascii_rows(arr)
    if rows.size == 0:
        return arr
    table = digit_map()
    fixed = [str(v).translate(table) for v in arr.take(pa.array(rows)).to_pylist()]
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(arr, pa.array(mask), pa.array(fixed, type=arr.type))
