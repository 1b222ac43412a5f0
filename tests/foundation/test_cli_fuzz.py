"""Fuzz the CLI's argument handling: whatever the arguments, no traceback and an exit code from ExitCode.

The commands' work is stubbed at ``build_context`` (the point where a command would start Spark), so this
exercises argparse, the per-command flags, option validation (run ids, paths) and ``main``'s error mapping.
Every command's real run is covered by the Spark tests.
"""

from __future__ import annotations

import contextlib
import io
import sys
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer import cli
from anonymizer.errors import ExitCode, UsageError

COMMANDS = ["gate", "anonymize", "check", "promote", "rollback", "report", "run", "classify", "unlock", "load"]
COMMANDS += ["generate", "demo", "bench", "nope", ""]
FLAGS = [
    "--contract",
    "--lakehouse",
    "--runtime",
    "--source-catalog",
    "--source_catalog",
    "--secret-scope",
    "--key-file",
    "--run-id",
    "--run_id",
    "--report-dir",
    "--rotate-key",
    "--allow-empty",
    "--to-run",
    "--table",
    "--force",
    "--from",
    "--visits",
    "--seed",
    "--debug",
    "--help",
    "--version",
    "-h",
]
VALUES = st.one_of(
    st.sampled_from(["local", "databricks", "1", "-1", "0", "../x", "a;b", "'", '"', "`", "x" * 70, "", " "]),
    st.text(max_size=20),
)
ARGS = st.lists(st.one_of(st.sampled_from(FLAGS), VALUES, st.sampled_from(FLAGS).map(lambda f: f + "=v")), max_size=8)


class Reached(UsageError):
    """Raised where a command would start its real work: the arguments got through validation."""


def _stop(*_: object, **__: object) -> None:
    raise Reached("reached build_context", fix="none: the fuzz test stops here")


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with (
        mock.patch.object(cli, "build_context", _stop),
        mock.patch("anonymizer_tools.commands.build_context", _stop),
        mock.patch("anonymizer_tools.bench.main", _stop),
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    return int(code), err.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(COMMANDS), args=ARGS)
def test_cli_never_tracebacks_and_exits_with_a_documented_code(command: str, args: list[str]) -> None:
    code, err = run([command, *args] if command else args)
    assert code in {c.value for c in ExitCode}
    assert code != ExitCode.INTERNAL, err
    assert "Traceback" not in err
    if code and err:
        assert err.startswith(("usage:", "error:")), err


def test_a_valid_command_line_gets_through_validation() -> None:
    code, err = run(["gate", "--run-id", "20261129T065500-abcdef12", "--lakehouse", "/tmp/x", "--allow-empty"])
    assert code == ExitCode.USAGE and "reached build_context" in err


def test_a_hostile_run_id_is_refused_by_validation_not_by_the_stub() -> None:
    code, err = run(["report", "--run-id", "../../etc/passwd"])
    assert code == ExitCode.USAGE and "is not a valid run id" in err and "reached" not in err


def test_rollback_entry_maps_every_error_to_its_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rollback task's entry point: a usage error is 2, a bug is 1 (no traceback), never a raw exception."""
    monkeypatch.setattr(sys, "argv", ["anonymizer-rollback", "--run_id=../etc"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        cli.rollback_entry()
    assert info.value.code == ExitCode.USAGE and "--run-id" in err.getvalue()

    def bug(*_: object, **__: object) -> None:
        raise KeyError("not a user error")

    monkeypatch.setattr(sys, "argv", ["anonymizer-rollback", "--run_id=123"])
    monkeypatch.setattr(cli, "build_context", bug)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        cli.rollback_entry()
    assert info.value.code == ExitCode.INTERNAL
    assert "unexpected KeyError" in err.getvalue() and "Traceback" not in err.getvalue()
