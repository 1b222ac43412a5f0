"""Format-preserving encryption: bijectivity (exhaustive on reduced domains), shape and sign preservation."""

from __future__ import annotations

import itertools
import string

import numpy as np
import pyarrow as pa
import pytest

from anonymizer.fpe import StringFpe, permute_bits, permute_range, permute_signed
from tests.engine.fpe_inverse import StringFpeInverse, unpermute_bits, unpermute_range, unpermute_signed

KEY = bytes(range(7, 39))
OTHER = bytes(range(100, 132))


@pytest.mark.parametrize("bits", [16, 17])
def test_ff1_bits_is_a_permutation_exhaustively(bits: int) -> None:
    domain = np.arange(1 << bits, dtype=np.uint64)
    image = permute_bits(KEY, domain, bits)
    assert image.max() < (1 << bits)
    assert np.array_equal(np.sort(image), domain)  # a permutation: every value hit exactly once
    assert np.array_equal(unpermute_bits(KEY, image, bits), domain)
    assert (image == domain).mean() < 0.01  # not the identity


def test_cycle_walking_permutes_an_arbitrary_range_exhaustively() -> None:
    n = 70_001  # not a power of two: 17-bit Feistel, walk the rows that land in [n, 2^17)
    domain = np.arange(n, dtype=np.uint64)
    image = permute_range(KEY, domain, n)
    assert np.array_equal(np.sort(image), domain)
    assert np.array_equal(unpermute_range(KEY, image, n), domain)


@pytest.mark.parametrize(("bits", "low", "high"), [(7, -128, 128), (15, -32768, 32768)])
def test_signed_types_permute_their_whole_range_and_keep_the_sign(bits: int, low: int, high: int) -> None:
    domain = np.arange(low, high, dtype=np.int64)
    image = permute_signed(KEY, domain, bits)
    assert np.array_equal(np.sort(image), domain)
    assert np.array_equal(image < 0, domain < 0)
    assert np.array_equal(unpermute_signed(KEY, image, bits), domain)


def test_a_million_int_keys_give_a_million_distinct_keys_in_range() -> None:
    rng = np.random.default_rng(3)
    keys = np.unique(rng.integers(-(2**31), 2**31, 1_100_000))[:1_000_000]
    out = permute_signed(KEY, keys, 31)
    assert len(np.unique(out)) == len(keys)
    assert out.min() >= -(2**31) and out.max() < 2**31
    big = np.unique(rng.integers(-(2**63), 2**63 - 1, 200_000, dtype=np.int64))
    out63 = permute_signed(KEY, big, 63)
    assert len(np.unique(out63)) == len(big)
    assert np.array_equal(unpermute_signed(KEY, out63, 63), big)


def test_the_permutation_depends_on_the_key() -> None:
    domain = np.arange(100_000, dtype=np.int64)
    same = permute_signed(KEY, domain, 31) == permute_signed(OTHER, domain, 31)
    assert same.sum() <= 2  # chance agreement ~ 100000 / 2^31


def _strings(chars: list[str], length: int) -> list[str]:
    return ["".join(p) for p in itertools.product(chars, repeat=length)]


def test_string_keys_classes_are_a_permutation_of_their_shape_exhaustively() -> None:
    upper, digits = list(string.ascii_uppercase), list(string.digits)
    domain = [
        f"{u}-{d1}{d2}{d3}{d4}" for u in upper for d1 in digits for d2 in digits for d3 in digits for d4 in digits
    ]  # all 260,000 ids of the shape "A-0000"
    fpe = StringFpe(KEY)
    image = fpe.encrypt(pa.array(domain)).to_pylist()
    assert sorted(image) == sorted(domain)  # the shape's value set is mapped onto itself: a bijection
    assert sum(a == b for a, b in zip(domain, image, strict=True)) < 20
    assert StringFpeInverse(KEY).encrypt(pa.array(image)).to_pylist() == domain


