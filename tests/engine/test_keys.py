"""Key material: loading, validation, derivation, and that the key never leaks through repr/errors/pickle."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import stat
from pathlib import Path

import pytest

from anonymizer.keys import ALGORITHM_VERSION, ENV_VAR, KeyMaterialError, Keyring, ensure_key_file, low_entropy_reason

KEY = hashlib.sha256(b"test vector: keys").digest()  # fixed, public test key


def test_hex_and_base64_decode_to_the_same_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from_hex = Keyring.from_text(KEY.hex())
    from_b64 = Keyring.from_text(base64.b64encode(KEY).decode())
    from_urlsafe = Keyring.from_text(base64.urlsafe_b64encode(KEY).decode().rstrip("="))
    monkeypatch.setenv(ENV_VAR, KEY.hex().upper())
    from_env = Keyring.from_env()
    assert from_hex.fingerprint() == from_b64.fingerprint() == from_urlsafe.fingerprint() == from_env.fingerprint()
    assert Keyring.from_bytes(KEY) == from_hex


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("00" * 16, "16 bytes, at least 32"),
        ("not a key at all!!", "neither hex nor base64"),
        ("aa" * 40, "too few distinct byte values"),
        (b"passwordpassword".hex() * 2, "not high-entropy"),  # 32 bytes of text
        (base64.b64encode(b"passwordpassword" * 2).decode(), "not high-entropy"),
        (bytes(range(32)).hex(), "counts up"),
        ((hashlib.sha256(b"x").digest()[:8] * 4).hex(), "not high-entropy"),  # a random 8-byte block repeated
    ],
)
def test_bad_keys_fail_with_an_actionable_message_that_never_shows_the_key(text: str, fragment: str) -> None:
    with pytest.raises(KeyMaterialError) as info:
        Keyring.from_text(text)
    message = str(info.value)
    assert fragment in message
    assert "secrets.token_hex(32)" in message or "random" in message
    if text:
        assert text not in message
    assert not isinstance(info.value, KeyError)


def test_missing_env_and_file_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(KeyMaterialError, match=ENV_VAR):
        Keyring.load(None)
    with pytest.raises(KeyMaterialError, match="cannot read key file"):
        Keyring.load(tmp_path / "nope.key")
    monkeypatch.setenv(ENV_VAR, "zz")
    with pytest.raises(KeyMaterialError, match=ENV_VAR):
        Keyring.load(tmp_path / "nope.key")


def test_repr_str_and_pickle_never_reveal_the_master_key() -> None:
    ring = Keyring.from_bytes(KEY)
    for text in (repr(ring), str(ring), f"{ring}"):
        assert KEY.hex() not in text.lower()
        assert ring.fingerprint() in text
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(ring)
    assert not hasattr(ring, "__dict__")


def test_fingerprint_is_stable_short_and_key_specific() -> None:
    ring = Keyring.from_bytes(KEY)
    other = Keyring.from_bytes(os.urandom(32))
    assert ring.fingerprint() == Keyring.from_text(KEY.hex()).fingerprint()
    assert len(ring.fingerprint()) == 16
    assert ring.fingerprint() != other.fingerprint()
    assert ring.fingerprint() not in KEY.hex()


def test_subkeys_are_separated_by_purpose_and_domain() -> None:
    ring = Keyring.from_bytes(KEY)
    keys = {
        ring.subkey("key", "dim_patients.patient_id"),
        ring.subkey("key", "dim_hospitals.hospital_id"),
        ring.subkey("pool", "dim_patients.patient_id"),
        ring.subkey("date-shift", "dim_patients.patient_id"),
    }
    assert len(keys) == 4
    assert all(len(k) == 32 for k in keys)
    assert ring.subkey("key", "a.b") == Keyring.from_bytes(KEY).subkey("key", "a.b")
    assert KEY not in keys
    with pytest.raises(ValueError):
        ring.subkey("key/x", "a.b")


def test_ensure_key_file_creates_a_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "anonymizer.key"
    ring, created = ensure_key_file(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) >= 32
    again, created_again = ensure_key_file(path)
    assert not created_again
    assert again.fingerprint() == ring.fingerprint()


def test_ensure_key_file_refuses_a_world_readable_key(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text(KEY.hex())
    path.chmod(0o644)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        ensure_key_file(path)


def test_random_keys_always_pass_the_entropy_test() -> None:
    """The low-entropy test must never refuse a real random key (its false-alarm rate is far below 1e-9)."""
    for _ in range(20_000):
        assert low_entropy_reason(os.urandom(32)) is None
    for size in (33, 48, 64, 128):
        assert low_entropy_reason(os.urandom(size)) is None


def test_the_message_says_how_to_make_a_key() -> None:
    with pytest.raises(KeyMaterialError) as info:
        Keyring.from_bytes(b"passwordpassword" * 2)
    assert "openssl rand -hex 32" in str(info.value) and "secrets.token_hex(32)" in str(info.value)
    with pytest.raises(KeyMaterialError, match="printable text"):
        Keyring.from_bytes(b"Correct horse, battery staple! 1987 Zq")  # a passphrase passed as raw bytes


def test_key_id_carries_the_algorithm_version() -> None:
    ring = Keyring.from_bytes(KEY)
    assert ring.key_id() == f"{ring.fingerprint()}+{ALGORITHM_VERSION}"
    assert ALGORITHM_VERSION and "+" not in ALGORITHM_VERSION
