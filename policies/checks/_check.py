"""Base class of every CKV_DBX check: plain values in, a list of human-readable violations out.

Why a base class: checkov's contract (list-wrapped values, ``CheckResult`` enums, ``self.details``) is the same
boilerplate in every check and easy to get subtly wrong; here each rule only says *what* is violated. The
base also gives each rule the whole stack document, which checkov does not pass to Python checks, so that
references (``${databricks_catalog.x.name}``) can be resolved across resources.

Imports checkov: only checkov's venv can import this module.
"""

from __future__ import annotations

import inspect
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

try:
    from policies.checks._hcl import unwrap
    from policies.checks._stack import EMPTY_STACK, StackDocument, load_stack
except ModuleNotFoundError:  # inside checkov: only this directory is on sys.path
    from _hcl import unwrap  # type: ignore[no-redef]
    from _stack import EMPTY_STACK, StackDocument, load_stack  # type: ignore[no-redef]

GUIDELINE = "policies/README.md"


@dataclass(frozen=True)
class Resource:
    """One resource under check: its address, its plain configuration and the stack it belongs to."""

    type: str
    name: str
    conf: dict[str, Any]
    stack: StackDocument

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


def _stack_of(scanned_file: str) -> StackDocument | None:
    """The document of the file checkov is scanning right now.

    checkov 3.3.30 passes Python checks only a path relative to the scan root, never the root; its
    ``TerraformJsonRunner.run_block`` frame holds the real ``full_file_path``. Reading the caller's frame is
    tied to that (pinned) version, so the lookup is verified against ``scanned_file`` and, if checkov ever
    changes, returns None: rules then cannot resolve references and fail closed, and the pass-fixture test
    fails loudly instead of the gate passing silently.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            candidate = frame.f_locals.get("full_file_path")
            if isinstance(candidate, str) and Path(candidate).as_posix().endswith(scanned_file.lstrip("/")):
                return load_stack(candidate)
            frame = frame.f_back
    finally:
        del frame
    return None


def iteration_problems(conf: dict[str, Any]) -> list[str]:
    """Why a resource's configuration is not static: ``for_each``/``count`` or a ``dynamic`` block (cdktf
    iterators emit both). Its principals, privileges and paths cannot be read before apply: fail closed."""
    problems = [f"{key} is set" for key in ("for_each", "count") if key in conf]
    if "dynamic" in conf:
        problems.append("a dynamic block generates nested blocks")
    return problems


class DbxCheck(BaseResourceCheck):
    """A CKV_DBX rule. Subclasses set the class attributes and implement :meth:`violations`."""

    check_id: str
    title: str
    resource_types: tuple[str, ...]
    category: CheckCategories = CheckCategories.IAM

    def __init__(self) -> None:
        super().__init__(
            name=self.title,
            id=self.check_id,
            categories=[self.category],
            supported_resources=list(self.resource_types),
            guideline=GUIDELINE,
        )

    def scan_entity_conf(self, conf: dict[str, list[Any]], entity_type: str) -> CheckResult:
        """Skip checkov's in-place expansion of ``dynamic`` blocks: on Terraform JSON it trips over its own line
        markers (ints) and raises, so the check "fails to run" (verified on 3.3.30). Our rules never expand an
        iteration; they fail it (see :func:`iteration_problems`). ``count = 0`` is not skipped either."""
        self.entity_type = entity_type
        return self.scan_resource_conf(conf)

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        # entity_path is "<scanned file>:<type>:<name>", set by checkov before it calls the check.
        scanned_file, type_, name = str(self.entity_path).rsplit(":", 2)
        stack = _stack_of(scanned_file)
        resource = Resource(type_, name, unwrap(conf), stack or EMPTY_STACK)
        iterated = iteration_problems(resource.conf)
        if iterated:
            self.details.extend(
                f"{problem}: the values this rule checks are known only at apply, so it cannot pass"
                for problem in iterated
            )
            return CheckResult.FAILED
        problems = self.violations(resource)
        if problems is None:
            return CheckResult.UNKNOWN
        found = list(problems)
        if stack is None and found:
            found.append("the stack document was not found, so references could not be resolved")
        self.details.extend(found)
        return CheckResult.FAILED if found else CheckResult.PASSED

    @abstractmethod
    def violations(self, resource: Resource) -> Iterable[str] | None:
        """Every way ``resource`` breaks the rule (empty: it passes; None: the rule does not apply)."""
