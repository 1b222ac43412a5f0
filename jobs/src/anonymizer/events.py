"""The journal's event names, in a module of their own.

Why separate from :mod:`anonymizer.journal`: contract-level modules (release, retention) read events, and the
journal imports the contract; the names alone must import nothing.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EventName"]


class EventName(StrEnum):
    """Every event the journal records. A ``str`` enum: the stored values are these strings, unchanged."""

    RUN_STARTED = "run_started"
    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
    ANONYMIZED = "anonymized"
    CHECK_PASSED = "check_passed"
    CHECK_FAILED = "check_failed"
    RISK_PASSED = "risk_passed"
    RISK_FAILED = "risk_failed"
    SCAN_PASSED = "scan_passed"
    SCAN_FAILED = "scan_failed"
    VACUUMED = "vacuumed"
    VACUUM_FAILED = "vacuum_failed"
    PROMOTE_TABLE_BEGIN = "promote_table_begin"
    PROMOTE_BEGIN = "promote_begin"
    PROMOTE_TABLE = "promote_table"
    PROMOTE_COMMIT = "promote_commit"
    ROLLED_BACK = "rolled_back"
    RECOVERED = "recovered"
    RUN_ABANDONED = "run_abandoned"
