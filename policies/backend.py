"""CKV_DBX_19: every deployable stack keeps its state in an encrypted remote backend.

The state holds the anonymization key in clear text (``databricks_secret.string_value`` and the
``random_password`` result), so state on a laptop or CI disk leaks the key that protects every pseudonym.

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
# Backends that keep state off the machine running Terraform. "local" is the only built-in that does not.
REMOTE_BACKENDS = frozenset({"s3", "azurerm", "gcs", "remote", "http", "consul", "pg", "kubernetes", "oss", "cos"})


def backend_violations(document: dict[str, Any]) -> list[str]:
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
        if kind not in REMOTE_BACKENDS:
            problems.append(f"the {kind} backend keeps the state (with the key) on the machine running Terraform")
        elif kind == "s3" and settings.get("encrypt") is not True:
            problems.append("the s3 backend does not set encrypt = true: the state object is stored unencrypted")
    return problems
