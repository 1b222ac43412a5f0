"""Column transforms on Arrow/numpy arrays: the vectorized bodies of the engine's pandas UDFs.

Each function takes a derived subkey (bytes, never the master key) and a whole column batch, and returns a
batch of the same length. None of them loops over rows in Python, except :func:`hmac_sha256` (see there).
They know nothing about Spark, so they are unit-testable and benchmarkable on plain arrays.

Null handling is the caller's: rows that are null in the input may hold anything in the output; the engine
masks them back to NULL with a native ``CASE WHEN`` (NULL in -> NULL out for every strategy).
"""

from __future__ import annotations

import hmac
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from anonymizer.fpe import Alphabet, StringFpe, permute_range, permute_signed
from anonymizer.pools import pool_array
from anonymizer.prf import U64, arrow_bytes, gather_padded, prf_strings, prf_strings_wide, prf_u64

I64 = npt.NDArray[np.int64]

# ------------------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------------------


def key_integers(key: bytes, values: npt.NDArray[np.integer], bits: int, *, decrypt: bool = False) -> I64:
    """Integer key column -> its keyed, sign-keeping permutation within the type (``bits`` = 7/15/31/63)."""
    return permute_signed(key, values, bits, decrypt=decrypt)


def key_strings(key: bytes, arr: pa.Array, alphabet: Alphabet = "classes", *, decrypt: bool = False) -> pa.Array:
    """String key column -> shape-preserving keyed permutation (digits stay digits, letters letters)."""
    return StringFpe(key, alphabet).apply(arr, decrypt=decrypt)


# ------------------------------------------------------------------------------------------------------
# pools
# ------------------------------------------------------------------------------------------------------

POOL_OF = {
    "first_name": "first_names",
    "last_name": "last_names",
    "city": "cities",
    "address": "addresses",
    "organization_name": "hospitals",
}
_ROMAN = [
    "",
    "I",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "VII",
    "VIII",
    "IX",
    "X",
    "XI",
    "XII",
    "XIII",
    "XIV",
    "XV",
    "XVI",
    "XVII",
    "XVIII",
    "XIX",
    "XX",
]
_MIDDLE = [""] + [f" {chr(c)}." for c in range(ord("A"), ord("Z") + 1)]


