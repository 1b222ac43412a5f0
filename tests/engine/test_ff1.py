"""FF1 (NIST SP 800-38G): the vectorized production code against NIST's published sample vectors and an
independent scalar transcription of the standard (tests/engine/fpe_inverse.py)."""

from __future__ import annotations

import numpy as np
import pytest

from anonymizer.fpe import ff1_bits, ff1_digits, ff1_encrypt_numbers, ff1_sizes
from anonymizer.prf import AesEcb
from tests.engine.fpe_inverse import ff1_decrypt_numbers, ff1_reference

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
_K192 = _K128 + "EF4359D8D580AA4F"
_K256 = _K192 + "7F036D6F04FC6A94"
_T1 = "39383736353433323130"
_T2 = "3737373770717273373737"
# NIST "FF1samples.pdf" (CSRC, Examples with Intermediate Values), samples 1-9
NIST_SAMPLES = [
    (_K128, "", 10, "0123456789", "2433477484"),
    (_K128, _T1, 10, "0123456789", "6124200773"),
    (_K128, _T2, 36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    (_K192, "", 10, "0123456789", "2830668132"),
    (_K192, _T1, 10, "0123456789", "2496655549"),
    (_K192, _T2, 36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
    (_K256, "", 10, "0123456789", "6657667009"),
    (_K256, _T1, 10, "0123456789", "1001623463"),
    (_K256, _T2, 36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
]


def _num(xs: list[int], radix: int) -> int:
    out = 0
    for d in xs:
        out = out * radix + d
    return out


def _str(value: int, m: int, radix: int) -> str:
    return "".join(_ALPHABET[(value // radix ** (m - 1 - j)) % radix] for j in range(m))


@pytest.mark.parametrize(
    ("key", "tweak", "radix", "plain", "cipher"), NIST_SAMPLES, ids=[f"sample-{i}" for i in range(1, 10)]
)
def test_vectorized_ff1_matches_the_nist_samples(key: str, tweak: str, radix: int, plain: str, cipher: str) -> None:
    aes, tw = AesEcb(bytes.fromhex(key)), np.frombuffer(bytes.fromhex(tweak), dtype=np.uint8)
    x = [_ALPHABET.index(c) for c in plain]
    n = len(x)
    u, v, _, _ = ff1_sizes(radix, n)
    a = np.array([_num(x[:u], radix)] * 3, dtype=np.uint64)  # three identical rows: row independence
    b = np.array([_num(x[u:], radix)] * 3, dtype=np.uint64)
    ca, cb = ff1_encrypt_numbers(aes, radix, n, a, b, tw)
    assert {_str(int(p), u, radix) + _str(int(q), v, radix) for p, q in zip(ca, cb, strict=True)} == {cipher}
    assert "".join(_ALPHABET[d] for d in ff1_reference(bytes.fromhex(key), radix, bytes.fromhex(tweak), x)) == cipher
    pa_, pb = ff1_decrypt_numbers(aes, radix, n, ca, cb, tw)
    assert _str(int(pa_[0]), u, radix) + _str(int(pb[0]), v, radix) == plain
    if radix == 10:
        digits = np.array([x] * 2, dtype=np.uint8)
        out = ff1_digits(aes, digits, tw)
        assert ["".join(map(str, row)) for row in out] == [cipher] * 2


@pytest.mark.parametrize("bits", [7, 20, 31, 33, 63, 64])
def test_radix_2_matches_the_scalar_reference(bits: int) -> None:
    key = bytes(range(3, 35))
    rng = np.random.default_rng(bits)
    x = (
        rng.integers(0, 2**63, 200, dtype=np.uint64) >> np.uint64(64 - bits)
        if bits < 64
        else rng.integers(0, 2**63, 200, dtype=np.uint64) * np.uint64(2)
    )
    got = ff1_bits(AesEcb(key), x, bits, tweak=0x1234)
    tweak = (0x1234).to_bytes(8, "big")
    for value, enc in zip(x[:50], got[:50], strict=True):
        bits_in = [int(c) for c in format(int(value), f"0{bits}b")]
        ref = ff1_reference(key, 2, tweak, bits_in)
        assert int("".join(map(str, ref)), 2) == int(enc)


@pytest.mark.parametrize("n", [2, 9, 15, 18, 19, 24, 32])
def test_radix_10_matches_the_scalar_reference_for_every_supported_length(n: int) -> None:
    key = bytes(range(9, 41))
    rng = np.random.default_rng(n)
    digits = rng.integers(0, 10, (40, n), dtype=np.uint8)
    tweaks = rng.integers(0, 256, (40, 16), dtype=np.uint8)  # per-row tweaks, as string keys use
    got = ff1_digits(AesEcb(key), digits, tweaks)
    for row, tw, enc in zip(digits, tweaks, got, strict=True):
        assert ff1_reference(key, 10, tw.tobytes(), row.tolist()) == enc.tolist()
