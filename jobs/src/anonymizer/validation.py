"""Shared plumbing for validating reviewed YAML files: the data contract and the infra environment configs.

Why one module: both files are hand-edited, reviewed, and fail closed, so both need the same things done the
same way: read the file (a non-UTF-8 file is a clear error, not a ``UnicodeDecodeError``), parse YAML safely
(duplicate keys reported, aliases refused so an alias "billion laughs" bomb cannot exhaust memory, absurd
nesting refused), remember the line of every key so a problem points at the line to edit, and render every
problem as ``file:line: where: problem. Fix: ...``. The rules of each file stay with the file's own module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import yaml

from anonymizer.errors import UsageError

Path_ = tuple[Any, ...]


def render(file: str, line: int | None, where: str, message: str, fix: str) -> str:
    """``file:line: where: problem. Fix: ...`` (the one error-line format of every validated file)."""
    location = f"{file}:{line}" if line else file
    return f"{location}: {where + ': ' if where else ''}{message}. Fix: {fix}"


class Issue(Protocol):
    def render(self, file: str) -> str: ...


IssueT = TypeVar("IssueT", bound=Issue)


class InvalidFile(UsageError, Generic[IssueT]):
    """A validated file has problems; ``issues`` lists every one (never just the first). Exit code 2."""

    kind: ClassVar[str] = "file"

    def __init__(self, file: str, issues: Sequence[IssueT]) -> None:
        self.file = file
        self.issues = list(issues)
        lines = "\n".join("  " + i.render(file) for i in self.issues)
        super().__init__(f"invalid {self.kind} {file} ({len(self.issues)} problem(s)):\n{lines}")

    def __str__(self) -> str:
        return self.message


class FileProblem(Exception):
    """The file cannot be read or parsed at all (one problem, before any rule runs)."""

    def __init__(self, line: int | None, message: str, fix: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class Duplicate:
    path: Path_  # path of the repeated key
    line: int


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML plus the line of every mapping key / sequence item, and the keys given twice."""

    data: Any
    lines: dict[Path_, int]
    duplicates: list[Duplicate]

    def line(self, path: Path_) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None


MAX_DEPTH = 64  # far deeper than any contract or config; stops a nesting bomb before Python's recursion limit


class _AliasRefused(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__("YAML aliases (*name) are not allowed")
        self.problem_mark = mark


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")
        self.problem_mark = mark


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (no expansion: an alias bomb fails at its first ``*``) and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused(self.peek_event().start_mark)  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _key(node: yaml.Node) -> Any:
    """A mapping key as it appears in a path: scalars by value, anything else by its source position."""
    return node.value if isinstance(node, yaml.ScalarNode) else f"<key at line {node.start_mark.line + 1}>"


def parse_yaml(text: str) -> YamlDocument:  # noqa: C901 - one flat refusal per YAML hazard, in reading order
    """Parse one YAML document safely; raise :class:`FileProblem` (with the line) when it cannot be used."""
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
    except yaml.YAMLError as exc:
        raise FileProblem(_line_of_mark(exc, text), f"not valid YAML ({exc})", "remove the control character") from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _AliasRefused as exc:
        raise FileProblem(
            _line_of_mark(exc),
            "YAML aliases (*name) are not allowed: they can expand without bound (an alias bomb)",
            "write the repeated values out instead of using &anchor / *alias",
        ) from None
    except _TooDeep as exc:
        raise FileProblem(_line_of_mark(exc), str(exc), "flatten the document") from None
    except yaml.YAMLError as exc:
        raise FileProblem(_line_of_mark(exc, text), f"not valid YAML ({exc})", "correct the YAML syntax") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2024-02-30
        raise FileProblem(None, f"not valid YAML ({exc})", "correct the value") from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    duplicates: list[Duplicate] = []

    def walk(n: yaml.Node, path: Path_) -> None:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in n.value:
                key = _key(key_node)
                if key in seen:
                    duplicates.append(Duplicate((*path, key), key_node.start_mark.line + 1))
                seen.add(key)
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return YamlDocument(data, lines, duplicates)


def _line_of_mark(exc: yaml.YAMLError, text: str = "") -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(exc, "position", None)  # ReaderError: a character offset
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def read_text(path: Path, *, missing_fix: str) -> str:
    """The file's text; :class:`FileProblem` when it cannot be read or is not UTF-8 (with the line of the bad byte)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileProblem(None, f"cannot read the file ({exc.strerror or exc})", missing_fix) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileProblem(
            line,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None
