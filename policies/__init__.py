"""Policy-as-code for the Databricks stacks: custom checkov checks (``policies/checks``) and the scan gate.

checkov 3.3.30 ships no check for ``databricks/databricks`` resources, so every rule that keeps production
data away from developers is ours. ``python -m policies.scan`` synthesizes the stacks, runs the checks with
checkov and enforces the one rule checkov cannot see (the state backend). See ``policies/README.md``.
"""
