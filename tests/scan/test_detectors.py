"""The detectors find each identifier pattern in any digit script and never hand back a raw value."""

from __future__ import annotations

import pytest

from anonymizer.detectors import PREFILTER, detect, mask_digits, mask_text, normalize

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
FULLWIDTH = str.maketrans("0123456789@-", "０１２３４５６７８９＠－")


def patterns(text: str) -> set[str]:
    return {p for p, _ in detect(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("patient SSN 123-45-6789 on file", {"ssn"}),
        ("write to jane.doe+test@example.org please", {"email"}),
        ("call (415) 555-2671 after 5", {"phone"}),
        ("call +44 20 7946 0958", {"phone"}),
        ("IBAN GB82 WEST 1234 5698 7654 32 for refunds", {"iban"}),
        ("card 4111 1111 1111 1111 exp 12/29", {"credit_card"}),
        ("J. Doe, DOB: 1980-02-13, allergic", {"date_of_birth"}),
        ("born on 3/14/1975 in Ohio", {"date_of_birth"}),
    ],
)
def test_each_pattern_is_found(text: str, expected: set[str]) -> None:
    assert patterns(text) == expected


@pytest.mark.parametrize("script", [ARABIC_INDIC, DEVANAGARI, FULLWIDTH])
def test_non_ascii_digits_are_found(script: dict[int, str]) -> None:
    assert patterns("SSN 123-45-6789".translate(script)) == {"ssn"}
    assert patterns("call (415) 555-2671".translate(script)) == {"phone"}
    assert normalize("123".translate(script)) == "123"


@pytest.mark.parametrize(
    "text",
    [
        "routine check-up, no findings",
        "room 12, floor 3, visit 2024-05-06",
        "SSN 000-12-3456 and 666-12-3456 are never issued",  # check digits / rules reject them
        "card 4111 1111 1111 1112",  # Luhn fails
        "IBAN GB82 WEST 1234 5698 7654 33",  # checksum fails
        "order 1234567 shipped",
        "Cardiology",
    ],
)
def test_near_misses_are_not_findings(text: str) -> None:
    assert patterns(text) == set()


def test_examples_are_masked_never_raw() -> None:
    raw = {
        "ssn": "123-45-6789",
        "email": "jane.doe@example.org",
        "phone": "(415) 555-2671",
        "credit_card": "4111 1111 1111 1111",
        "date_of_birth": "DOB: 1980-02-13",
    }
    for pattern, value in raw.items():
        found = dict(detect(f"x {value} y"))
        assert pattern in found
        assert value not in found[pattern] and value.replace(" ", "") not in found[pattern]
    assert dict(detect("SSN 123-45-6789"))["ssn"] == "***-**-****"
    assert mask_digits("GB82 WEST 1234") == "**** **** ****"
    assert mask_text("jane.doe@example.org") == "j… (20 chars)"


def test_prefilter_is_a_valid_java_regex_that_passes_every_pattern(spark: object) -> None:
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    samples = [
        "SSN 123-45-6789",
        "jane@example.org",
        "ｊａｎｅ＠example.org",
        "call (415) 555-2671".translate(ARABIC_INDIC),
        "DOB 1/2/80",
        "Cardiology",
    ]
    df = spark.createDataFrame([(s,) for s in samples], "v string")
    kept = {r[0] for r in df.where(df.v.rlike(PREFILTER)).collect()}
    assert kept == set(samples[:-1])
