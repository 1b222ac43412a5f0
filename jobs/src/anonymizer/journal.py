"""The run journal and the run lock: two small Delta tables in the target catalog's staging schema.

Delta has no multi-table transactions, so promotion is made all-or-nothing by bookkeeping: before the first
final table is touched, the journal records every table's version; a run that dies half-way leaves a
``promote_begin`` without ``promote_commit``, and the next run (or the rollback task) RESTOREs every touched
table to its recorded version before doing anything else.

The lock is one row updated with a conditional UPDATE. Delta's optimistic concurrency makes two runs that
race for it conflict, so at most one wins; a holder whose process is gone (same host) or whose lease is older
than the job timeout is taken over, and that takeover is exactly when crash recovery runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from anonymizer.contract import Contract
from anonymizer.errors import Busy
from anonymizer.events import EventName as EventName  # re-exported: the journal API takes it
from anonymizer.runtime import LiveColumn, Runtime

JOURNAL_TABLE = "_anonymizer_journal"
LOCK_TABLE = "_anonymizer_lock"
LEASE = dt.timedelta(hours=6)
_RACE = "another run took the lock at the same moment"
LOCK_NAME = "anonymizer"
# Every append is one Delta commit with one small file (~9 per run), and every run starts by reading the whole
# journal: after a year of daily runs that is ~3,300 files (a GET each on cloud storage). Past this many live
# files the promote step's maintenance bin-packs them (``Journal.compact``); measured locally, reading 300
# one-row files took 0.7 s warm, and 0.2 s once OPTIMIZE had packed the same rows into a few files.
COMPACT_AT_FILES = 100

JOURNAL_COLUMNS = [
    LiveColumn("run_id", "string", False),
    LiveColumn("event", "string", False),
    LiveColumn("ts", "timestamp", False),
    LiveColumn("table_name", "string", True),
    LiveColumn("version_before", "bigint", True),
    LiveColumn("version_after", "bigint", True),
    LiveColumn("contract_sha256", "string", True),
    LiveColumn("key_fingerprint", "string", True),
    LiveColumn("code_version", "string", True),
    LiveColumn("detail", "string", True),
]
LOCK_COLUMNS = [
    LiveColumn("name", "string", False),
    LiveColumn("holder", "string", True),
    LiveColumn("host", "string", True),
    LiveColumn("pid", "bigint", True),
    LiveColumn("since", "timestamp", True),
]


class LockBusy(Busy):
    """Another run holds the lock."""


# Delta's optimistic-concurrency conflicts, by error condition (Spark 4 / Delta 4 structured errors). Used
# when the Python exception class is not Delta's own (the Databricks runtime raises pyspark's classes).
_CONFLICT_CONDITIONS = (
    "DELTA_CONCURRENT_",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
    "DELTA_TABLE_ALREADY_EXISTS",
)


def _delta_conflict_types() -> tuple[type[BaseException], ...]:
    """Delta's Python commit-conflict classes, with Delta's converter of the JVM exceptions installed.

    ``delta.exceptions.captured`` patches pyspark's exception conversion when imported; without that import a
    conflict arrives as a generic error. Delta's Python classes do not share a conflict base class, so all
    are listed.
    """
    try:
        import delta.exceptions.captured  # noqa: F401  # installs the conversion of Delta's conflict exceptions
        from delta.exceptions import (
            ConcurrentAppendException,
            ConcurrentDeleteDeleteException,
            ConcurrentDeleteReadException,
            ConcurrentTransactionException,
            ConcurrentWriteException,
            DeltaConcurrentModificationException,
            MetadataChangedException,
            ProtocolChangedException,
        )
    except ImportError:  # pragma: no cover - delta-spark is on every runtime we support
        return ()
    return (
        DeltaConcurrentModificationException,
        ConcurrentWriteException,
        MetadataChangedException,
        ProtocolChangedException,
        ConcurrentAppendException,
        ConcurrentDeleteReadException,
        ConcurrentDeleteDeleteException,
        ConcurrentTransactionException,
    )


DELTA_CONFLICTS = _delta_conflict_types()


def is_concurrent_modification(exc: BaseException) -> bool:
    """True when ``exc`` is a Delta commit conflict with another writer (detected by type, not by text)."""
    if isinstance(exc, DELTA_CONFLICTS):
        return True
    condition = None
    for getter in ("getCondition", "getErrorClass"):
        fn = getattr(exc, getter, None)
        if callable(fn):
            try:
                condition = fn()
            except Exception:  # noqa: S112 - an exception without a condition is simply not a conflict
                continue
            if condition:
                break
    return bool(condition) and str(condition).startswith(_CONFLICT_CONDITIONS)


@dataclass(frozen=True)
class Event:
    run_id: str
    event: str
    ts: dt.datetime
    table_name: str | None
    version_before: int | None
    version_after: int | None
    contract_sha256: str | None
    key_fingerprint: str | None
    code_version: str | None
    detail: dict[str, Any]


# Column -> SQL type of its parameter marker. Every value reaches Spark as a named parameter, never as SQL
# text: a run id like ``nightly-o'brien`` round-trips unchanged (quoting it into the text used to drop quotes).
_PARAM_TYPES = {
    "run_id": "STRING",
    "event": "STRING",
    "ts": "TIMESTAMP",
    "table": "STRING",
    "before": "BIGINT",
    "after": "BIGINT",
    "contract_sha256": "STRING",
    "key_fingerprint": "STRING",
    "code_version": "STRING",
    "detail": "STRING",
}


def _values(event: dict[str, Any]) -> dict[str, Any]:
    """An event's column values as written: text columns as ``str``, versions as ``int``, detail as JSON."""
    values = {
        "run_id": event["run_id"],
        "event": event["event"],
        "table": event.get("table"),
        "before": event.get("before"),
        "after": event.get("after"),
        "contract_sha256": event.get("contract_sha256"),
        "key_fingerprint": event.get("key_fingerprint"),
        "code_version": event.get("code_version"),
        "detail": json.dumps(event.get("detail") or {}, sort_keys=True, default=str),
    }
    for name in ("run_id", "event", "table", "contract_sha256", "key_fingerprint", "code_version"):
        if values[name] is not None:
            values[name] = str(values[name])
    for name in ("before", "after"):
        if values[name] is not None:
            values[name] = int(values[name])
    return values