def _take(pool: pa.Array, idx: npt.NDArray[np.integer]) -> pa.Array:
    return pool.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays/scalars (vectorized in Arrow)."""
    return pc.binary_join_element_wise(*parts, "")


def pool_from_values(key: bytes, strategy: str, arr: pa.Array) -> pa.Array:
    """Replacement picked by a keyed PRF of the original value: same value -> same replacement everywhere.

    Distinct values may get the same replacement (a pool is finite); use ``unique_by`` when that matters.
    """
    u = prf_strings(key, arr, tag=0x504F4F4C)  # "POOL"
    if strategy == "person_name":
        first, last = pool_array("first_names"), pool_array("last_names")
        i = u % np.uint64(len(first))
        j = (u >> np.uint64(32)) % np.uint64(len(last))
        return _join(_take(first, i), " ", _take(last, j))
    pool = pool_array(POOL_OF[strategy])
    return _take(pool, u % np.uint64(len(pool)))


def _key_index(values: npt.NDArray[np.integer]) -> U64:
    """Injective map of int64 keys to uint64 indexes that keeps small non-negative keys small.

    Non-negative ``v`` -> ``v``; negative ``v`` -> ``2**63 + (-1 - v)``. Production ids are mostly small
    non-negative integers, so they stay below the pool product and need no suffix.
    """
    v = np.asarray(values).astype(np.int64, copy=False)
    return np.where(v < 0, (~v).astype(np.uint64) | np.uint64(1 << 63), v.astype(np.uint64))


def _suffixes(levels: U64, strategy: str) -> pa.Array:
    """Disambiguating suffix per level; level 0 = none. Injective in the level, so names stay distinct."""
    lv = levels.astype(np.int64, copy=False)
    numbers = pc.cast(pa.array(lv + 1), pa.string())
    if strategy in ("person_name", "first_name", "last_name"):
        roman = pa.array([f" {r}" if r else "" for r in _ROMAN[1:]], type=pa.string())  # level k -> roman(k+1)
        small = lv < len(_ROMAN) - 1
        text = pc.if_else(pa.array(small), roman.take(pa.array(np.where(small, lv, 0))), _join(" ", numbers))
        text = pc.if_else(pa.array(lv == 0), "", text)
    elif strategy == "address":
        text = pc.if_else(pa.array(lv == 0), "", _join(" Unit ", numbers))
    elif strategy == "organization_name":
        text = pc.if_else(pa.array(lv == 0), "", _join(" Campus ", numbers))
    else:
        text = pc.if_else(pa.array(lv == 0), "", _join(" ", numbers))
    return text


def pool_from_keys(key: bytes, strategy: str, keys: npt.NDArray[np.integer]) -> pa.Array:
    """Replacement derived from the row's key so that distinct keys get distinct values.

    The key index (see :func:`_key_index`) is split into ``index mod P`` and ``level = index div P`` where
    ``P`` is the pool size (``first x last`` for full names). ``index mod P`` goes through a keyed
    permutation of ``[0, P)`` (so neighbouring ids do not get neighbouring names) and is read as a
    mixed-radix number (first, last); ``level`` is 0 for every key below ``P`` and otherwise adds, for full
    names, a middle initial and then a suffix (" II", " III", ...; " Campus 2" for organizations, " Unit 2"
    for addresses). Both parts are injective in the key, hence so is the whole.
    """
    idx = _key_index(keys)
    if strategy == "person_name":
        first, last = pool_array("first_names"), pool_array("last_names")
        size = len(first) * len(last)
    else:
        pool = pool_array(POOL_OF[strategy])
        size = len(pool)
    level = idx // np.uint64(size)
    perm = permute_range(key, idx % np.uint64(size), size, tweak=0x55)
    if strategy == "person_name":
        # level -> (middle initial, suffix level): "Ann Lee", then "Ann B. Lee".. "Ann Z. Lee", then "Ann Lee II"
        middle = level % np.uint64(len(_MIDDLE))
        level = level // np.uint64(len(_MIDDLE))
        base = _join(
            _take(first, perm // np.uint64(len(last))),
            _take(pa.array(_MIDDLE), middle),
            " ",
            _take(last, perm % np.uint64(len(last))),
        )
    else:
        base = _take(pool, perm)
    if not level.any():
        return base
    return _join(base, _suffixes(level, strategy))


# ------------------------------------------------------------------------------------------------------
# SSN, phone, email
# ------------------------------------------------------------------------------------------------------

SSN_AREAS = 898  # 001..899 without 666
SSN_GROUPS = 99  # 01..99
SSN_SERIALS = 9999  # 0001..9999
SSN_SPACE = SSN_AREAS * SSN_GROUPS * SSN_SERIALS
_POW10 = np.array([10**i for i in range(8, -1, -1)], dtype=np.int64)


def _ssn_index(number: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Index of a 9-digit SSN in the valid-SSN space, and whether it is valid."""
    area = number // 1_000_000
    group = (number // 10_000) % 100
    serial = number % 10_000
    valid = (area >= 1) & (area <= 899) & (area != 666) & (group >= 1) & (serial >= 1)
    area_idx = area - 1 - (area > 666)
    return (area_idx * SSN_GROUPS + (group - 1)) * SSN_SERIALS + (serial - 1), valid


def _ssn_number(index: npt.NDArray[np.integer]) -> I64:
    i = np.asarray(index).astype(np.int64)
    serial = i % SSN_SERIALS + 1
    group = (i // SSN_SERIALS) % SSN_GROUPS + 1
    area_idx = i // (SSN_SERIALS * SSN_GROUPS)
    area = area_idx + 1 + (area_idx >= 665)
    return area * 1_000_000 + group * 10_000 + serial


def _fixed_width(mat: npt.NDArray[np.uint8]) -> pa.Array:
    """An Arrow string array from an (n, w) ASCII byte matrix (zero-copy construction)."""
    n, w = mat.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * w).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(mat.tobytes())])


