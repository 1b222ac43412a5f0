"""Identifier detectors for one text value, and the masking of what they find.

Why a second line of defence: the contract is a label, and a wrong label (``ssn`` marked ``keep``, a free-text
``notes`` column holding names and phone numbers) would publish identifiers while every check stays green.
These detectors look at the *values* instead. They are pure Python so they run inside a pandas UDF on the
executors and are unit-tested without Spark.

Detection uses maintained libraries for everything with a check digit or a numbering plan: ``phonenumbers``
(Google's libphonenumber) for phones, ``python-stdnum`` for SSN, IBAN and Luhn validation. Regular expressions
only find candidates. Every value is first normalized: NFKC (full-width forms such as ``＠`` or ``－``) and every
Unicode decimal digit (Arabic-Indic, Devanagari, full-width, ...) mapped to its ASCII digit, so a leak written
in another script is caught too.

Nothing here returns a raw value: a finding carries the pattern and a masked example (``***-**-****``, or the
first character and the length).
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.us import ssn as std_ssn

# Spark-side (Java regex) prefilter: only values that could hold a pattern go to Python at all. Seven digits
# (any script, a few separators apart), an at sign (any width), or a birth keyword.
PREFILTER = r"(?i)[@\x{FF20}\x{FE6B}]|(?:\p{Nd}\P{Nd}{0,3}){7}|d\.?o\.?b|born|birth"

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")
_SSN = re.compile(r"(?<!\d)(\d{3})([\- ])(\d{2})\2(\d{4})(?!\d)")
_CARD = re.compile(r"(?<![\d\-])(?:\d[ \-]?){12,18}\d(?![\d\-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5))")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{1,2}\s+[^\W\d_]{3,9}\.?\s+\d{4}"
    r"|[^\W\d_]{3,9}\.?\s+\d{1,2},?\s+\d{4})"
)
_DOB = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.?|born(?:\s+on)?|date\s+of\s+birth|birth\s*date|birthday)\s*[:=\-]?\s*" + _DATE
)
_ANY_DATE = re.compile(_DATE)


class _DigitMap(dict[int, str]):
    """``str.translate`` table: any Unicode decimal digit -> its ASCII digit, other characters unchanged.

    Filled lazily (``__missing__``), so a Python worker pays for the characters it meets, not for a scan of
    all 1.1 million code points.
    """

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        mapped = str(unicodedata.digit(ch)) if cp > 127 and unicodedata.category(ch) == "Nd" else ch
        self[cp] = mapped
        return mapped


_DIGITS = _DigitMap()


def normalize(text: str) -> str:
    """NFKC, then every Unicode decimal digit as ASCII: one form for the patterns to match."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_DIGITS)


def mask_digits(text: str) -> str:
    """``123-45-6789`` -> ``***-**-****``: the shape (separators, length) and nothing of the value.

    Why not the usual "last four": the last four digits of an SSN or a card are themselves used to verify a
    person, and a run report is read by more people than the data it describes.
    """
    return "".join("*" if ch.isalnum() else ch for ch in text)


def mask_text(text: str) -> str:
    """First character and the length only: ``j… (17 chars)``."""
    return f"{text[:1]}… ({len(text)} chars)" if text else "(empty)"


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace matched spans with spaces so later (looser) detectors do not match them again."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def detect(value: str, region: str = "US") -> list[tuple[str, str]]:  # noqa: C901 - one branch per pattern family
    """``[(pattern, masked example)]`` for every pattern found in ``value`` (each pattern at most once)."""
    text = normalize(value)
    found: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    for m in _EMAIL.finditer(text):
        found.setdefault("email", mask_text(m.group(0)))
        spans.append(m.span())
    for m in _DOB.finditer(text):
        found.setdefault("date_of_birth", mask_text(m.group(0)))
        spans.append(m.span())
    for m in _SSN.finditer(text):
        if std_ssn.is_valid(m.group(1) + m.group(3) + m.group(4)):
            found.setdefault("ssn", mask_digits(m.group(0)))
            spans.append(m.span())
    for m in _IBAN.finditer(text):
        candidate = m.group(0)
        while candidate and not std_iban.is_valid(candidate):
            candidate = candidate[:-1].rstrip()  # the regex may have taken a trailing word: shorten
            if len(candidate.replace(" ", "")) < 15:
                candidate = ""
        if candidate:
            found.setdefault("iban", mask_digits(candidate))
            spans.append((m.start(), m.start() + len(candidate)))
    text = _blank(text, spans)
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            found.setdefault("credit_card", mask_digits(m.group(0)))
            spans.append(m.span())
    text = _blank(text, spans + [m.span() for m in _ANY_DATE.finditer(text)])
    if "phone" not in found and sum(ch.isdigit() for ch in text) >= 7:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            found["phone"] = mask_digits(match.raw_string)
            break
    return list(found.items())
