"""Column transforms on plain arrays: formats always valid, uniqueness where promised, PRF correctness."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from anonymizer import phones as transforms_phones
from anonymizer import pools, transforms
from anonymizer.prf import cbc_mac, prf_strings, prf_u64
from anonymizer_tools import pools_build
from tests.engine.fpe_inverse import unpermute_range

KEY = bytes(range(50, 82))
SSN_RE = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
SSN_DIGITS_RE = re.compile(r"^(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}$")
EMAIL_RE = re.compile(r"^[a-z]+\.[a-z]+\.[a-z2-7]{8}@example\.(com|net|org)$")


def test_shipped_pools_equal_a_fresh_deterministic_build() -> None:
    fresh = pools_build.build_pools()
    for name, values in fresh.items():
        shipped = (pools.pool_dir() / f"{name}.txt").read_text("utf-8")
        assert shipped == pools_build.render(values), (
            f"pools/{name}.txt is stale: python -m anonymizer_tools.pools_build --build"
        )
        assert len(set(values)) == len(values)
    assert all(re.search(r"Hospital|Medical Center|Health Center", h) for h in fresh["hospitals"])


def test_cbc_mac_matches_a_straightforward_reference() -> None:
    rows = [b"", b"a", b"x" * 15, b"y" * 16, b"z" * 17, "Zoë Müller".encode(), b"\x00" * 40]
    arr = pa.array(rows, type=pa.binary())
    offsets = np.array([0, *np.cumsum([len(r) for r in rows])], dtype=np.int64)
    data = np.frombuffer(b"".join(rows), dtype=np.uint8)
    got = cbc_mac(KEY, offsets, data, tag=7)
    for i, row in enumerate(rows):
        enc = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()  # noqa: S305 - reference CBC-MAC
        state = enc.update((7).to_bytes(8, "little") + len(row).to_bytes(8, "little"))
        padded = row + b"\x00" * (-len(row) % 16)
        for b in range(0, len(padded), 16):
            state = enc.update(bytes(x ^ y for x, y in zip(state, padded[b : b + 16], strict=True)))
        assert got[i].tobytes() == state
    assert len(set(prf_strings(KEY, arr).tolist())) == len(rows)


def test_integer_prf_is_keyed_and_deterministic() -> None:
    x = np.arange(10_000)
    assert np.array_equal(prf_u64(KEY, x), prf_u64(KEY, x))
    assert (prf_u64(KEY, x) == prf_u64(bytes(32 * [1]), x)).sum() == 0
    assert len(np.unique(prf_u64(KEY, x))) == len(x)


def _ssns(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    area = rng.integers(1, 900, n)
    area[area == 666] = 667
    group = rng.integers(1, 100, n)
    serial = rng.integers(1, 10_000, n)
    return [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)]


NEVER_RE = re.compile(r"^9\d\d-(?:0[1-9]|[1-4]\d)-(?!0000)\d{4}$")


def test_ssn_issuable_outputs_are_always_valid_and_valid_inputs_map_bijectively() -> None:
    valid = sorted(set(_ssns(50_000, 1)))
    invalid = ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "12345", "n/a"]
    out = transforms.ssn(KEY, pa.array(valid + invalid + ["123456789", None]), "issuable").to_pylist()
    assert out[-1] is None
    assert all(SSN_RE.match(s) for s in out[:-2]), [s for s in out[:-2] if not SSN_RE.match(s)][:5]
    assert SSN_DIGITS_RE.match(out[-2])  # separators kept: no dashes in, none out
    got = out[: len(valid)]
    assert len(set(got)) == len(valid)  # a bijection on valid SSNs: no collisions
    assert sum(a == b for a, b in zip(valid, got, strict=True)) < 5
    index, ok = transforms._ssn_index(np.array([int(v.replace("-", "")) for v in valid]))
    back = unpermute_range(
        KEY,
        np.array([transforms._ssn_index(np.array([int(g.replace("-", ""))]))[0][0] for g in got]),
        transforms.SSN_SPACE,
        tweak=0x55,
    )
    assert ok.all() and np.array_equal(back.astype(np.int64), index)


def test_ssn_default_space_is_never_issued_and_never_the_source() -> None:
    """Issue 13: by default no fake SSN can be a real person's (not an SSN: area 9xx; not an ITIN: group < 50)."""
    valid = sorted(set(_ssns(200_000, 2)))
    itins = [
        f"9{a:02d}-{g:02d}-{s:04d}" for a, g, s in zip(range(100), [70, 88, 50, 94] * 25, range(1, 101), strict=True)
    ]
    already = [f"9{a:02d}-{g:02d}-{s:04d}" for a in range(0, 100, 9) for g in (1, 49) for s in (1, 9999)]
    values = valid + itins + already + ["12345", "n/a", "123456789", "１２３-４５-６７８９"]
    out = transforms.ssn(KEY, pa.array(values)).to_pylist()
    dashed = [o for v, o in zip(values, out, strict=True) if v != "123456789"]
    assert all(NEVER_RE.match(s) for s in dashed), [s for s in dashed if not NEVER_RE.match(s)][:5]
    assert re.match(r"^9\d\d(?:0[1-9]|[1-4]\d)\d{4}$", out[values.index("123456789")])
    assert all(a != b for a, b in zip(values, out, strict=True))
    # 200,000 SSNs into 48,995,100 values: collisions are expected (~400), but rare (see the docstring)
    assert len(valid) - len(set(out[: len(valid)])) < 1_000
    # deterministic, and keyed
    assert transforms.ssn(KEY, pa.array(valid[:1000])).to_pylist() == out[:1000]
    assert (
        sum(
            a == b
            for a, b in zip(
                transforms.ssn(bytes(range(1, 33)), pa.array(valid[:1000])).to_pylist(), out[:1000], strict=True
            )
        )
        < 3
    )