def ssn(key: bytes, arr: pa.Array, *, decrypt: bool = False) -> pa.Array:
    """SSN -> another always-valid SSN, separators and length kept.

    A valid SSN (area 001-899 except 666, group 01-99, serial 0001-9999) is read as its index in the valid
    space and permuted there (cycle-walking Feistel), so valid inputs map bijectively onto valid outputs.
    Invalid 9-digit inputs (e.g. ITINs 9xx) get a valid SSN picked by a keyed PRF (not invertible, may
    coincide with another row's output). Values without exactly 9 digits become a PRF-picked ``ddd-dd-dddd``.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets, data, valid_rows = arrow_bytes(arr)
    lens = offsets[1:] - offsets[:-1]
    out = data.copy()
    other = np.zeros(len(arr), dtype=bool)
    prf_all: U64 | None = None
    for width in np.unique(lens[valid_rows]):
        rows = np.nonzero((lens == width) & valid_rows)[0]
        mat = gather_padded(offsets, data, rows, int(width))
        digit = (mat >= 48) & (mat <= 57)
        nine = digit.sum(axis=1) == 9
        other[rows[~nine]] = True
        if not nine.any():
            continue
        rows9, mat9, dig9 = rows[nine], mat[nine], digit[nine]
        number = ((mat9[dig9].reshape(-1, 9).astype(np.int64) - 48) * _POW10).sum(axis=1)
        index, ok = _ssn_index(number)
        new_index = np.zeros(len(rows9), dtype=np.int64)
        if ok.any():
            new_index[ok] = permute_range(key, index[ok], SSN_SPACE, tweak=0x55, decrypt=decrypt).astype(np.int64)
        if (~ok).any():
            if prf_all is None:
                prf_all = prf_strings(key, arr, tag=0x53534E)  # "SSN"
            new_index[~ok] = (prf_all[rows9[~ok]] % np.uint64(SSN_SPACE)).astype(np.int64)
        new_number = _ssn_number(new_index)
        new_digits = (new_number[:, None] // _POW10[None, :]) % 10 + 48
        mat9 = mat9.copy()
        mat9[dig9] = new_digits.astype(np.uint8).reshape(-1)
        idx = offsets[rows9][:, None] + np.arange(int(width))[None, :]
        out[idx] = mat9
    bufs = arr.buffers()
    inplace = pa.Array.from_buffers(
        arr.type, len(arr), [bufs[0], bufs[1], pa.py_buffer(out)], arr.null_count, arr.offset
    )
    if not other.any():
        return inplace
    if prf_all is None:
        prf_all = prf_strings(key, arr, tag=0x53534E)
    number = _ssn_number((prf_all % np.uint64(SSN_SPACE)).astype(np.int64))
    digits = ((number[:, None] // _POW10[None, :]) % 10 + 48).astype(np.uint8)
    dash = np.full((len(arr), 1), ord("-"), dtype=np.uint8)
    formatted = _fixed_width(np.hstack([digits[:, :3], dash, digits[:, 3:5], dash, digits[:, 5:]]))
    return pc.if_else(pa.array(other), formatted, inplace)


def phone(key: bytes, arr: pa.Array, *, decrypt: bool = False) -> pa.Array:
    """Phone number -> its digits format-preserving encrypted; separators, letters (``x`` ext) and length kept."""
    return StringFpe(key, "digits").apply(arr, decrypt=decrypt)


_B32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


@cache
def _lower_pool(name: str) -> pa.Array:
    return pc.utf8_lower(pool_array(name))


def email(key: bytes, arr: pa.Array, *, keep_domain: bool = False) -> pa.Array:
    """Email -> ``first.last.<8 base32>@example.(com|net|org)`` (or the original domain with keep_domain).

    The local part is picked by a 128-bit keyed PRF of the whole original address: deterministic, and two
    distinct addresses collide with probability about 2^-63 per pair (name pools x 40 random bits). The
    replacement domain depends only on the original domain, so addresses of one organisation stay together.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    wide = prf_strings_wide(key, arr, tag=0x454D41494C).view(np.uint64)  # "EMAIL"
    u0, u1 = wide[:, 0], wide[:, 1]
    first, last = _lower_pool("first_names"), _lower_pool("last_names")
    shifts = np.arange(8, dtype=np.uint64) * np.uint64(5)
    tag = _B32[((u1[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.int64)]
    local = _join(
        _take(first, u0 % np.uint64(len(first))),
        ".",
        _take(last, (u0 >> np.uint64(32)) % np.uint64(len(last))),
        ".",
        _fixed_width(tag),
    )
    has_at = pc.match_substring(arr, "@")
    domain = pc.if_else(has_at, pc.replace_substring_regex(arr, r"^.*@", ""), "")
    if keep_domain:
        new_domain = pc.if_else(pc.equal(domain, ""), EMAIL_DOMAINS[0], domain)
    else:
        d = prf_strings(
            key, domain.combine_chunks() if isinstance(domain, pa.ChunkedArray) else domain, tag=0x444F4D
        )  # "DOM"
        new_domain = _take(pa.array(EMAIL_DOMAINS), d % np.uint64(len(EMAIL_DOMAINS)))
    return _join(local, "@", new_domain)


# ------------------------------------------------------------------------------------------------------
# dates, hashes
# ------------------------------------------------------------------------------------------------------


def shift_days(key: bytes, entity: npt.NDArray[np.integer] | pa.Array, max_days: int) -> npt.NDArray[np.int32]:
    """Per-entity day offset in ``[-max_days, -1]`` from a keyed PRF of the entity's raw key value.

    Never zero (a shift of 0 would publish the true date) and never positive (a shifted date is never in
    the future, so "date <= today" checks keep holding).
    """
    if isinstance(entity, (pa.Array, pa.ChunkedArray)):
        u = prf_strings(key, entity, tag=0x53484946)  # "SHIF"
    else:
        u = prf_u64(key, entity, tag=0x53484946)
    return (-(1 + (u % np.uint64(max_days)).astype(np.int64))).astype(np.int32)


def hmac_sha256(key: bytes, values: list[bytes | None]) -> list[bytes | None]:
    """HMAC-SHA256 digest of each value.

    The one per-value loop of the engine: no library offers a batched SHA-256, and the contract promises
    HMAC-SHA256 for ``hash``. ``hmac.digest`` is a single C call per value (about 1 µs), and ``hash`` is
    meant for rare free-text/binary columns, not keys (keys use FPE).
    """
    return [None if v is None else hmac.digest(key, v, "sha256") for v in values]
