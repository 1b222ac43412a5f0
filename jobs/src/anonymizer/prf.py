"""Vectorized keyed pseudorandom functions built from AES (``cryptography``) and numpy.

Why AES and not HMAC: the engine must never run Python per row. ``cryptography``'s AES-ECB encrypts millions
of independent 16-byte blocks in one C call, so a PRF whose rows are independent blocks is fully vectorized:

* integers: one block ``[tag | value]`` per row, ``PRF(x) = AES_k(tag || x)`` (AES is a PRP, hence a PRF on
  distinct inputs);
* strings/bytes: CBC-MAC with the byte length in the first block (length-prefixed CBC-MAC is a secure PRF
  for variable-length messages). Rows are sorted by block count so every chaining step is one ECB call over
  the rows that still have blocks left.

Nothing here implements a block cipher or a hash: AES comes from ``cryptography``; these are standard modes
composed from it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]

BLOCK = 16


class AesEcb:
    """AES-ECB over many 16-byte blocks at once. ECB is used only as a batch of independent PRP calls."""

    __slots__ = ("_enc",)

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("AES key must be 16, 24 or 32 bytes")
        # ECB = a batch of independent PRP calls here, never a mode of encryption for data
        self._enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305

    def __repr__(self) -> str:
        return "AesEcb(<key hidden>)"

    def blocks(self, data: npt.NDArray[np.generic], out: U8 | None = None) -> U8:
        """Encrypt a C-contiguous array whose byte size is a multiple of 16; returns an (n, 16) uint8 array.

        ``update_into`` a numpy buffer, not ``update``: building a fresh ``bytes`` object of the whole batch
        costs about 8x the encryption itself. ``out`` (``nbytes + 15`` bytes) lets a loop reuse one buffer.
        """
        buf = np.ascontiguousarray(data)
        nbytes = buf.nbytes
        if nbytes % BLOCK:
            raise ValueError("AES-ECB input must be a whole number of blocks")
        if nbytes == 0:
            return np.empty((0, BLOCK), dtype=np.uint8)
        if out is None or out.nbytes < nbytes + BLOCK - 1:
            out = np.empty(nbytes + BLOCK - 1, dtype=np.uint8)
        self._enc.update_into(buf.reshape(-1).view(np.uint8).data, out.data)
        return out[:nbytes].reshape(-1, BLOCK)

    def words(self, hi: U64, lo: U64) -> tuple[U64, U64]:
        """Encrypt blocks given as two uint64 words (little endian, ``hi`` first); return both output words."""
        blk = np.empty((len(lo), 2), dtype=np.uint64)
        blk[:, 0] = hi
        blk[:, 1] = lo
        out = self.blocks(blk).view(np.uint64)
        return out[:, 0], out[:, 1]


def prf_u64(key: bytes, values: npt.NDArray[np.integer], tag: int = 0) -> U64:
    """Keyed PRF of 64-bit integers: first word of ``AES_k(tag || value)``. Vectorized, no per-row Python."""
    lo = np.asarray(values).astype(np.int64, copy=False).view(np.uint64)
    hi = np.full(len(lo), np.uint64(tag & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    first, _ = AesEcb(key).words(hi, lo)
    return first


def arrow_bytes(arr: pa.Array) -> tuple[npt.NDArray[np.int64], U8, npt.NDArray[np.bool_]]:
    """(offsets, data, valid) of a string/binary Arrow array as numpy, without copying the data bytes.

    ``offsets`` has ``len(arr) + 1`` entries relative to ``data``; null rows have zero length.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        off_type: type[np.generic] = np.int64
    elif pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        off_type = np.int32
    else:
        raise TypeError(f"expected a string or binary array, got {arr.type}")
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, dtype=np.uint8)
    valid = np.ones(n, dtype=bool) if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    return offsets, data, valid


def gather_padded(offsets: npt.NDArray[np.int64], data: U8, rows: npt.NDArray[np.intp], width: int) -> U8:
    """Bytes of ``rows`` as an (n, width) matrix, zero padded (rows longer than ``width`` are cut)."""
    starts = offsets[rows]
    lens = offsets[rows + 1] - starts
    cols = np.arange(width, dtype=np.int64)
    idx = starts[:, None] + cols[None, :]
    inside = cols[None, :] < lens[:, None]
    if data.size == 0:
        return np.zeros((len(rows), width), dtype=np.uint8)
    return np.where(inside, data[np.minimum(idx, data.size - 1)], 0).astype(np.uint8)


def cbc_mac(key: bytes, offsets: npt.NDArray[np.int64], data: U8, tag: int = 0) -> U8:
    """Length-prefixed AES-CBC-MAC of every row ``data[offsets[i]:offsets[i+1]]``: an (n, 16) uint8 array.

    First block = ``tag || byte length``; the message is zero padded to whole blocks (unambiguous because the
    length is authenticated). Rows are processed longest first, so at chaining step ``b`` the rows that still
    have a block ``b`` form a prefix and one ECB call serves them all.
    """
    aes = AesEcb(key)
    n = len(offsets) - 1
    lens = offsets[1:] - offsets[:-1]
    nblocks = (lens + BLOCK - 1) // BLOCK
    order = np.argsort(-nblocks, kind="stable")
    sorted_blocks = nblocks[order]
    hdr = np.empty((n, 2), dtype=np.uint64)
    hdr[:, 0] = np.uint64(tag & 0xFFFFFFFFFFFFFFFF)
    hdr[:, 1] = lens[order].astype(np.uint64)
    state = aes.blocks(hdr).copy()
    max_blocks = int(sorted_blocks[0]) if n else 0
    if max_blocks:
        padded = gather_padded(offsets, data, order, max_blocks * BLOCK)
        # active rows at step b: sorted_blocks > b, a prefix because the order is descending
        counts = n - np.searchsorted(sorted_blocks[::-1], np.arange(max_blocks), side="right")
        for b in range(max_blocks):
            m = int(counts[b])
            if m == 0:
                break
            state[:m] = aes.blocks(state[:m] ^ padded[:m, b * BLOCK : (b + 1) * BLOCK])
    out = np.empty_like(state)
    out[order] = state
    return out


def prf_strings(key: bytes, arr: pa.Array, tag: int = 0) -> U64:
    """Keyed 64-bit PRF of every row of a string/binary Arrow array (value of null rows is unspecified)."""
    offsets, data, _ = arrow_bytes(arr)
    return cbc_mac(key, offsets, data, tag).view(np.uint64)[:, 0].copy()


def prf_strings_wide(key: bytes, arr: pa.Array, tag: int = 0) -> U8:
    """Keyed 128-bit PRF of every row (an (n, 16) uint8 array), for outputs that need more than 64 bits."""
    offsets, data, _ = arrow_bytes(arr)
    return cbc_mac(key, offsets, data, tag)