def test_hex_alphabet_keeps_hex_and_case_and_is_a_permutation_exhaustively() -> None:
    fpe = StringFpe(KEY, "hex")
    lower = _strings(list("0123456789abcdef"), 4)  # 65,536 lower-case (and all-digit) hex strings
    image = fpe.encrypt(pa.array(lower)).to_pylist()
    assert sorted(image) == sorted(lower)
    upper = [s for s in _strings(list("0123456789ABCDEF"), 4) if any(c.isalpha() for c in s)]
    image_u = fpe.encrypt(pa.array(upper)).to_pylist()
    assert sorted(image_u) == sorted(upper)  # upper-case strings stay upper-case hex
    assert StringFpeInverse(KEY, "hex").encrypt(pa.array(image_u)).to_pylist() == upper


def test_hex_alphabet_on_uuids_and_mixed_strings_is_injective_and_invertible() -> None:
    rng = np.random.default_rng(5)
    hexes = [bytes(row).hex() for row in rng.integers(0, 256, (20_000, 16), dtype=np.uint8)]
    uuids = [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes]
    mixed = [*_strings(list("0aFgZ"), 5), "AbC", "xyz", "a", "A", "5", "-", ""]  # classes rows among hex rows
    values = uuids + [u.upper() for u in uuids[:5000]] + mixed
    fpe = StringFpe(KEY, "hex")
    out = fpe.encrypt(pa.array(values)).to_pylist()
    assert len(set(out)) == len(set(values))
    assert StringFpeInverse(KEY, "hex").encrypt(pa.array(out)).to_pylist() == values
    uuid_like = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    assert pa.compute.all(pa.compute.match_substring_regex(pa.array(out[:20_000]), uuid_like)).as_py()


def test_string_fpe_keeps_shape_length_nulls_and_non_ascii() -> None:
    values = ["C-000123", "Hello, World 42", "ÄÖ-é9x", "", None, "x", "Z", "7", "---"]
    out = StringFpe(KEY).encrypt(pa.array(values)).to_pylist()
    for before, after in zip(values, out, strict=True):
        if before is None:
            assert after is None
            continue
        assert len(after) == len(before)
        for a, b in zip(before, after, strict=True):
            if a.isascii() and a.isalnum():
                assert (a.isdigit(), a.islower(), a.isupper()) == (b.isdigit(), b.islower(), b.isupper())
            else:
                assert a == b
    assert out[0] != values[0]


def test_digit_string_keys_are_ff1_and_a_permutation_of_their_shape_exhaustively() -> None:
    domain = [f"{i:06d}" for i in range(1_000_000)]  # every 6-digit id: one FF1 radix-10 domain of 10^6
    fpe = StringFpe(KEY)
    image = fpe.encrypt(pa.array(domain)).to_pylist()
    assert sorted(image) == domain
    assert sum(a == b for a, b in zip(domain, image, strict=True)) < 10
    assert StringFpeInverse(KEY).encrypt(pa.array(image[:50_000])).to_pylist() == domain[:50_000]


def test_digit_rows_with_separators_use_the_shape_as_tweak() -> None:
    # the same digits under two shapes must not map to the same digits (the tweak is the shape's MAC)
    values = [f"{i:03d}-{j:03d}" for i in range(0, 1000, 7) for j in range(0, 1000, 11)]
    plain = [v.replace("-", "") for v in values]
    fpe = StringFpe(KEY)
    a = [v.replace("-", "") for v in fpe.encrypt(pa.array(values)).to_pylist()]
    b = fpe.encrypt(pa.array(plain)).to_pylist()
    assert sum(x == y for x, y in zip(a, b, strict=True)) < 5
    assert StringFpeInverse(KEY).encrypt(pa.array(fpe.encrypt(pa.array(values)))).to_pylist() == values


def test_the_production_package_cannot_decrypt() -> None:
    """Issue 13: inverse functions are test-only; nothing in the wheel takes a decrypt flag or is named so."""
    import importlib
    import inspect
    import pkgutil

    import anonymizer

    offenders = []
    for info in pkgutil.iter_modules(anonymizer.__path__):
        module = importlib.import_module(f"anonymizer.{info.name}")
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [(f"{name}.{m}", v) for m, v in vars(obj).items() if callable(v)]
            for qual, fn in members:
                if not callable(fn):
                    continue
                params = inspect.signature(fn).parameters if not inspect.isclass(fn) else {}
                if any(w in qual.lower() for w in ("decrypt", "invert", "inverse")) or "decrypt" in params:
                    offenders.append(f"{module.__name__}.{qual}")
    assert offenders == []