def _row_params(i: int, event: dict[str, Any], ts: dt.datetime) -> tuple[str, dict[str, Any]]:
    """``(CAST(:run_id_0 AS STRING), ..., CAST(:ts_0 AS TIMESTAMP), ...)`` and its bound values for event ``i``."""
    values = _values(event)
    values = {"run_id": values.pop("run_id"), "event": values.pop("event"), "ts": ts, **values}
    markers = [f"CAST(:{name}_{i} AS {_PARAM_TYPES[name]})" for name in values]
    return f"({', '.join(markers)})", {f"{name}_{i}": v for name, v in values.items()}


def _event(event: dict[str, Any], ts: dt.datetime) -> Event:
    """The :class:`Event` a ``record_many`` entry becomes once written (what reading it back returns)."""
    v = _values(event)
    return Event(
        v["run_id"],
        v["event"],
        ts,
        v["table"],
        v["before"],
        v["after"],
        v["contract_sha256"],
        v["key_fingerprint"],
        v["code_version"],
        json.loads(v["detail"]),
    )


class Journal:
    """Append-only event log of runs plus the single-row run lock."""

    def __init__(self, runtime: Runtime, contract: Contract) -> None:
        self.runtime = runtime
        self.contract = contract
        base = f"{contract.target.catalog}.{contract.target.staging_schema}"
        self.table = f"{base}.{JOURNAL_TABLE}"
        self.lock_table = f"{base}.{LOCK_TABLE}"
        self._cache: list[Event] | None = None

    # -- journal --------------------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the journal and the lock (one row) when missing; safe when two first runs race for it.

        A Delta commit conflict here means another run created the same table at the same moment: that is
        fine as long as the table now exists; whichever run then wins the lock's conditional UPDATE goes on.
        """
        self._create_if_missing(self.table, JOURNAL_COLUMNS)
        if self._create_if_missing(self.lock_table, LOCK_COLUMNS):
            try:
                self.runtime.sql(
                    f"INSERT INTO {self.runtime.ref(self.lock_table)} "
                    "SELECT :name, NULL, NULL, NULL, NULL "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {self.runtime.ref(self.lock_table)})",
                    {"name": LOCK_NAME},
                )
            except Exception as exc:  # a racing first run inserted it
                if not is_concurrent_modification(exc):
                    raise

    def _create_if_missing(self, name: str, columns: list[LiveColumn]) -> bool:
        """Create the table if it does not exist; True when this call found it missing.

        When the create fails but the table exists afterwards, a racing first run created it (it was missing
        a moment ago): that is the expected race, whatever exception Delta raised for it, so go on. The racer's
        commit may land just after our failure, hence one short second look before giving up.
        """
        if self.runtime.exists(name):
            return False
        try:
            self.runtime.create_table(name, columns)
        except Exception as exc:
            if self.runtime.exists(name):
                return True
            if is_concurrent_modification(exc):
                raise LockBusy(f"another run is creating {name} at the same moment", fix="try again") from None
            time.sleep(2)
            if not self.runtime.exists(name):
                raise
        return True

    def record(
        self,
        run_id: str,
        event: EventName,
        *,
        table: str | None = None,
        before: int | None = None,
        after: int | None = None,
        contract_sha256: str | None = None,
        key_fingerprint: str | None = None,
        code_version: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one event (one Delta commit)."""
        self.record_many(
            [
                dict(
                    run_id=run_id,
                    event=event,
                    table=table,
                    before=before,
                    after=after,
                    contract_sha256=contract_sha256,
                    key_fingerprint=key_fingerprint,
                    code_version=code_version,
                    detail=detail,
                )
            ]
        )

    def record_many(self, events: list[dict[str, Any]]) -> None:
        """Append several events in ONE Delta commit: they become visible together or not at all.

        The timestamps are taken here and bound as parameters, so the events appended to the cache are exactly
        the rows written, and the steps of one ``anonymizer run`` do not re-read the whole journal after each
        of their own appends. The events of one commit get consecutive microseconds: ``ORDER BY ts`` then
        returns them in the order they were given (one shared ``current_timestamp()`` left that order open).
        """
        now = dt.datetime.now()
        stamps = [now + dt.timedelta(microseconds=i) for i in range(len(events))]
        rows: list[str] = []
        args: dict[str, Any] = {}
        for i, (e, ts) in enumerate(zip(events, stamps, strict=True)):
            row, bound = _row_params(i, e, ts)
            rows.append(row)
            args |= bound
        self.runtime.sql(f"INSERT INTO {self.runtime.ref(self.table)} VALUES {', '.join(rows)}", args)
        if self._cache is not None:
            self._cache.extend(_event(e, ts) for e, ts in zip(events, stamps, strict=True))

    def events(self, run_id: str | None = None) -> list[Event]:
        """Events in commit order, read once and then kept up to date with this process's own appends.

        Why a cache is exact: every writer holds the run lock, and :meth:`acquire` drops the cache whenever it
        takes the lock, so a process reads the journal after it became the only writer. A reader without the
        lock (status, report of a finished run) sees the journal as of its first read.
        """
        if self._cache is None:
            if not self.runtime.exists(self.table):
                return []
            rows = self.runtime.sql(f"SELECT * FROM {self.runtime.ref(self.table)} ORDER BY ts").collect()
            self._cache = [
                Event(
                    r["run_id"],
                    r["event"],
                    r["ts"],
                    r["table_name"],
                    r["version_before"],
                    r["version_after"],
                    r["contract_sha256"],
                    r["key_fingerprint"],
                    r["code_version"],
                    json.loads(r["detail"] or "{}"),
                )
                for r in rows
            ]
        return [e for e in self._cache if run_id is None or e.run_id == run_id]

    def compact(self, at_files: int | None = None) -> dict[str, Any]:
        """OPTIMIZE the journal once it holds ``at_files`` live files or more; returns numbers for the journal.

        Why here and not ``delta.autoOptimize.autoCompact``: an explicit, journaled step works the same on
        journals created by earlier versions and on every runtime, and it costs one metadata read when there
        is nothing to do. The rows, their ``ts`` and so the cache stay exactly as they were.
        """
        files = int(self.runtime.detail(self.table)["numFiles"])
        if files < (COMPACT_AT_FILES if at_files is None else at_files):
            return {"files": files, "compacted": False}
        self.runtime.optimize(self.table)
        return {"files": files, "compacted": True, "files_after": int(self.runtime.detail(self.table)["numFiles"])}

    def refresh(self) -> None:
        self._cache = None

    def has(self, run_id: str, event: EventName) -> Event | None:
        found = [e for e in self.events(run_id) if e.event == event]
        return found[-1] if found else None

    def last_committed(self) -> Event | None:
        commits = [e for e in self.events() if e.event == EventName.PROMOTE_COMMIT]
        return commits[-1] if commits else None

    def interrupted_promotions(self) -> list[str]:
        """Runs that began promoting and neither committed nor rolled back."""
        begun: dict[str, None] = {}
        closed: set[str] = set()
        for e in self.events():
            if e.event == EventName.PROMOTE_BEGIN:
                begun.setdefault(e.run_id, None)
            elif e.event in (EventName.PROMOTE_COMMIT, EventName.ROLLED_BACK, EventName.RECOVERED):
                closed.add(e.run_id)
        return [r for r in begun if r not in closed]

    def versions_before(self, run_id: str) -> dict[str, int]:
        return {
            e.table_name: int(e.version_before)
            for e in self.events(run_id)
            if e.event == EventName.PROMOTE_TABLE_BEGIN and e.table_name and e.version_before is not None
        }

    # -- lock -----------------------------------------------------------------------------------------
    def _lock_row(self) -> dict[str, Any]:
        rows = self.runtime.sql(f"SELECT * FROM {self.runtime.ref(self.lock_table)}").collect()
        return rows[0].asDict() if rows else {}

    def lock_holder(self) -> dict[str, Any]:
        return self._lock_row() if self.runtime.exists(self.lock_table) else {}

    @staticmethod
    def holder_alive(row: dict[str, Any]) -> bool:
        """Best effort: a holder on this host whose pid is gone, or whose lease expired, is dead."""
        if not row.get("holder"):
            return False
        since = row.get("since")
        if since is not None and dt.datetime.now() - since > LEASE:
            return False
        if row.get("host") == socket.gethostname() and row.get("pid"):
            try:
                os.kill(int(row["pid"]), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
        return True

    def acquire(self, run_id: str) -> str | None:
        """Take the lock for ``run_id``. Returns the run id of a dead holder that was taken over (or None).

        Raises LockBusy when a live run holds it. Re-acquiring with the same run id (a later task of the
        same job run) just refreshes the pid.
        """
        self.ensure()
        row = self._lock_row()
        holder = row.get("holder")
        if holder == run_id and row.get("pid") == os.getpid() and row.get("host") == socket.gethostname():
            return None  # this process already holds it (the steps of `anonymizer run`)
        if holder and holder != run_id and self.holder_alive(row):
            raise LockBusy(
                f"run '{holder}' (host {row.get('host')}, pid {row.get('pid')}, since {row.get('since')}) is "
                "still running",
                fix="wait for it to finish. If it is gone, its lease expires after "
                f"{int(LEASE.total_seconds() // 3600)} h, or release it with `anonymizer unlock`",
            )
        condition = "holder IS NULL" if not holder else "holder = :holder"
        args: dict[str, Any] = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "name": LOCK_NAME}
        if holder:
            args["holder"] = holder
        try:
            result = self.runtime.sql(
                f"UPDATE {self.runtime.ref(self.lock_table)} SET holder = :run_id, "
                "host = :host, pid = CAST(:pid AS BIGINT), since = current_timestamp() "
                f"WHERE name = :name AND {condition}",
                args,
            ).collect()
        except Exception as exc:
            if is_concurrent_modification(exc):
                raise LockBusy(_RACE, fix="try again later") from None
            raise
        affected = int(result[0][0]) if result else 0
        if affected != 1:
            raise LockBusy(_RACE, fix="try again later")
        self._cache = None  # read the journal again now that no other process may append to it
        return holder if holder and holder != run_id else None

    def release(self, run_id: str) -> None:
        if not self.runtime.exists(self.lock_table):
            return
        self.runtime.sql(
            f"UPDATE {self.runtime.ref(self.lock_table)} SET holder = NULL, host = NULL, pid = NULL, since = NULL "
            "WHERE name = :name AND holder = :run_id",
            {"name": LOCK_NAME, "run_id": run_id},
        )

    def force_release(self) -> None:
        if self.runtime.exists(self.lock_table):
            self.runtime.sql(
                f"UPDATE {self.runtime.ref(self.lock_table)} SET holder = NULL, host = NULL, pid = NULL, since = NULL"
            )
