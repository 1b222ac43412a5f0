"""Format-preserving encryption: keyed permutations of integers and of shaped strings (vectorized).

Why a permutation: a primary key and every foreign key to it must map through the *same bijection* so that
joins survive with their cardinality and no two keys collide. A keyed Feistel network is a bijection by
construction (each round is invertible whatever its round function), so there is nothing to check at run
time and nothing to store (no lookup table to protect or to keep in sync across runs).

Integers: an alternating bit-Feistel (``ROUNDS`` = 10 rounds, as NIST FF1) whose round function is AES
(``cryptography``) over ``[tweak | round | half]``, evaluated for all rows in one ECB call per round. Odd
bit widths use unbalanced halves. Any domain ``[0, n)`` is reached by cycle walking: re-encrypt only the
rows that landed outside, until none is (a permutation restricted this way stays a permutation).

Strings: every ASCII letter/digit position is a digit of a mixed-radix numeral (digits radix 10, letters
radix 26 with case kept, or hex radix 16 with case kept); everything else (separators, non-ASCII) is kept.
A Feistel over the positions adds, position by position and modulo its radix, a keyed PRF (CBC-MAC then
counter expansion, both AES) of the other half of the positions and of the string's shape. Rows are grouped
by byte length so each round is a handful of ECB calls over 2-D numpy arrays, whatever the shapes.

The inverse functions exist so tests can prove bijectivity; the job never decrypts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from anonymizer.prf import BLOCK, U8, U64, AesEcb, arrow_bytes, gather_padded

ROUNDS = 10
Alphabet = Literal["classes", "hex", "digits"]

_TAG_INT = 0x49_4E_54_46_50_45  # "INTFPE"
_TAG_STR = 0x53_54_52_46_50_45  # "STRFPE"
_TAG_ONE = 0x4F_4E_45_50_4F_53  # "ONEPOS"
_M64 = (1 << 64) - 1


def _second_key(key: bytes) -> bytes:
    """An independent AES-256 key derived from ``key`` (AES as a PRF on two constant blocks)."""
    consts = np.zeros((2, 2), dtype=np.uint64)
    consts[:, 0] = np.uint64(0x4B_45_59_32)  # "KEY2"
    consts[:, 1] = np.array([1, 2], dtype=np.uint64)
    return AesEcb(key).blocks(consts).tobytes()


# ------------------------------------------------------------------------------------------------------
# Integers
# ------------------------------------------------------------------------------------------------------


def _feistel_bits(aes: AesEcb, x: U64, bits: int, tweak: int, decrypt: bool, rounds: int = ROUNDS) -> U64:
    """Alternating Feistel over ``bits``-bit values: left = high ``bits//2`` bits, right = the rest.

    Even rounds: ``L ^= F(R)``; odd rounds: ``R ^= F(L)``. XOR inside a fixed split keeps the halves' widths,
    which is what makes the unbalanced (odd ``bits``) case a bijection too.
    """
    if not 2 <= bits <= 64:
        raise ValueError("bit width must be in 2..64")
    a = bits // 2
    b = bits - a
    mask_a = np.uint64((1 << a) - 1)
    mask_b = np.uint64((1 << b) - 1)
    left = (x >> np.uint64(b)) & mask_a
    right = x & mask_b
    order = range(rounds - 1, -1, -1) if decrypt else range(rounds)
    base = ((_TAG_INT & 0xFFFFFFFF) << 32) | ((tweak & 0xFFFF) << 16) | (bits << 8)
    # one block buffer and one output buffer for all rounds: word 0 = tweak|round, word 1 = the half
    blk = np.empty((len(x), 2), dtype=np.uint64)
    out = np.empty(blk.nbytes + BLOCK - 1, dtype=np.uint8)
    for r in order:
        blk[:, 0] = np.uint64((base | r) & _M64)
        if r % 2 == 0:
            blk[:, 1] = right
            f = aes.blocks(blk, out).view(np.uint64)[:, 0]
            left ^= f & mask_a
        else:
            blk[:, 1] = left
            f = aes.blocks(blk, out).view(np.uint64)[:, 0]
            right ^= f & mask_b
    return (left << np.uint64(b)) | right


def permute_bits(
    key: bytes, values: npt.NDArray[np.integer], bits: int, *, tweak: int = 0, decrypt: bool = False
) -> U64:
    """Keyed permutation of ``[0, 2**bits)`` applied to every value (values must be in range)."""
    x = np.asarray(values).astype(np.uint64, copy=False)
    if x.size and int(x.max()) >> bits:
        raise ValueError(f"value outside [0, 2^{bits})")
    return _feistel_bits(AesEcb(key), x, bits, tweak, decrypt)


def permute_range(key: bytes, values: npt.NDArray[np.integer], n: int, *, tweak: int = 0, decrypt: bool = False) -> U64:
    """Keyed permutation of ``[0, n)`` by cycle walking over the smallest covering bit-Feistel.

    Only the rows still outside ``[0, n)`` are re-encrypted at each step (vectorized); the expected number of
    steps is below 2 because ``n`` covers more than half of the power-of-two domain.
    """
    if n < 1:
        raise ValueError("domain size must be >= 1")
    x = np.asarray(values).astype(np.uint64, copy=True)
    if x.size and int(x.max()) >= n:
        raise ValueError(f"value outside [0, {n})")
    if n == 1:
        return x
    bits = max(2, (n - 1).bit_length())
    aes = AesEcb(key)
    y = _feistel_bits(aes, x, bits, tweak, decrypt)
    out = np.nonzero(y >= np.uint64(n))[0]
    while out.size:
        y[out] = _feistel_bits(aes, y[out], bits, tweak, decrypt)
        out = out[y[out] >= np.uint64(n)]
    return y


def permute_signed(
    key: bytes, values: npt.NDArray[np.integer], bits: int, *, tweak: int = 0, decrypt: bool = False
) -> npt.NDArray[np.int64]:
    """Keyed permutation of a signed integer type's range that keeps the sign.

    Non-negative values permute within ``[0, 2**bits)``; a negative ``v`` maps to ``-1 - P(-1 - v)``, a
    bijection of the negatives. ``bits`` is the type's non-negative width (INT: 31, BIGINT: 63).
    """
    v = np.asarray(values).astype(np.int64, copy=False)
    neg = v < 0
    mag = np.where(neg, ~v, v).astype(np.uint64)
    if mag.size and int(mag.max()) >> bits:
        raise ValueError(f"value outside the signed {bits + 1}-bit range")
    p = _feistel_bits(AesEcb(key), mag, bits, tweak, decrypt).astype(np.int64)
    return np.where(neg, ~p, p)


# ------------------------------------------------------------------------------------------------------
# Strings
# ------------------------------------------------------------------------------------------------------

# position codes: 0 kept, 1 digit, 2 lower letter, 3 upper letter, 4 lower hex digit, 5 upper hex digit
_RADIX = np.array([1, 10, 26, 26, 16, 16], dtype=np.int32)
_RENDER = np.zeros((6, 26), dtype=np.uint8)
_RENDER[1, :10] = np.frombuffer(b"0123456789", dtype=np.uint8)
_RENDER[2, :] = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_RENDER[3, :] = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_RENDER[4, :16] = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_RENDER[5, :16] = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_MODE_ID = {"classes": 1, "hex": 2, "digits": 3}
_RADIX_U8 = _RADIX.astype(np.uint8)


def _classify(m: U8, alphabet: Alphabet) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32]]:
    """Codes and digit values of an (n, L) byte matrix; the codes of a row are its *shape*.

    In ``hex`` mode a row is a hex row when all its letters are a-f or all are A-F (case kept as a row
    property: upper-case rows must keep at least one letter, enforced by cycle walking); any other row with
    letters is encrypted by classes and must stay outside the hex rows (also cycle walking). These two rules
    make the shape recomputable from the output, which is what bijectivity needs.
    """
    digit = (m >= 48) & (m <= 57)
    lower = (m >= 97) & (m <= 122)
    upper = (m >= 65) & (m <= 90)
    code = np.zeros(m.shape, dtype=np.int8)
    value = np.zeros(m.shape, dtype=np.int32)
    value[digit] = m[digit].astype(np.int32) - 48
    code[digit] = 1
    if alphabet == "digits":
        return code, value
    value[lower] = m[lower].astype(np.int32) - 97
    value[upper] = m[upper].astype(np.int32) - 65
    code[lower] = 2
    code[upper] = 3
    if alphabet == "classes":
        return code, value
    lhex = lower & (m <= 102)
    uhex = upper & (m <= 70)
    nonhex_letter = (lower & ~lhex) | (upper & ~uhex)
    has_l = lhex.any(axis=1)
    has_u = uhex.any(axis=1)
    hex_row: npt.NDArray[np.bool_] = np.asarray(~nonhex_letter.any(axis=1) & ~(has_l & has_u))
    upper_row: npt.NDArray[np.bool_] = np.asarray(hex_row & has_u)
    hexpos = (digit | lhex | uhex) & hex_row[:, None]
    value[hexpos & lhex] += 10
    value[hexpos & uhex] += 10
    code = np.where(hexpos, np.where(upper_row[:, None], 5, 4), code).astype(np.int8)
    return code, value


def _valid_rows(code: npt.NDArray[np.int8], value: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    """Rows whose (encrypted) digits still belong to the row's class in ``hex`` mode (see _classify)."""
    up_hex_row = (code == 5).any(axis=1)
    up_ok = ((code == 5) & (value >= 10)).any(axis=1)
    letter = (code == 2) | (code == 3)
    cls_row = letter.any(axis=1)
    cls_ok = (letter & (value >= 6)).any(axis=1) | (
        ((code == 2) & (value < 6)).any(axis=1) & ((code == 3) & (value < 6)).any(axis=1)
    )
    return np.where(up_hex_row, up_ok, np.where(cls_row, cls_ok, True))