def test_every_valid_area_and_edge_maps_to_a_valid_ssn() -> None:
    edges = [f"{a:03d}-{g:02d}-{s:04d}" for a in (1, 665, 667, 899) for g in (1, 99) for s in (1, 9999)]
    out = transforms.ssn(KEY, pa.array(edges), "issuable").to_pylist()
    assert all(SSN_RE.match(s) for s in out)
    assert len(set(out)) == len(edges)
    assert all(NEVER_RE.match(s) for s in transforms.ssn(KEY, pa.array(edges)).to_pylist())


def _nanp_ok(digits: str) -> bool:
    npa, nxx = digits[:3], digits[3:6]
    return npa[0] in "23456789" and npa[1] != "9" and npa[1:] != "11" and nxx[0] in "23456789" and nxx[1:] != "11"


def test_phone_keeps_format_country_code_and_changes_the_number() -> None:
    phones = [
        "(555) 123-4567",
        "+1-202-555-0199x123",
        "555.010.9999",
        "001-312-555-0100",
        "7",
        "+44 20 7946 0958",
        "+49 30 901820",
        "+353 1 234 5678",
        "1 (800) 555-0100",
        "123-456-7890",  # invalid area code in: valid one out
    ]
    out = transforms.phone(KEY, pa.array(phones)).to_pylist()
    for before, after in zip(phones, out, strict=True):
        assert re.sub(r"\d", "0", before) == re.sub(r"\d", "0", after)
        assert re.sub(r"\D", "", before) != re.sub(r"\D", "", after)  # never the source number
    assert out[1].startswith("+1-") and out[5].startswith("+44 ") and out[6].startswith("+49 ")
    assert out[7].startswith("+353 ") and out[8].startswith("1 (")
    for i in (0, 1, 2, 8, 9):
        digits = re.sub(r"\D", "", out[i])
        national = digits[1:11] if digits.startswith("1") and len(digits) >= 11 else digits[:10]
        assert _nanp_ok(national), out[i]


def test_nanp_phones_are_valid_distinct_and_never_the_source() -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    npa = rng.choice(transforms_phones.NPA_CODES, n)
    nxx = rng.choice(transforms_phones.NXX_CODES, n)
    line = rng.integers(0, 10_000, n)
    phones = sorted({f"{a}-{b}-{c:04d}" for a, b, c in zip(npa, nxx, line, strict=True)})
    out = transforms.phone(KEY, pa.array(phones)).to_pylist()
    assert len(set(out)) == len(phones)  # a permutation of the valid NANP space: no collisions
    assert all(_nanp_ok(o.replace("-", "")) for o in out)
    assert all(a != b for a, b in zip(phones, out, strict=True))


def test_unicode_digits_never_pass_through() -> None:
    """Issue 14: Arabic-Indic, full-width and Devanagari digits are read as digits and encrypted."""
    arabic = "٥٥٥-١٢٣-٤٥٦٧"
    full = "（５５５）１２３－４５６７"
    deva = "५५५-१२३-४५६७"
    out = transforms.phone(KEY, pa.array([arabic, full, deva, "555-123-4567"])).to_pylist()
    assert out[0] == out[2] and out[0].replace("-", "").isascii()  # same number in any script
    assert re.sub(r"\D", "", out[0]) == re.sub(r"\D", "", out[3])
    assert all(o != v for o, v in zip(out, [arabic, full, deva], strict=False))
    assert re.sub(r"\d", "", out[1]) == "（）－"  # separators kept, every digit replaced by an ASCII digit
    ssn_in = ["٠١٢-٣٤-٥٦٧٨", "０１２－３４－５６７８"]
    ssn_out = transforms.ssn(KEY, pa.array(ssn_in)).to_pylist()
    assert all(not any(unicodedata.decimal(c, None) is not None and not c.isascii() for c in s) for s in ssn_out)
    keys = transforms.key_strings(KEY, pa.array(["١٢٣٤٥٦٧", "1234567", "ID-١٢٣٤٥٦٧"])).to_pylist()
    assert keys[0] != "١٢٣٤٥٦٧" and all(unicodedata.decimal(c) is not None and not c.isascii() for c in keys[0])
    assert [unicodedata.decimal(c) for c in keys[0]] == [int(c) for c in keys[1]]  # one mapping, script kept
    assert keys[2][:2].isupper() and keys[2][2] == "-" and keys[2][3:] != "١٢٣٤٥٦٧"
    assert all(unicodedata.decimal(c) is not None and not c.isascii() for c in keys[2][3:])


