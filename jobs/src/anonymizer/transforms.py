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

from anonymizer.digits import digit_map, non_ascii_rows, normalize_digits
from anonymizer.fpe import Alphabet, StringFpe, ff1_digits, permute_range, permute_signed
from anonymizer.phones import phone as phone  # the phone strategy lives in its own module
from anonymizer.pools import pool_array
from anonymizer.prf import U64, AesEcb, arrow_bytes, gather_padded, prf_strings, prf_strings_wide, prf_u64

I64 = npt.NDArray[np.int64]


# ------------------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------------------


def key_integers(key: bytes, values: npt.NDArray[np.integer], bits: int) -> I64:
    """Integer key column -> its keyed, sign-keeping permutation within the type (``bits`` = 7/15/31/63)."""
    return permute_signed(key, values, bits)


def key_strings(key: bytes, arr: pa.Array, alphabet: Alphabet = "classes") -> pa.Array:
    """String key column -> shape-preserving keyed permutation (digits stay digits, letters letters).

    Unicode digits are encrypted too: each is read as its value, encrypted with the ASCII digits, and
    written back in its own script ("١٢٣" -> "٩٠٧"). The script of every position is kept, so the map stays
    injective (``"١٢٣"`` and ``"123"`` remain distinct) and a PK and its FKs still agree.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    fpe = StringFpe(key, alphabet)
    rows = non_ascii_rows(arr)
    if rows.size == 0:
        return fpe.encrypt(arr)
    table = digit_map()
    originals = [str(v) for v in arr.take(pa.array(rows)).to_pylist()]
    mask = pa.array(np.isin(np.arange(len(arr)), rows))
    normalized = pc.replace_with_mask(arr, mask, pa.array([t.translate(table) for t in originals], type=arr.type))
    encrypted = fpe.encrypt(normalized)
    rendered = []
    for before, after in zip(originals, encrypted.take(pa.array(rows)).to_pylist(), strict=True):
        chars = list(after)
        for i, ch in enumerate(before):
            if ord(ch) in table:  # same script as the source position: zero of that script + new value
                chars[i] = chr(ord(ch) - (table[ord(ch)] - 48) + (ord(chars[i]) - 48))
        rendered.append("".join(chars))
    return pc.replace_with_mask(encrypted, mask, pa.array(rendered, type=arr.type))


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


# Levels per keyed block for unique_by: how many disambiguation levels are drawn *by the key* among the
# first ``pool size x LEVELS`` ids (person names: no middle initial or one of A-Z, which looks natural).
UNIQUE_LEVELS = {"person_name": len(_MIDDLE), "address": 10}
DEFAULT_UNIQUE_LEVELS = 4


def pool_from_keys(key: bytes, strategy: str, keys: npt.NDArray[np.integer]) -> pa.Array:
    """Replacement derived from the row's key so that distinct keys get distinct values.

    ``P`` is the pool size (``first x last`` for full names) and ``L`` the strategy's keyed levels
    (:data:`UNIQUE_LEVELS`). The key index (see :func:`_key_index`) is cut into blocks of ``B = P x L``;
    inside a block a keyed permutation of ``[0, B)`` picks both the pool entry (``mod P``) and the level
    (``div P``), so whether a name carries a middle initial (or " Unit 3", " Campus 2") is keyed, not a
    function of the id's magnitude (before, "Carlos A. Schultz" meant id > 690,000). Only ids beyond the
    first block (> 18 million for names) add a visible block suffix (" II", " III"...). Block, level and
    entry are together injective in the key, hence so is the name.
    """
    idx = _key_index(keys)
    if strategy == "person_name":
        first, last = pool_array("first_names"), pool_array("last_names")
        size = len(first) * len(last)
    else:
        pool = pool_array(POOL_OF[strategy])
        size = len(pool)
    levels = UNIQUE_LEVELS.get(strategy, DEFAULT_UNIQUE_LEVELS)
    block_size = np.uint64(size * levels)
    block = idx // block_size
    perm = permute_range(key, idx % block_size, size * levels, tweak=0x55)
    entry = perm % np.uint64(size)
    level = block * np.uint64(levels) + perm // np.uint64(size)
    if strategy == "person_name":
        # level -> (middle initial, suffix level): "Ann Lee" / "Ann B. Lee".. "Ann Z. Lee", then "Ann Lee II"
        middle = level % np.uint64(len(_MIDDLE))
        level = level // np.uint64(len(_MIDDLE))
        base = _join(
            _take(first, entry // np.uint64(len(last))),
            _take(pa.array(_MIDDLE), middle),
            " ",
            _take(last, entry % np.uint64(len(last))),
        )
    else:
        base = _take(pool, entry)
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
# Never issued to anyone: areas 900-999 are not SSNs, and groups 01-49 there are not ITINs (ITIN groups:
# 50-65, 70-88, 90-92, 94-99). 100 x 49 x 9,999 = 48,995,100 values.
NEVER_AREAS = 100
NEVER_GROUPS = 49
NEVER_SPACE = NEVER_AREAS * NEVER_GROUPS * SSN_SERIALS
SSN_FORMATS = {
    "issuable": r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$",
    "never_issued": r"^9\d\d-(?:0[1-9]|[1-4]\d)-(?!0000)\d{4}$",
}
SsnSpace = str  # "never_issued" | "issuable" (validated by the contract's SsnParams)
_POW10 = np.array([10**i for i in range(8, -1, -1)], dtype=np.int64)
_TAG_SSN = np.frombuffer(b"anonymizer:ssn/1", dtype=np.uint8)


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


def _never_number(index: npt.NDArray[np.integer]) -> I64:
    i = np.asarray(index).astype(np.int64)
    serial = i % SSN_SERIALS + 1
    group = (i // SSN_SERIALS) % NEVER_GROUPS + 1
    area = 900 + i // (SSN_SERIALS * NEVER_GROUPS)
    return area * 1_000_000 + group * 10_000 + serial


def _fixed_width(mat: npt.NDArray[np.uint8]) -> pa.Array:
    """An Arrow string array from an (n, w) ASCII byte matrix (zero-copy construction)."""
    n, w = mat.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * w).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(mat.tobytes())])


def _ssn_never_issued(key: bytes, number: I64) -> I64:
    """Any 9-digit number -> a number in the never-issued space (area 9xx, group 01-49), never itself.

    FF1 radix 10 over the nine digits (a permutation of all 10^9 numbers), reduced into the 48,995,100
    never-issued values. Necessarily many-to-one: 888,931,098 issuable SSNs cannot map one-to-one into 49
    million values (about 18 inputs per output; among ``n`` distinct SSNs ~ n^2 / 98 million pairs collide).
    """
    digits = ((number[:, None] // _POW10[None, :]) % 10).astype(np.uint8)
    enc = ff1_digits(AesEcb(key), digits, _TAG_SSN)
    value = (enc.astype(np.int64) * _POW10[None, :]).sum(axis=1)
    index = value % NEVER_SPACE
    out = _never_number(index)
    same = out == number
    out[same] = _never_number((index[same] + 1) % NEVER_SPACE)  # an input already in the space: never itself
    return out


def ssn(key: bytes, arr: pa.Array, space: SsnSpace = "never_issued") -> pa.Array:
    """SSN -> a fake SSN, separators and length kept; Unicode digits are read as digits first.

    ``never_issued`` (default): area 900-999 with group 01-49, a space issued to nobody (not SSNs, not
    ITINs), so a fake can never be a real stranger's SSN and DLP scanners do not flag it; see
    :func:`_ssn_never_issued` for why it cannot be one-to-one. ``issuable``: a valid SSN (area 001-899
    except 666, group 01-99, serial 0001-9999) is read as its index in the valid space and permuted there
    (FF1 with cycle walking), so valid inputs map one-to-one onto valid SSNs, which may be real people's.
    Invalid 9-digit inputs get a valid SSN picked by a keyed PRF. Values without exactly 9 digits become a
    PRF-picked ``ddd-dd-dddd`` of the chosen space: nothing leaves unchanged.
    """
    if space not in SSN_FORMATS:
        raise ValueError(f"unknown SSN space {space!r}; use one of {', '.join(SSN_FORMATS)}")
    arr = normalize_digits(arr)
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
        if space == "never_issued":
            new_number = _ssn_never_issued(key, number)
        else:
            index, ok = _ssn_index(number)
            new_index = np.zeros(len(rows9), dtype=np.int64)
            if ok.any():
                new_index[ok] = permute_range(key, index[ok], SSN_SPACE, tweak=0x55).astype(np.int64)
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
    if space == "never_issued":
        number = _never_number((prf_all % np.uint64(NEVER_SPACE)).astype(np.int64))
    else:
        number = _ssn_number((prf_all % np.uint64(SSN_SPACE)).astype(np.int64))
    digits = ((number[:, None] // _POW10[None, :]) % 10 + 48).astype(np.uint8)
    dash = np.full((len(arr), 1), ord("-"), dtype=np.uint8)
    formatted = _fixed_width(np.hstack([digits[:, :3], dash, digits[:, 3:5], dash, digits[:, 5:]]))
    return pc.if_else(pa.array(other), formatted, inplace)


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
