"""The tamper-evident audit log `_system/audit`: append-only, hash-chained, group-committed.

Each entry's `hash` is the SHA-256 of a canonical JSON array
`[seq, at, actor, action, target, details, prev_hash]` (`at` in ISO UTC with microseconds,
`details` the stored JSON text with sorted keys), and `prev_hash` is the previous entry's hash
(64 zeros for the first). Every commit records its last seq as the Delta transaction
(`almacen-audit`, seq), so entries removed from the end are noticed too.

Many server threads record at once: callers queue, one of them writes every pending entry at once,
and each caller returns once its own entry is durable: committed to the table, or, in the server's
deferred mode on a local lake, fsync'd to a journal beside it that a background thread moves into
the table every second (readers and `verify` move it first, so they always see every entry). Processes sharing a local
lake serialise on a lock file beside the table and pick up each other's entries before chaining.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from almacen.lake import Lake
from almacen.security.journal import Journal
from almacen.security.systables import CachedTable, table_lock

log = logging.getLogger(__name__)
TABLE = "_system.audit"
APP_ID = "almacen-audit"
GENESIS = "0" * 64
COMPACT_EVERY = 50
"""commits between compactions: each commit adds a small file, and reading 300 of them took 1.1 s against
0.04 s once compacted (rows, hashes and the transaction record are unchanged by a compaction)"""
ACTIONS = frozenset({
    "login.ok", "login.failed", "logout", "data.read", "export", "user.add", "user.remove", "user.set_role",
    "user.reset_password", "token.create", "token.revoke", "publish", "pipeline.run",
})
SECRET_WORDS = ("password", "secret", "token_value", "bearer")
SCHEMA = pa.schema([
    ("seq", pa.int64()),
    ("at", pa.timestamp("us", tz="UTC")),
    ("actor", pa.string()),
    ("action", pa.string()),
    ("target", pa.string()),
    ("details", pa.string()),
    ("prev_hash", pa.string()),
    ("hash", pa.string()),
])


@dataclass(frozen=True)
class AuditCheck:
    """What `verify` found: ok, how many entries are intact, and the first bad one with why."""

    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str
    last_hash: str = ""
    """the hash of the last intact entry: keep a copy elsewhere to anchor the chain"""


def entry_hash(seq: int, at: datetime, actor: str, action: str, target: str, details: str, prev_hash: str) -> str:
    """The SHA-256 (hex) of the canonical JSON of an entry and the hash before it."""
    text = json.dumps([seq, at.astimezone(timezone.utc).isoformat(timespec="microseconds"), actor, action, target,
                       details, prev_hash], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def details_text(details: dict | None) -> str:
    """Canonical JSON of an entry's details; refuses keys that would hold a password or secret."""
    details = details or {}
    _refuse_secrets(details)
    return json.dumps(details, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _refuse_secrets(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if any(word in str(key).lower() for word in SECRET_WORDS):
                raise ValueError(f"audit details may not hold {key!r}: passwords and token secrets are never logged")
            _refuse_secrets(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_secrets(item)


_MOVING: weakref.WeakSet[AuditLog] = weakref.WeakSet()
"""logs with a journal-moving thread, stopped at interpreter exit"""


@atexit.register
def _stop_moving() -> None:
    """Let every journal mover finish its current move before the interpreter tears down: a daemon thread
    frozen inside a Delta write at exit crashed the process (the entries stay safe in the journal)."""
    for log in list(_MOVING):
        log._stop.set()
        if log._mover is not None:
            log._mover.join(timeout=30)


@dataclass
class _Pending:
    actor: str
    action: str
    target: str
    details: str
    at: datetime | None = None
    seq: int | None = None
    error: BaseException | None = None
    done: bool = False


class AuditLog:
    """Record, read and verify the audit log of one lake."""

    def __init__(self, lake: Lake, *, deferred_seconds: float | None = None) -> None:
        """`deferred_seconds` (local lakes): record() returns once its entry is fsync'd to the journal, and
        a background thread moves journaled entries into the table that often (the server's mode);
        otherwise every record() commits to the table before returning."""
        self.lake = lake
        local = "://" not in lake.root
        self._journal = Journal(Path(lake.path(TABLE)).with_name("audit.journal")) if local else None
        self._deferred = deferred_seconds if local else None
        self._stop = threading.Event()
        self._mover: threading.Thread | None = None
        if self._deferred is not None:
            self._mover = threading.Thread(target=self._drain_every, args=(self._deferred,), name="audit-journal",
                                           daemon=True)
            self._mover.start()
            _MOVING.add(self)
        self._table = CachedTable(lake, TABLE, SCHEMA)
        self._cv = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False
        self._closed = False
        self._head: tuple[int, str] | None = None
        """the last (seq, hash) this process committed or saw"""

    def record(self, actor: str, action: str, target: str = "", details: dict | None = None) -> int:
        """Append one entry and return its seq once it is committed to the lake."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; actions: {', '.join(sorted(ACTIONS))}")
        if not actor:
            raise ValueError(f"audit {action}: the actor is empty")
        item = _Pending(actor, action, target, details_text(details))
        with self._cv:
            if self._closed:
                raise RuntimeError(f"audit log {self.lake.path(TABLE)} is closed; {action} by {actor} not recorded")
            item.at = datetime.now(timezone.utc)  # under the lock: `at` follows `seq` within a process
            self._queue.append(item)
            while not item.done:
                if self._writing:
                    self._cv.wait()
                else:
                    self._lead()
        if item.error is not None:
            raise RuntimeError(f"audit log {self.lake.path(TABLE)}: {action} by {actor} not recorded: "
                               f"{item.error}") from item.error
        return item.seq

    def _lead(self) -> None:
        """Commit everything queued (called holding the condition; releases it while writing)."""
        batch, self._queue, self._writing = self._queue, [], True
        self._cv.release()
        error: BaseException | None = None
        try:
            self._commit(batch)
        except BaseException as exc:  # every waiting caller learns why; the leader re-raises as they do
            error = exc
        finally:
            self._cv.acquire()
            self._writing = False
            for p in batch:
                p.done = True
                if p.seq is None:
                    p.error = error or RuntimeError("the commit was interrupted")
            self._cv.notify_all()

    def _commit(self, batch: list[_Pending]) -> None:
        with table_lock(self.lake, TABLE):
            head = self._journal.last() if self._deferred is not None else None
            dt = None
            if head is not None:
                # every local writer journals first, so the journal's last line is the head of the chain
                seq, prev, journaled = head["seq"], head["hash"], []
            else:
                journal = self._journal.read() if self._journal else []
                dt = self._table.delta_table()
                seq, prev = self._sync(dt)
                journaled = [r for r in journal if r["seq"] > seq]
                if journaled:
                    seq, prev = journaled[-1]["seq"], journaled[-1]["hash"]
            rows = []
            for p in batch:
                seq += 1
                digest = entry_hash(seq, p.at, p.actor, p.action, p.target, p.details, prev)
                rows.append({"seq": seq, "at": p.at, "actor": p.actor, "action": p.action, "target": p.target,
                             "details": p.details, "prev_hash": prev, "hash": digest})
                prev = digest
            if self._journal is None:
                self._to_table(dt, rows)
            else:
                self._journal.append(rows)  # durable from here on: the entries are recorded
                if self._deferred is None:
                    self._to_table(dt, journaled + rows)
            for p, row in zip(batch, rows, strict=True):
                p.seq = row["seq"]

    def _to_table(self, dt: DeltaTable | None, rows: list[dict]) -> None:
        """Commit entries to the Delta table (holding the lock); the journal then keeps only the head."""
        if not rows:
            return
        self.lake.append(TABLE, pa.Table.from_pylist(rows, schema=SCHEMA), txns=[(APP_ID, rows[-1]["seq"])])
        self._head = (rows[-1]["seq"], rows[-1]["hash"])
        if self._journal is not None:
            self._journal.keep_only(rows[-1])
        if dt is not None and (dt.version() + 1) // COMPACT_EVERY > dt.version() // COMPACT_EVERY:
            self._compact()

    def _drain(self) -> None:
        """Move journaled entries (this process's or any other's) into the Delta table."""
        if self._journal is None:
            return
        with table_lock(self.lake, TABLE):
            pending = self._journal.read()
            if len(pending) > 1 or (pending and pending[-1]["seq"] != (self._head or (0,))[0]):
                dt = self._table.delta_table()
                seq, _ = self._sync(dt)
                self._to_table(dt, [r for r in pending if r["seq"] > seq])

    def _drain_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self._drain()
            except Exception:  # noqa: BLE001 - the entries stay journaled; the next round tries again
                log.warning("moving the audit journal into %s failed; entries are safe in the journal",
                            self.lake.path(TABLE), exc_info=True)

    def _compact(self) -> None:
        """Merge the log's small files; a failure is logged, never charged to the entries just committed."""
        try:
            self.lake.compact(TABLE)
        except Exception:  # noqa: BLE001 - the next crossing of COMPACT_EVERY tries again
            log.warning("compacting %s failed; entries are safe, reads get slower", self.lake.path(TABLE), exc_info=True)

    def _sync(self, dt: DeltaTable | None) -> tuple[int, str]:
        """The last committed (seq, hash), reading entries other processes appended after ours."""
        committed = None if dt is None else dt.transaction_version(APP_ID)
        if committed is None:
            if dt is not None and dt.count() > 0:
                raise RuntimeError(f"{self.lake.path(TABLE)} holds entries but no {APP_ID} transaction: "
                                   "it was written outside the audit log; run `almacen audit verify`")
            return 0, GENESIS
        if self._head is not None and self._head[0] == committed:
            return self._head
        if self._head is not None and self._head[0] > committed:
            raise RuntimeError(f"{self.lake.path(TABLE)} went back from entry {self._head[0]} to {committed}")
        after = self._head[0] if self._head else committed - 1
        newer = self.lake.dataset(TABLE).to_table(columns=["seq", "hash"], filter=pc.field("seq") > after)
        last = newer.filter(pc.equal(newer["seq"], committed))
        if last.num_rows != 1:
            raise RuntimeError(f"{self.lake.path(TABLE)}: entry {committed}, the last one the Delta log records, "
                               f"is {'missing' if last.num_rows == 0 else 'duplicated'}; run `almacen audit verify`")
        return committed, last["hash"][0].as_py()

    def entries(self, *, limit: int = 200, actor: str | None = None, action: str | None = None,
                since: datetime | None = None) -> pa.Table:
        """Entries newest first, at most `limit`, filtered by actor, action and time."""
        self._drain()
        data = self.lake.dataset(TABLE)
        if data is None:
            return SCHEMA.empty_table()
        conditions = [pc.field(name) == value for name, value in (("actor", actor), ("action", action)) if value]
        if since is not None:
            conditions.append(pc.field("at") >= pa.scalar(since.astimezone(timezone.utc), pa.timestamp("us", "UTC")))
        where = None
        for condition in conditions:
            where = condition if where is None else where & condition
        rows = data.to_table(filter=where).select(SCHEMA.names)
        return rows.sort_by([("seq", "descending")]).slice(0, max(limit, 0))

    def verify(self) -> AuditCheck:
        """Walk the chain from the first entry and name the first altered, reordered or missing one."""
        try:
            self._drain()
        except RuntimeError:  # a damaged table refuses journaled entries: report the damage below
            pass
        data = self.lake.read(TABLE)
        dt = self._table.delta_table()
        committed = None if dt is None else dt.transaction_version(APP_ID)
        if data is None or data.num_rows == 0:
            if committed:
                return AuditCheck(False, 0, 1, f"entries 1..{committed} are missing (the Delta log records {committed})")
            return AuditCheck(True, 0, None, "", GENESIS)
        expected, prev = 1, GENESIS
        for batch in data.sort_by("seq").to_batches(max_chunksize=65_536):
            for r in batch.to_pylist():
                seq = r["seq"]
                if seq < expected:
                    return AuditCheck(False, expected - 1, seq, f"entry {seq} appears more than once", prev)
                if seq > expected:
                    gap = f"entry {expected} is" if seq == expected + 1 else f"entries {expected}..{seq - 1} are"
                    return AuditCheck(False, expected - 1, expected, f"{gap} missing (the next entry is {seq})", prev)
                if r["prev_hash"] != prev:
                    return AuditCheck(False, expected - 1, seq,
                                      f"its prev_hash does not match the hash of entry {seq - 1}", prev)
                if entry_hash(seq, r["at"], r["actor"], r["action"], r["target"], r["details"], prev) != r["hash"]:
                    return AuditCheck(False, expected - 1, seq,
                                      "its hash does not match its contents (altered)", prev)
                expected, prev = expected + 1, r["hash"]
        last = expected - 1
        if committed is None:
            return AuditCheck(False, last, 1, f"no {APP_ID} transaction in the Delta log: the table was rewritten", prev)
        if committed > last:
            gap = f"entry {last + 1} is" if committed == last + 1 else f"entries {last + 1}..{committed} are"
            return AuditCheck(False, last, last + 1, f"{gap} missing at the end (the Delta log records {committed})", prev)
        if committed < last:
            return AuditCheck(False, committed, committed + 1, f"entry {committed + 1} was not written by the audit "
                              f"log (the Delta log records {committed} as the last)", prev)
        return AuditCheck(True, last, None, "", prev)

    def flush(self) -> None:
        """Wait until every entry queued so far is in the Delta table (record() waits only for its own
        entry to be durable)."""
        with self._cv:
            while self._writing or self._queue:
                if self._writing:
                    self._cv.wait()
                else:
                    self._lead()
        self._drain()

    def close(self) -> None:
        """Flush, then refuse further records."""
        with self._cv:
            self._closed = True
        self._stop.set()
        if self._mover is not None and self._mover is not threading.current_thread():
            self._mover.join(timeout=30)
        self.flush()
