"""The ``phone`` strategy: fake phone numbers that keep the country code and a valid NANP shape.

Rules, and why:

* **Country code kept.** A number written ``+CC ...`` keeps its E.164 country code (its length is read
  from the code's first digits, :func:`country_code_length`): encrypting it would move a US number to
  Brazil. Without ``+``, 10 digits (or 11 starting with a ``1`` trunk prefix, kept) are read as NANP.
* **Valid NANP numbers for +1.** Area code (NPA) and exchange (NXX) each come from the valid forms
  ``[2-9][0-8][0-9]`` minus N11, and ``[2-9][0-9][0-9]`` minus N11: 712 x 792 x 10,000 = 5.6 billion
  numbers. A valid input is an index in that space, permuted by FF1 (radix 2, cycle walking): distinct
  valid numbers stay distinct. An invalid 10-digit input (area code 123) is mapped into the space by FF1
  radix 10 over its digits and a reduction (many-to-one, but always valid).
* **Other national numbers** and the digits after the national number (extensions) are FF1 radix 10
  (two or more digits) or a keyed non-zero digit shift (a single digit).
* **Never the source.** A permutation can have fixed points; a row whose digits come out unchanged is
  re-encrypted with another tweak until they differ, so no output equals its input (for such rows, and
  only them, two inputs may share an output, with probability ~ 1 / 5.6 billion each).
* **Unicode digits** are read as digits first (:mod:`anonymizer.digits`); letters (``x``/``ext``) and
  separators are kept, so the format checks see the same skeleton.

What can still be real: an output is a well-formed NANP number with a valid area code and exchange, so it
may be assigned to a real subscriber somewhere (the 555-01XX fictional range has only 100 numbers per
area code, far too few to keep outputs distinct). Outputs are pseudonyms, not reserved test numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from anonymizer.digits import normalize_digits
from anonymizer.fpe import ff1_digits, permute_range
from anonymizer.prf import AesEcb, arrow_bytes, gather_padded

I64 = npt.NDArray[np.int64]


def _valid_codes(second_max: int) -> npt.NDArray[np.int64]:
    codes = [c for c in range(200, 1000) if (c // 10) % 10 <= second_max and c % 100 != 11]
    return np.array(codes, dtype=np.int64)


NPA_CODES = _valid_codes(8)  # [2-9][0-8][0-9] without N11: 712 codes
NXX_CODES = _valid_codes(9)  # [2-9][0-9][0-9] without N11: 792 codes
NANP_SPACE = len(NPA_CODES) * len(NXX_CODES) * 10_000
_NPA_RANK = np.full(1000, -1, dtype=np.int64)
_NPA_RANK[NPA_CODES] = np.arange(len(NPA_CODES))
_NXX_RANK = np.full(1000, -1, dtype=np.int64)
_NXX_RANK[NXX_CODES] = np.arange(len(NXX_CODES))
_P10 = np.array([10**i for i in range(9, -1, -1)], dtype=np.int64)
_TWO_DIGIT = {
    "2": {"0", "7"},
    "3": {"0", "1", "2", "3", "4", "6", "9"},
    "4": {"0", "1", "3", "4", "5", "6", "7", "8", "9"},
    "5": {"1", "2", "3", "4", "5", "6", "7", "8"},
    "6": {"0", "1", "2", "3", "4", "5", "6"},
    "8": {"1", "2", "4", "6"},
    "9": {"0", "1", "2", "3", "4", "5", "8"},
}


def country_code_length(digits: str) -> int:
    """Length of the E.164 country code at the start of ``digits`` (ITU zones: 1 and 7 are one digit)."""
    if not digits:
        return 0
    first = digits[0]
    if first in "17":
        return 1
    if len(digits) >= 2 and digits[1] in _TWO_DIGIT.get(first, set()):
        return 2
    return min(3, len(digits))


def _nanp_index(number: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    npa = _NPA_RANK[number // 10_000_000]
    nxx = _NXX_RANK[(number // 10_000) % 1000]
    ok = (npa >= 0) & (nxx >= 0)
    return (np.maximum(npa, 0) * len(NXX_CODES) + np.maximum(nxx, 0)) * 10_000 + number % 10_000, ok


def _nanp_number(index: npt.NDArray[np.integer]) -> I64:
    i = np.asarray(index).astype(np.int64)
    line = i % 10_000
    nxx = NXX_CODES[(i // 10_000) % len(NXX_CODES)]
    npa = NPA_CODES[i // (10_000 * len(NXX_CODES))]
    return npa * 10_000_000 + nxx * 10_000 + line


def _to_digits(number: I64, width: int) -> npt.NDArray[np.uint8]:
    return ((number[:, None] // _P10[10 - width :][None, :]) % 10).astype(np.uint8)


def _tweak(label: bytes) -> npt.NDArray[np.uint8]:
    return np.frombuffer(label.ljust(16, b"\0")[:16], dtype=np.uint8)


def _nanp(key: bytes, digits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(rows, 10) NANP digit rows -> valid, different NANP digit rows (see the module docstring)."""
    number = (digits.astype(np.int64) * _P10[None, :]).sum(axis=1)
    index, ok = _nanp_index(number)
    out = np.zeros(len(number), dtype=np.int64)
    if ok.any():
        out[ok] = permute_range(key, index[ok], NANP_SPACE, tweak=0x4E414E50).astype(np.int64)  # "NANP"
        attempt = 1
        same = np.nonzero(ok & (out == index))[0]
        while same.size:  # a fixed point: re-encrypt with another tweak until it moves
            out[same] = permute_range(key, index[same], NANP_SPACE, tweak=0x4E414E50 + attempt).astype(np.int64)
            same = same[out[same] == index[same]]
            attempt += 1
    if (~ok).any():
        enc = ff1_digits(AesEcb(key), digits[~ok], _tweak(b"phone/nanp-bad"))
        out[~ok] = (enc.astype(np.int64) * _P10[None, :]).sum(axis=1) % NANP_SPACE
    return _to_digits(_nanp_number(out), 10)


