"""Contract fields of the content scan: the per-column rate threshold and reviewed acknowledgements.

Kept apart from :mod:`anonymizer.content_scan` (which needs Spark) so the contract loader and the stacks can
validate these fields without importing Spark. ``Contract.settings.scan`` holds the defaults;
``Column.scan`` overrides the threshold and acknowledges findings for one column, each with a reason that is
reviewed in the pull request, as ``keep`` needs a reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Every pattern the scan reports. ``source_value``: a value of a direct_identifier source column appears in
# the output (the whole cell, or a run of >= 2 consecutive tokens equal to a whole source value).
Pattern = Literal["ssn", "phone", "email", "iban", "credit_card", "date_of_birth", "source_value"]
PATTERNS: tuple[str, ...] = ("ssn", "phone", "email", "iban", "credit_card", "date_of_birth", "source_value")


class ScanDefaults(BaseModel):
    """``settings.scan``: how much is sampled and the default per-column rate above which a run stops."""

    model_config = ConfigDict(extra="forbid")
    sample_rows: int = Field(default=100_000, ge=1_000, le=100_000_000)
    max_rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")


class Acknowledgement(BaseModel):
    """A reviewed exception: this column may contain ``pattern``, because ``reason``."""

    model_config = ConfigDict(extra="forbid")
    pattern: Pattern
    reason: str = Field(min_length=10)


class ColumnScan(BaseModel):
    """``tables.<t>.columns.<c>.scan``: per-column threshold and acknowledged findings."""

    model_config = ConfigDict(extra="forbid")
    max_rate: float | None = Field(default=None, ge=0.0, lt=1.0)
    acknowledged: list[Acknowledgement] = Field(default_factory=list)
