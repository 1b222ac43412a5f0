"""``anonymizer key init``: write the anonymization key into its secret scope, once, without Terraform.

Why not Terraform: provider 1.99 has no write-only attributes, so a key that Terraform creates or receives sits
in clear text in the state and in every saved plan, and everyone who can read either (a pull-request plan
job, a state-bucket reader) can re-identify every pseudonym. The stacks therefore declare only the scope and
the service principal's READ ACL; this command, run once by an operator who may write to the scope, puts 32
bytes from the operating system's CSPRNG (``secrets.token_bytes``) there, base64 encoded (the job decodes
hex or base64: ``anonymizer.keys.decode_key_text``).

Idempotent: when the key already exists nothing is written and the command succeeds, so it can sit in a
runbook or a bootstrap script. Replacing an existing key needs ``--rotate`` on purpose: every pseudonym in the
anonymized copy changes, and the next job run must pass ``--rotate-key``.

The value is never printed, logged or put in an exception. The Databricks SDK (``databricks-sdk``, shipped on
Databricks Runtime; locally in the ``local`` extra) is imported only when the command runs, so the job's
steps never import it. Authentication is the SDK's unified auth: ``--host``/``--profile`` or the
``DATABRICKS_*`` environment (token, OAuth M2M, CLI profile).

API: ``GET /api/2.0/secrets/list?scope=...`` and ``POST /api/2.0/secrets/put {scope, key, string_value}``
(https://docs.databricks.com/api/workspace/secrets).
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from anonymizer.errors import AnonymizerError, ExitCode

KEY_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def _name(value: str) -> str:
    """Scope and key names as the Secrets API accepts them (and as infra/settings.py validates them)."""
    if not _NAME.match(value):
        raise argparse.ArgumentTypeError(f"'{value}' is not a secret scope/key name ([A-Za-z0-9_.-], 1-128)")
    return value


class KeyInitError(AnonymizerError):
    """The key could not be written (no scope, no permission, no credentials); nothing was changed."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class KeyInitResult:
    """What the command did; never carries the value."""

    scope: str
    key: str
    written: bool
    rotated: bool

    def describe(self) -> str:
        where = f"{self.scope}/{self.key}"
        if not self.written:
            return f"key {where} already exists: left unchanged (pass --rotate to replace it)"
        if self.rotated:
            return (
                f"key {where} replaced with {KEY_BYTES} new random bytes: every pseudonym changes; run the job "
                "with --rotate-key next"
            )
        return f"key {where} written: {KEY_BYTES} random bytes, base64 encoded (the value was not displayed)"


def new_key_text() -> str:
    """32 CSPRNG bytes, standard base64 (44 characters): what the job's ``decode_key_text`` reads back."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def workspace_client(host: str | None = None, profile: str | None = None, token: str | None = None) -> Any:
    """A ``databricks.sdk.WorkspaceClient`` (imported lazily: the job's steps never need the SDK)."""
    try:
        from databricks.sdk import WorkspaceClient
    except ImportError:
        raise KeyInitError(
            "the Databricks SDK is not installed", fix="pip install databricks-sdk (or: make setup)"
        ) from None
    try:
        return WorkspaceClient(host=host or None, profile=profile or None, token=token or None)
    except Exception as exc:  # the SDK raises ValueError subclasses for missing or conflicting auth
        raise KeyInitError(
            f"cannot authenticate to Databricks ({type(exc).__name__})",
            fix="pass --host and set DATABRICKS_TOKEN, or --profile with a configured CLI profile",
        ) from None


def init_key(client: Any, scope: str, key: str, *, rotate: bool = False) -> KeyInitResult:
    """Write a new key unless one exists (or ``rotate``); return what was done."""
    from databricks.sdk.errors import NotFound, PermissionDenied
    from databricks.sdk.errors.base import DatabricksError

    try:
        existing = {item.key for item in client.secrets.list_secrets(scope=scope)}
    except NotFound:
        raise KeyInitError(
            f"secret scope {scope} does not exist",
            fix="apply the stack first (it declares the scope and its ACL), then run key init again",
        ) from None
    except PermissionDenied:
        raise KeyInitError(
            f"no permission to list secret scope {scope}",
            fix="run key init as the identity that created the scope (MANAGE) or a workspace admin",
        ) from None
    except DatabricksError as exc:
        raise KeyInitError(f"listing secret scope {scope} failed ({exc.error_code or type(exc).__name__})") from None
    if key in existing and not rotate:
        return KeyInitResult(scope, key, written=False, rotated=False)
    try:
        client.secrets.put_secret(scope=scope, key=key, string_value=new_key_text())
    except PermissionDenied:
        raise KeyInitError(
            f"no permission to write to secret scope {scope}",
            fix="run key init as an identity with WRITE or MANAGE on the scope",
        ) from None
    except DatabricksError as exc:
        raise KeyInitError(f"writing {scope}/{key} failed ({exc.error_code or type(exc).__name__})") from None
    return KeyInitResult(scope, key, written=True, rotated=key in existing)


def cmd_key_init(args: argparse.Namespace) -> int:
    """Entry of ``anonymizer key init``; prints one line, never the value."""
    try:
        client = workspace_client(args.host, args.profile)
        result = init_key(client, args.scope, args.key, rotate=args.rotate)
    except KeyInitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    print(result.describe())
    return 0


def register(subparsers: Any) -> None:
    """Add ``key init`` to the ``anonymizer`` CLI (``subparsers`` from ``add_subparsers``)."""
    key = subparsers.add_parser("key", help="manage the anonymization key in its Databricks secret scope")
    actions = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init",
        help="write 32 random bytes into the secret scope once (idempotent; --rotate to replace)",
        description=(
            "Write the anonymization key (32 random bytes, base64) into its Databricks secret scope, once, so it "
            "never enters Terraform state. Does nothing when the key exists, unless --rotate."
        ),
    )
    init.add_argument(
        "--scope", required=True, type=_name, help="the secret scope (secret.scope of infra/config/<env>.yaml)"
    )
    init.add_argument("--key", required=True, type=_name, help="the secret key name (secret.key of the config)")
    init.add_argument("--host", help="workspace URL (default: DATABRICKS_HOST or the profile's)")
    init.add_argument("--profile", help="a Databricks CLI profile (~/.databrickscfg)")
    init.add_argument(
        "--rotate",
        action="store_true",
        help="replace an existing key: every pseudonym changes; the next run needs --rotate-key",
    )
    init.set_defaults(fn=cmd_key_init)