def _generic(key: bytes, digits: npt.NDArray[np.uint8], label: bytes) -> npt.NDArray[np.uint8]:
    """(rows, n) digit rows -> FF1 radix 10 (n >= 2) or a keyed non-zero shift (n == 1); never unchanged."""
    n = digits.shape[1]
    if n == 1:
        shift = np.frombuffer(AesEcb(key).blocks(_tweak(label + b"/1")).tobytes(), dtype=np.uint8)[0] % 9 + 1
        shifted: npt.NDArray[np.uint8] = ((digits + shift) % 10).astype(np.uint8)
        return shifted
    out = ff1_digits(AesEcb(key), digits, _tweak(label))
    attempt = 0
    same = np.nonzero((out == digits).all(axis=1))[0]
    while same.size:
        attempt += 1
        out[same] = ff1_digits(AesEcb(key), digits[same], _tweak(label + b"/" + bytes([attempt])))
        same = same[(out[same] == digits[same]).all(axis=1)]
    return out


def _cc_table() -> npt.NDArray[np.int8]:
    """Country-code length by the first two digits (index ``10 * d0 + d1``)."""
    return np.array([country_code_length(f"{i:02d}0") for i in range(100)], dtype=np.int8)


_CC_LEN = _cc_table()


def _layouts(mat: npt.NDArray[np.uint8], digit: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Per row of a same-width group: (lead, national, country code value) packed as one int64 key.

    ``lead`` digits are kept (a country code, or the NANP trunk ``1``); ``national`` digits are the number
    itself (10 for NANP, marked by a country-code value of 1); the digits after them are an extension.
    """
    total = digit.sum(axis=1)
    first = np.argmax(mat != 32, axis=1)  # first non-space byte
    plus = mat[np.arange(len(mat)), first] == ord("+")
    rank = np.cumsum(digit, axis=1, dtype=np.int16)  # 1 at the first digit, 2 at the second, ...
    d = np.where(digit, mat.astype(np.int64) - 48, 0)
    d0, d1, d2 = ((d * (rank == j)).sum(axis=1) for j in (1, 2, 3))  # first three digits (0 when absent)
    cc_len = np.minimum(_CC_LEN[d0 * 10 + d1].astype(np.int64), total)
    cc = np.where(cc_len == 1, d0, np.where(cc_len == 2, d0 * 10 + d1, d0 * 100 + d1 * 10 + d2))
    trunk = (d0 == 1) & (total >= 11)
    nanp = np.where(plus, (cc_len == 1) & trunk, trunk | (total >= 10))
    lead = np.where(nanp, trunk.astype(np.int64), np.where(plus, cc_len, 0))
    national = np.where(nanp, 10, total - lead)
    code = np.where(nanp, 1, np.where(plus, cc, 0))
    packed: npt.NDArray[np.int64] = (lead << 40) | (national << 20) | code
    return packed


def phone(key: bytes, arr: pa.Array) -> pa.Array:
    """Phone numbers -> fake numbers with the same country code, format, separators and length."""
    arr = normalize_digits(arr)
    offsets, data, valid = arrow_bytes(arr)
    out = data.copy()
    lens = offsets[1:] - offsets[:-1]
    for width in np.unique(lens[valid & (lens > 0)]):
        rows_w = np.nonzero((lens == width) & valid)[0]
        mat = gather_padded(offsets, data, rows_w, int(width))
        digit = (mat >= 48) & (mat <= 57)
        total = digit.sum(axis=1)
        layout = _layouts(mat, digit) | (total.astype(np.int64) << 50)  # one int64 per layout: a cheap unique
        for group in np.unique(layout):
            n_digits, lay = int(group) >> 50, int(group) & ((1 << 50) - 1)
            if n_digits == 0:
                continue
            sel = np.nonzero(layout == group)[0]
            lead, national, code = lay >> 40, (lay >> 20) & 0xFFFFF, lay & 0xFFFFF
            cols = np.nonzero(digit[sel])[1].reshape(len(sel), n_digits)  # digit columns, in order
            digits = (np.take_along_axis(mat[sel], cols, axis=1) - 48).astype(np.uint8)
            new = digits.copy()
            body = slice(lead, lead + national)
            if national:
                if code == 1 and national == 10:
                    new[:, body] = _nanp(key, digits[:, body])
                else:
                    new[:, body] = _generic(key, digits[:, body], b"phone/cc%d" % code)
            if lead + national < n_digits:
                rest = slice(lead + national, n_digits)
                new[:, rest] = _generic(key, digits[:, rest], b"phone/ext")
            byte_idx = offsets[rows_w[sel]][:, None] + cols
            out[byte_idx] = new + 48
    bufs = arr.buffers()
    return pa.Array.from_buffers(arr.type, len(arr), [bufs[0], bufs[1], pa.py_buffer(out)], arr.null_count, arr.offset)
