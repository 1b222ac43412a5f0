"""CKV_DBX_19: every deployable stack keeps its state in an encrypted remote backend.

The state holds every resource's configuration and ids, and with the opt-in state-held key
(``secret.source: generated`` / ``variable``) the anonymization key in clear text, so state on a laptop, a CI
disk or a plain-text connection leaks what protects every pseudonym.

Why this is not a checkov check: checkov's ``terraform_json`` runner hands Python checks only ``resource``,
``data``, ``provider`` and ``module`` blocks, and its YAML solvers skip ``terraform`` blocks, so no custom
check can see ``terraform.backend`` (verified on 3.3.30). ``policies.scan`` runs this rule on each stack
itself, reports it with the same id format, and adds it to the SARIF and JUnit reports.

Every stack under ``cdktf.out/stacks`` is deployable: tests synthesize their stacks into temporary outdirs
(the config loader accepts a local backend only with ``allow_local_backend=True``), so there is no exemption.
"""

from __future__ import annotations

from typing import Any

CHECK_ID = "CKV_DBX_19"
TITLE = "Stacks keep state in an encrypted remote backend"
# Remote backends that encrypt state at rest and in transit as configured here. The other built-ins are
# refused: "local" keeps state on one disk; "consul", "pg", "kubernetes", "oss" and "cos" may talk plain text
# or store unencrypted depending on server settings the stack cannot show. "http" only with an https address.
REMOTE_BACKENDS = frozenset({"s3", "azurerm", "gcs", "remote", "http"})
_HTTP_ADDRESSES = ("address", "lock_address", "unlock_address")


def backend_violations(document: dict[str, Any]) -> list[str]:  # noqa: C901 - one branch per backend type
    """Why the stack's backend is unsafe (empty when it is a remote, encrypted one)."""
    terraform = document.get("terraform", {})
    if not isinstance(terraform, dict):
        terraform = {}
    if terraform.get("cloud"):
        return []  # HCP Terraform / Terraform Enterprise: remote, encrypted at rest
    backends = terraform.get("backend")
    if not isinstance(backends, dict) or not backends:
        return ["no backend is declared: Terraform keeps the state (with the key) in a local file"]
    problems = []
    for kind, settings in backends.items():
        settings = settings if isinstance(settings, dict) else {}
        if kind == "local":
            problems.append("the local backend keeps the state on the machine running Terraform")
        elif kind not in REMOTE_BACKENDS:
            problems.append(
                f"the {kind} backend is not one whose encryption the stack can show; use s3 (encrypt = true), "
                "azurerm, gcs, remote or an https http backend"
            )
        elif kind == "s3" and settings.get("encrypt") is not True:
            problems.append("the s3 backend does not set encrypt = true: the state object is stored unencrypted")
        elif kind == "s3" and str(settings.get("endpoint", "https://")).startswith("http://"):
            problems.append("the s3 backend's endpoint is plain http: the state travels unencrypted")
        elif kind == "http":
            for key in _HTTP_ADDRESSES:
                address = settings.get(key)
                if address is not None and not str(address).lower().startswith("https://"):
                    problems.append(f"the http backend's {key} {address} is not https: the state travels in clear")
            if settings.get("address") is None:
                problems.append("the http backend has no address")
    return problems