def test_unique_by_level_does_not_reveal_the_id_magnitude() -> None:
    """Issue 13: a middle initial used to mean id > 690,000; now it is keyed among the first 18.6M ids."""
    low = transforms.pool_from_keys(KEY, "person_name", np.arange(1, 20_001)).to_pylist()
    high = transforms.pool_from_keys(KEY, "person_name", np.arange(700_001, 720_001)).to_pylist()

    def with_initial(names: list[str]) -> float:
        return sum(bool(re.search(r" [A-Z]\. ", n)) for n in names) / len(names)

    assert abs(with_initial(low) - with_initial(high)) < 0.02
    assert 0.9 < with_initial(low) < 0.99  # 26 of 27 keyed levels carry an initial
    assert not any(n.endswith((" II", " III")) for n in low + high)


def test_email_is_pseudonymous_well_formed_unique_and_domain_mapped() -> None:
    emails = [f"user{i}@corp{i % 7}.com" for i in range(100_000)] + ["Bad Address", "x@y"]
    out = transforms.email(KEY, pa.array(emails)).to_pylist()
    assert all(EMAIL_RE.match(e) for e in out), [e for e in out if not EMAIL_RE.match(e)][:3]
    assert len(set(out)) == len(emails)
    by_domain: dict[str, set[str]] = {}
    for before, after in zip(emails[:1000], out[:1000], strict=True):
        by_domain.setdefault(before.split("@")[1], set()).add(after.split("@")[1])
    assert all(len(d) == 1 for d in by_domain.values())  # one original domain -> one example domain
    kept = transforms.email(KEY, pa.array(["a.b@hospital.org"]), keep_domain=True).to_pylist()[0]
    assert kept.endswith("@hospital.org") and not kept.startswith("a.b@")


def test_pool_from_keys_gives_distinct_realistic_names_for_a_million_keys() -> None:
    keys = np.arange(1, 1_000_001, dtype=np.int64)
    names = transforms.pool_from_keys(KEY, "person_name", keys)
    assert len(pa.compute.unique(names)) == len(keys)
    sample = names.to_pylist()[:1000]
    assert sum(" " in n and n.split()[-1].isalpha() for n in sample) == 1000
    orgs = transforms.pool_from_keys(KEY, "organization_name", np.arange(10_000)).to_pylist()
    assert len(set(orgs)) == 10_000
    assert all(re.search(r"Hospital|Medical Center|Health Center", o) for o in orgs)
    extreme = np.array([-(2**63), -1, 0, 2**63 - 1, 2**40], dtype=np.int64)
    assert len(set(transforms.pool_from_keys(KEY, "person_name", extreme).to_pylist())) == 5


@pytest.mark.parametrize("strategy", ["person_name", "first_name", "last_name", "city", "address", "organization_name"])
def test_pool_from_values_is_deterministic_and_rarely_keeps_the_input(strategy: str) -> None:
    originals = pa.array(
        pools.load_pool("first_names")[:300] if strategy == "first_name" else [f"Original {i}" for i in range(300)]
    )
    first = transforms.pool_from_values(KEY, strategy, originals).to_pylist()
    assert first == transforms.pool_from_values(KEY, strategy, originals).to_pylist()
    assert sum(a == b for a, b in zip(originals.to_pylist(), first, strict=True)) <= 3
    other = transforms.pool_from_values(bytes(32 * [9]), strategy, originals).to_pylist()
    assert sum(a == b for a, b in zip(first, other, strict=True)) < 30


def test_date_shift_offsets_are_in_range_and_never_zero() -> None:
    offsets = transforms.shift_days(KEY, np.arange(200_000), 365)
    assert offsets.min() >= -365 and offsets.max() <= -1
    assert len(np.unique(offsets)) == 365
    assert np.array_equal(offsets, transforms.shift_days(KEY, np.arange(200_000), 365))
    assert transforms.shift_days(KEY, pa.array(["P-1", "P-2"]), 1).tolist() == [-1, -1]


def test_hmac_is_standard_hmac_sha256() -> None:
    got = transforms.hmac_sha256(KEY, [b"abc", None])
    assert got == [hmac.new(KEY, b"abc", hashlib.sha256).digest(), None]
