"""The job's error hierarchy and exit codes, in one place.

Why: a scheduler, a CI job and a person at a shell all act on the exit code, so it must depend on *what went
wrong*, never on which library class happened to be raised. Every failure the user can act on is an
:class:`AnonymizerError` subclass that carries its exit code and, where there is one, the fix. ``cli.main``
maps only these; anything else is a bug (exit 1, with the trace under ``--debug``).

Messages must never contain key material or source values (PII): they name files, tables, columns, flags and
counts only.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit codes of every ``anonymizer`` command and wheel entry point (also listed in ``--help``)."""

    OK = 0
    INTERNAL = 1  # a bug: not an AnonymizerError (rerun with --debug and report it)
    USAGE = 2  # bad input: contract, config, key, options, files
    GATE = 3  # the live source differs from the contract (or violates it)
    CHECKS = 4  # staging failed a check against the source
    BUSY = 5  # another run holds the lock
    PROMOTE = 6  # promotion failed and every final table was restored
    ROLLED_BACK = 7  # the rollback task restored the final tables (it always fails the job run)
    KEY = 8  # the key (or algorithm version) differs from the last published run's
    RISK = 9  # re-identification risk above the contract's threshold
    CONTENT = 10  # identifiers found in columns about to be published


EXIT_CODE_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "unexpected error (a bug): rerun with --debug for the trace",
    ExitCode.USAGE: "bad input: contract, config, key, options or files",
    ExitCode.GATE: "the live source differs from the contract; nothing was written",
    ExitCode.CHECKS: "staging failed a check; nothing was promoted",
    ExitCode.BUSY: "another run holds the lock",
    ExitCode.PROMOTE: "promotion failed; final tables were restored",
    ExitCode.ROLLED_BACK: "the rollback task restored the final tables",
    ExitCode.KEY: "the key differs from the last published run's (pass --rotate-key on purpose)",
    ExitCode.RISK: "re-identification risk above the contract's threshold; nothing was promoted",
    ExitCode.CONTENT: "identifiers found in columns about to be published; nothing was promoted",
}


def exit_codes_epilog() -> str:
    """Plain-text table of exit codes for ``--help``."""
    lines = ["exit codes:"]
    lines += [f"  {int(code):>2}  {text}" for code, text in EXIT_CODE_HELP.items()]
    return "\n".join(lines)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one bounded line for a journal or a check (the class name when it has no message).

    Why: Spark and Delta errors carry a JVM stack trace after the first line; a message-less exception must
    not raise ``IndexError`` inside the very handler that keeps a run going.
    """
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


class AnonymizerError(Exception):
    """A failure the user can act on: ``exit_code`` decides the process status, ``fix`` says what to do."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    @property
    def code(self) -> int:
        return int(self.exit_code)

    def __str__(self) -> str:
        return f"{self.message}. Fix: {self.fix}" if self.fix else self.message


class UsageError(AnonymizerError):
    """Bad input: a file, option, name or value the user must correct."""

    exit_code = ExitCode.USAGE


class StepFailed(AnonymizerError):
    """A job step refused or failed; the subclass says which outcome (and so which exit code)."""

    exit_code = ExitCode.INTERNAL


class GateFailed(StepFailed):
    exit_code = ExitCode.GATE


class ChecksFailed(StepFailed):
    exit_code = ExitCode.CHECKS


class Busy(StepFailed):
    """Another run holds the lock (or took it at the same moment)."""

    exit_code = ExitCode.BUSY


class PromotionFailed(StepFailed):
    exit_code = ExitCode.PROMOTE


class RolledBack(StepFailed):
    exit_code = ExitCode.ROLLED_BACK


class KeyMismatch(StepFailed):
    exit_code = ExitCode.KEY


class RiskAboveThreshold(StepFailed):
    exit_code = ExitCode.RISK


class IdentifiersFound(StepFailed):
    exit_code = ExitCode.CONTENT
