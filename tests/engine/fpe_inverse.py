"""Test-only inverses of the production permutations, and a scalar FF1 reference.

The production package encrypts only (issue 13: decryption must not be importable from the wheel); the
tests still need to prove bijectivity by decrypting, so the inverses live here, next to the tests.
``ff1_reference`` is a direct, per-value transcription of NIST SP 800-38G Algorithms 7 and 8 with Python
integers: an independent check of the vectorized production code.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from anonymizer.fpe import (
    ROUNDS,
    StringFpe,
    _ff1_prefix,
    _num_mod,
    _tweak_bytes,
    ff1_sizes,
    range_bits,
)
from anonymizer.prf import BLOCK, U8, U64, AesEcb


def ff1_reference(key: bytes, radix: int, tweak: bytes, x: list[int], *, decrypt: bool = False) -> list[int]:
    """FF1 per SP 800-38G (Algorithm 7 encrypt, Algorithm 8 decrypt), one numeral string at a time."""
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - the block cipher CIPH_K
    n, t = len(x), len(tweak)
    u, v, b, d = ff1_sizes(radix, n)

    def num(xs: list[int]) -> int:
        out = 0
        for digit in xs:
            out = out * radix + digit
        return out

    def string(value: int, m: int) -> list[int]:
        return [(value // radix ** (m - 1 - j)) % radix for j in range(m)]

    def prf(data: bytes) -> bytes:
        y = bytes(16)
        for j in range(0, len(data), 16):
            y = enc.update(bytes(p ^ q for p, q in zip(y, data[j : j + 16], strict=True)))
        return y

    p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256]) + n.to_bytes(4, "big") + t.to_bytes(4, "big")
    a, bb = x[:u], x[u:]
    for i in range(ROUNDS - 1, -1, -1) if decrypt else range(ROUNDS):
        src = a if decrypt else bb
        q = tweak + bytes((-t - b - 1) % 16) + bytes([i]) + num(src).to_bytes(b, "big")
        r = prf(p + q)
        s = r
        j = 1
        while len(s) < d:
            s += enc.update(bytes(p ^ q for p, q in zip(r, j.to_bytes(16, "big"), strict=True)))
            j += 1
        y = int.from_bytes(s[:d], "big")
        m = u if i % 2 == 0 else v
        if decrypt:
            c = (num(bb) - y) % radix**m
            a, bb = string(c, m), a
        else:
            c = (num(a) + y) % radix**m
            a, bb = bb, string(c, m)
    return a + bb


def ff1_decrypt_numbers(aes: AesEcb, radix: int, n: int, a: U64, b: U64, tweak: U8) -> tuple[U64, U64]:
    """Vectorized FF1 decryption (Algorithm 8), the mirror of ``ff1_encrypt_numbers``."""
    u, v, bb, d = ff1_sizes(radix, n)
    state, last = _ff1_prefix(aes, radix, n, tweak)
    rows = len(a)
    a = a.astype(np.uint64, copy=True)
    b = b.astype(np.uint64, copy=True)
    for i in range(ROUNDS - 1, -1, -1):
        blk = np.broadcast_to(state ^ last, (rows, BLOCK)).copy()
        blk[:, BLOCK - bb - 1] ^= np.uint8(i)
        blk[:, BLOCK - bb :] ^= a.byteswap().view(np.uint8).reshape(rows, 8)[:, 8 - bb :]
        r = aes.blocks(blk)[:, :d]
        m = u if i % 2 == 0 else v
        mod = np.uint64(radix**m)
        y = _num_mod(r, radix, m)
        c = (b + mod - y) % mod
        a, b = c, a
    return a, b


def unpermute_bits(key: bytes, y: npt.NDArray[np.integer], bits: int, *, tweak: int = 0) -> U64:
    x = np.asarray(y).astype(np.uint64)
    _, v, _, _ = ff1_sizes(2, bits)
    mask = np.uint64((1 << v) - 1)
    a, b = ff1_decrypt_numbers(AesEcb(key), 2, bits, x >> np.uint64(v), x & mask, _tweak_bytes(tweak))
    return (a << np.uint64(v)) | b


def unpermute_range(key: bytes, y: npt.NDArray[np.integer], n: int, *, tweak: int = 0) -> U64:
    x = np.asarray(y).astype(np.uint64, copy=True)
    bits = range_bits(n)
    x = unpermute_bits(key, x, bits, tweak=tweak)
    out = np.nonzero(x >= np.uint64(n))[0]
    while out.size:
        x[out] = unpermute_bits(key, x[out], bits, tweak=tweak)
        out = out[x[out] >= np.uint64(n)]
    return x


def unpermute_signed(key: bytes, y: npt.NDArray[np.integer], bits: int, *, tweak: int = 0) -> npt.NDArray[np.int64]:
    v = np.asarray(y).astype(np.int64)
    neg = v < 0
    mag = np.where(neg, ~v, v).astype(np.uint64)
    p = unpermute_bits(key, mag, bits, tweak=tweak).astype(np.int64)
    return np.where(neg, ~p, p)


_P10 = np.array([10**i for i in range(19)], dtype=np.uint64)


class StringFpeInverse(StringFpe):
    """Decrypts what :class:`StringFpe` (same key, same alphabet) encrypts: its three steps, inverted."""

    __slots__ = ()

    def _single_table(self) -> npt.NDArray[np.int32]:
        inv = np.zeros_like(self._single)
        for c in range(1, 6):
            r = {1: 10, 2: 26, 3: 26, 4: 16, 5: 16}[c]
            inv[c, self._single[c, :r]] = np.arange(r)
        return inv

    def _digit_rows(self, digits: npt.NDArray[np.uint8], tweak: U8) -> npt.NDArray[np.uint8]:
        rows, n = digits.shape
        u, v, _, _ = ff1_sizes(10, n)
        d = digits.astype(np.uint64)
        a = (d[:, :u] * _P10[:u][::-1]).sum(axis=1, dtype=np.uint64)
        b = (d[:, u:] * _P10[:v][::-1]).sum(axis=1, dtype=np.uint64)
        a, b = ff1_decrypt_numbers(self._ff1, 10, n, a, b, tweak)
        out = np.empty((rows, n), dtype=np.uint8)
        out[:, :u] = (a[:, None] // _P10[:u][::-1][None, :]) % np.uint64(10)
        out[:, u:] = (b[:, None] // _P10[:v][::-1][None, :]) % np.uint64(10)
        return out

    def _round_order(self) -> range:
        return range(ROUNDS - 1, -1, -1)

    def _mix(self, f: U8, val: U8, radix: U8) -> U8:
        np.subtract(radix, f, out=f, where=f > 0)
        return super()._mix(f, val, radix)


def decrypt_strings(key: bytes, arr: pa.Array, alphabet: str = "classes") -> pa.Array:
    return StringFpeInverse(key, alphabet).encrypt(arr)  # type: ignore[arg-type]