class StringFpe:
    """Shape-preserving keyed permutation of strings (see the module docstring)."""

    __slots__ = ("_alphabet", "_exp", "_mac", "_single", "_single_inv")

    def __init__(self, key: bytes, alphabet: Alphabet = "classes") -> None:
        self._alphabet: Alphabet = alphabet
        self._mac = AesEcb(key)
        self._exp = AesEcb(_second_key(key))
        # Rows with a single permutable position: a keyed shuffle of that position's alphabet.
        single = np.zeros((6, 26), dtype=np.int32)
        for c in range(1, 6):
            r = int(_RADIX[c])
            blk = np.zeros((r, 2), dtype=np.uint64)
            blk[:, 0] = np.uint64((_TAG_ONE << 8) | c)
            blk[:, 1] = np.arange(r, dtype=np.uint64)
            prf = self._mac.blocks(blk).view(np.uint64)[:, 0]
            single[c, :r] = np.argsort(prf, kind="stable")
        inv = np.zeros_like(single)
        for c in range(1, 6):
            r = int(_RADIX[c])
            inv[c, single[c, :r]] = np.arange(r)
        self._single = single
        self._single_inv = inv

    def __repr__(self) -> str:
        return f"StringFpe(alphabet={self._alphabet!r}, <key hidden>)"

    # one Feistel pass over some rows of a same-length group
    def _rounds(
        self, code: npt.NDArray[np.int8], value: npt.NDArray[np.int32], kept: U8, decrypt: bool
    ) -> npt.NDArray[np.int32]:
        width = value.shape[1]
        perm = code > 0
        k = perm.sum(axis=1)
        out = value.copy()
        one = np.nonzero(k == 1)[0]
        if one.size:
            table = self._single_inv if decrypt else self._single
            pos = np.argmax(perm[one], axis=1)
            c = code[one, pos]
            out[one, pos] = table[c, value[one, pos]]
        many = np.nonzero(k >= 2)[0]
        if many.size == 0:
            return out
        code_m = code[many]
        val = value[many].astype(np.uint8)
        perm_m = perm[many]
        radix = _RADIX_U8[code_m]
        radix32 = radix.astype(np.uint32)
        rank = np.cumsum(perm_m, axis=1, dtype=np.int16) - 1
        half_a = perm_m & (rank < (k[many] // 2).astype(np.int16)[:, None])
        half_b = perm_m & ~half_a
        # shape prefix of the MAC, constant across rounds: header, kept bytes, codes
        m = len(many)
        hdr = np.zeros((m, 2), dtype=np.uint64)
        hdr[:, 0] = np.uint64(_TAG_STR)
        hdr[:, 1] = np.uint64(width | (_MODE_ID[self._alphabet] << 32))
        state0 = self._mac.blocks(hdr).copy()
        nb = (width + BLOCK - 1) // BLOCK
        shape = np.zeros((m, 2 * nb * BLOCK), dtype=np.uint8)
        shape[:, :width] = code_m.astype(np.uint8)
        shape[:, nb * BLOCK : nb * BLOCK + width] = kept[many]
        for j in range(2 * nb):
            state0 = self._mac.blocks(state0 ^ shape[:, j * BLOCK : (j + 1) * BLOCK])
        nexp = (2 * width + BLOCK - 1) // BLOCK
        ctr = np.zeros((nexp, BLOCK), dtype=np.uint8)
        ctr[:, 15] = np.arange(1, nexp + 1, dtype=np.uint8)
        ctr[:, 14] = 0xE7
        order = range(ROUNDS - 1, -1, -1) if decrypt else range(ROUNDS)
        msg = np.zeros((m, nb * BLOCK), dtype=np.uint8)
        fin = np.zeros((m, BLOCK), dtype=np.uint8)
        for r in order:
            src, dst = (half_b, half_a) if r % 2 == 0 else (half_a, half_b)
            np.multiply(val, src, out=msg[:, :width], casting="unsafe")
            state = state0
            for j in range(nb):
                state = self._mac.blocks(state ^ msg[:, j * BLOCK : (j + 1) * BLOCK])
            fin[:, 0] = r + 1
            tag = self._mac.blocks(state ^ fin)
            stream = self._exp.blocks(tag[:, None, :] ^ ctr[None, :, :]).reshape(m, nexp * BLOCK)
            # uniform 16-bit f -> [0, radix) by multiply-shift (Lemire): no integer division, same bias as mod
            f32 = stream.view(np.uint16)[:, :width].astype(np.uint32)
            f32 *= radix32
            f32 >>= 16
            f = f32.astype(np.uint8)
            if decrypt:
                np.subtract(radix, f, out=f, where=f > 0)
            f += val
            np.subtract(f, radix, out=f, where=f >= radix)
            np.copyto(val, f, where=dst)
        out[many] = val.astype(np.int32)
        return out

    def _group(self, mat: U8, decrypt: bool) -> U8:
        code, value = _classify(mat, self._alphabet)
        kept = np.where(code == 0, mat, 0).astype(np.uint8)
        new = self._rounds(code, value, kept, decrypt)
        if self._alphabet == "hex":
            # cycle walking: re-apply the same permutation to the rows that left their class
            bad = np.nonzero(~_valid_rows(code, new))[0]
            while bad.size:
                new[bad] = self._rounds(code[bad], new[bad], kept[bad], decrypt)
                bad = bad[~_valid_rows(code[bad], new[bad])]
        return np.where(code > 0, _RENDER[code, np.minimum(new, 25)], mat).astype(np.uint8)

    def apply(self, arr: pa.Array, *, decrypt: bool = False) -> pa.Array:
        """Encrypt (or decrypt) every row of a string Arrow array; nulls stay null, lengths are unchanged."""
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        offsets, data, valid = arrow_bytes(arr)
        out = data.copy()
        lens = offsets[1:] - offsets[:-1]
        for width in np.unique(lens[valid & (lens > 0)]):
            rows = np.nonzero((lens == width) & valid)[0]
            mat = gather_padded(offsets, data, rows, int(width))
            idx = offsets[rows][:, None] + np.arange(int(width))[None, :]
            out[idx] = self._group(mat, decrypt)
        bufs = arr.buffers()
        return pa.Array.from_buffers(
            arr.type, len(arr), [bufs[0], bufs[1], pa.py_buffer(out)], arr.null_count, arr.offset
        )

    def encrypt(self, arr: pa.Array) -> pa.Array:
        return self.apply(arr)

    def decrypt(self, arr: pa.Array) -> pa.Array:
        return self.apply(arr, decrypt=True)


def encrypt_strings(key: bytes, arr: pa.Array, alphabet: Alphabet = "classes") -> pa.Array:
    return StringFpe(key, alphabet).encrypt(arr)


def decrypt_strings(key: bytes, arr: pa.Array, alphabet: Alphabet = "classes") -> pa.Array:
    return StringFpe(key, alphabet).decrypt(arr)


__all__ = [
    "ROUNDS",
    "U64",
    "Alphabet",
    "StringFpe",
    "decrypt_strings",
    "encrypt_strings",
    "permute_bits",
    "permute_range",
    "permute_signed",
]
