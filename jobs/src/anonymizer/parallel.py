"""One helper to run independent Spark work on a few driver threads (gate, anonymize, checks and vacuum share it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_THREADS = 4


def in_parallel(items: Sequence[Any], work: Callable[[Any], Any]) -> list[Any]:
    """``work(item)`` for every item on a few threads, results in ``items``' order.

    Why threads: each item is a Spark job or a metadata round trip whose fixed costs (planning, scheduling,
    Delta log reads, Python worker start) are mostly waiting; Spark runs jobs from several threads
    concurrently, so those costs overlap instead of adding up. Every item runs to its end before the first
    error is raised, so no job is left running behind the caller's back.
    """
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_THREADS, len(items)))) as pool:
        futures = [pool.submit(work, item) for item in items]
    return [f.result() for f in futures]
