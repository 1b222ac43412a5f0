"""Key material: one secret master key, and per-purpose subkeys derived from it with HKDF.

Everything the engine does is keyed by a single secret of at least 32 random bytes. Each use (a key
domain's permutation, a name pool's PRF, the date shift of an entity, ...) gets its own subkey derived with
HKDF-SHA256 and a distinct ``info`` (``anonymizer/v1/<purpose>/<domain>``): knowing or breaking one subkey
says nothing about another, and two domains never share a permutation by accident.

The master key never leaves this module's :class:`Keyring`: its repr/str show only a fingerprint, it refuses
to be pickled (so it can never be shipped to Spark executors by mistake; only the derived subkeys travel,
inside the UDF closures), and error messages never contain key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
import zlib
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from anonymizer.errors import UsageError

ENV_VAR = "ANONYMIZER_KEY"
MIN_KEY_BYTES = 32
GENERATED_KEY_BYTES = 32
INFO_PREFIX = b"anonymizer/v1/"
# Version of every keyed mapping (FF1 integer/digit permutations, SSN/phone output spaces, per-column
# subkeys, pools, ...). Bump it whenever any strategy's output for a given key and input changes: the
# journal stores ``fingerprint+version`` (see :func:`key_id`), so a new version is refused like a new key
# (exit 8) unless the run is started with --rotate-key. tests/engine/test_known_answers.py pins the outputs.
ALGORITHM_VERSION = "a2"
_HEX = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")


class KeyMaterialError(UsageError, ValueError):
    """The key is missing, too short or malformed. The message says what to do and never shows the key."""


_HOW_TO = (
    "provide at least 32 random bytes, hex or base64 encoded, e.g. `openssl rand -hex 32` or "
    '`python -c "import secrets; print(secrets.token_hex(32))"`'
)


def _expected_distinct(n: int) -> float:
    """Expected number of distinct byte values among ``n`` uniformly random bytes."""
    return 256.0 * (1.0 - (255.0 / 256.0) ** n)


def low_entropy_reason(raw: bytes) -> str | None:
    """Why ``raw`` is not plausibly a random key (None when it is). Never mentions the key bytes.

    Three tests, each failed by a truly random key of >= 32 bytes with probability far below 10^-9:

    * distinct byte values, and distinct differences of consecutive bytes, below 60% of what random bytes
      give (32 random bytes show ~30 distinct values; 18 or fewer has probability 4.6e-12, computed exactly);
      catches repeated patterns (``passwordpassword...``) and counters (``00 01 02 ...``);
    * zlib compresses it below its own length: random bytes never compress (DEFLATE adds >= 6 bytes);
    * every byte is printable ASCII (probability (95/256)^32 < 10^-13): a passphrase or a hex/base64 text
      used as raw bytes, not a decoded random key.
    """
    n = len(raw)
    floor = 0.6 * _expected_distinct(n)
    diffs = bytes((raw[i + 1] - raw[i]) % 256 for i in range(n - 1))
    if len(set(raw)) < floor or len(set(diffs)) < 0.6 * _expected_distinct(n - 1):
        return "it repeats a short pattern or counts up (too few distinct byte values)"
    if len(zlib.compress(raw, 9)) < n:
        return "it is compressible, so it is not random"
    if all(32 <= c < 127 for c in raw):
        return "its bytes are printable text (a passphrase?), not decoded random bytes"
    return None


def decode_key_text(text: str) -> bytes:
    """Decode a hex (64+ hex digits) or base64 key; raise :class:`KeyMaterialError` on anything else.

    Hex is tried first because a hex string is also valid base64 but would decode to the wrong bytes.
    """
    stripped = "".join(text.split())
    if not stripped:
        raise KeyMaterialError(f"the anonymization key is empty: {_HOW_TO}")
    raw: bytes | None = None
    if _HEX.match(stripped) and len(stripped.removeprefix("0x")) % 2 == 0:
        raw = bytes.fromhex(stripped.removeprefix("0x"))
    else:
        try:
            padded = stripped + "=" * (-len(stripped) % 4)
            if "-" in stripped or "_" in stripped:
                raw = base64.urlsafe_b64decode(padded)
            else:
                raw = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        raise KeyMaterialError(
            f"the anonymization key is neither hex nor base64 ({len(stripped)} characters): {_HOW_TO}"
        )
    return raw


class Keyring:
    """Holds the master key and derives subkeys. Build it with one of the ``from_*`` constructors."""

    __slots__ = ("__master",)

    def __init__(self, master: bytes) -> None:
        if not isinstance(master, (bytes, bytearray)):
            raise KeyMaterialError("the anonymization key must be bytes")
        if len(master) < MIN_KEY_BYTES:
            raise KeyMaterialError(
                f"the anonymization key has {len(master)} bytes, at least {MIN_KEY_BYTES} are required: {_HOW_TO}"
            )
        reason = low_entropy_reason(bytes(master))
        if reason is not None:
            raise KeyMaterialError(f"the anonymization key is not high-entropy random bytes ({reason}): {_HOW_TO}")
        self.__master = bytes(master)

    # --- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, master: bytes) -> Keyring:
        """From raw key bytes (e.g. ``dbutils.secrets.getBytes``)."""
        return cls(master)

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        """From a hex or base64 string (e.g. ``dbutils.secrets.get``, the env variable, a key file)."""
        return cls(decode_key_text(text))

    @classmethod
    def from_env(cls, var: str = ENV_VAR) -> Keyring:
        value = os.environ.get(var)
        if value is None:
            raise KeyMaterialError(f"environment variable {var} is not set: {_HOW_TO}")
        try:
            return cls.from_text(value)
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"{var}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise KeyMaterialError(f"cannot read key file {p} ({exc.strerror}): create it or set {ENV_VAR}") from None
        except UnicodeDecodeError:
            raise KeyMaterialError(f"key file {p} is not text: store the key hex or base64 encoded") from None
        try:
            return cls.from_text(text)
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"key file {p}: {exc}") from None

    @classmethod
    def load(cls, key_file: str | os.PathLike[str] | None = None) -> Keyring:
        """``ANONYMIZER_KEY`` if set, else the key file; fail with a clear message when neither is usable."""
        if os.environ.get(ENV_VAR) is not None:
            return cls.from_env()
        if key_file is None:
            raise KeyMaterialError(f"no anonymization key: set {ENV_VAR} or pass a key file")
        return cls.from_file(key_file)

    # --- derivation ---------------------------------------------------------------------------------
    def subkey(self, purpose: str, domain: str, length: int = 32) -> bytes:
        """HKDF-SHA256 subkey for ``purpose`` (e.g. ``key``, ``pool``) and ``domain`` (e.g. a key domain).

        The salt is fixed and public on purpose: the master key is already uniformly random, and a fixed
        salt keeps every derivation reproducible across runs and machines.
        """
        if "/" in purpose:
            raise ValueError("purpose must not contain '/' (it separates purpose from domain)")
        info = INFO_PREFIX + purpose.encode() + b"/" + domain.encode()
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"anonymizer-hkdf-salt-v1", info=info).derive(
            self.__master
        )

    def fingerprint(self) -> str:
        """Short key id (16 hex digits of an HMAC of a constant): safe to store and log, never reveals the key.

        The job stores it with each run and refuses a run whose key differs from the previous run's, because
        a different key would silently change every anonymized value and break consumers' joins over time.
        """
        return hmac.new(self.__master, b"anonymizer/v1/fingerprint", hashlib.sha256).hexdigest()[:16]

    def key_id(self) -> str:
        """``<fingerprint>+<ALGORITHM_VERSION>``: what the journal stores and the key guard compares.

        A change of either part changes every pseudonym, so either one is treated as a key rotation.
        """
        return f"{self.fingerprint()}+{ALGORITHM_VERSION}"

    # --- never reveal -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Keyring(fingerprint={self.fingerprint()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Keyring is never pickled: derive subkeys on the driver and pass those to UDFs")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keyring):
            return NotImplemented
        return hmac.compare_digest(self.fingerprint(), other.fingerprint())

    def __hash__(self) -> int:
        return hash(self.fingerprint())


def generate_key_text() -> str:
    """A fresh random key, hex encoded (32 bytes from the OS CSPRNG)."""
    return secrets.token_hex(GENERATED_KEY_BYTES)


def ensure_key_file(path: str | os.PathLike[str]) -> tuple[Keyring, bool]:
    """Load the key file, creating it with a new random key (mode 0600) when missing.

    Returns ``(keyring, created)``. The file is created with O_EXCL and mode 0600 in one step, so the key is
    never readable by others, not even for an instant. An existing file readable by group/others is refused.
    """
    p = Path(path)
    created = False
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created concurrently: load it below
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(generate_key_text() + "\n")
            created = True
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        raise KeyMaterialError(f"key file {p} is accessible by other users (mode {mode:o}): run `chmod 600 {p}`")
    return Keyring.from_file(p), created
