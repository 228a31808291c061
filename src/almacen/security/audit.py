"""The tamper-evident audit log `_system/audit`: append-only, MAC-chained, anchored, group-committed.

Each entry's `hash` is the HMAC-SHA256 (hex), under the audit key, of the canonical JSON array
`[seq, at, actor, action, target, details, prev_hash]` (`at` in ISO UTC with microseconds,
`details` the stored JSON text with sorted keys), and `prev_hash` is the previous entry's hash
(64 zeros for the first). The key lives outside the lake (`ALMACEN_AUDIT_KEY`, 32+ bytes; a public
demo key on demo lakes only), so whoever can write the lake but lacks the key cannot re-chain an
edited entry. Every commit records its last seq as the Delta transaction (`almacen-audit`, seq).

Every move of entries into the table (a fold: each direct commit, each move of the journal) also
appends a signed checkpoint `{"first", "seq", "hash", "at", "mac"}` to the anchor, a file that belongs
where the lake's writers cannot write (`audit_anchor`; default `<lake>/_system/audit.anchor`).
Checkpoints cover the log without gaps (each `first` follows the previous `seq`), and `verify`
requires the table and journal to reach every anchored seq with the anchored hash: entries cut from
the end (with their Delta commits and the journal) and a chain rebuilt under the key are both caught.

Many server threads record at once: callers queue, one of them writes every pending entry at once,
and each caller returns once its own entry is durable: committed to the table, or, in the server's
deferred mode on a local lake, fsync'd to a journal beside it that a background thread moves into
the table every few seconds (readers and `verify` move it first, so they always see every entry; the
anchor is written by the move, never on the request path). Processes sharing a local lake serialise
on a lock file beside the table and pick up each other's entries before chaining.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from almacen.clock import utc_now
from almacen.config.settings import ConfigError
from almacen.errors import AlmacenError, Unavailable
from almacen.lake import Lake
from almacen.security.audit_entry import (
    ACTIONS,
    GENESIS,
    SCHEMA,
    canonical,
    check_actor,
    checkpoint_mac,
    details_text,
    resolve_key,
)
from almacen.security.journal import AnchorFile, Journal
from almacen.security.systables import CachedTable, table_lock

if TYPE_CHECKING:
    from almacen.config import Settings

log = logging.getLogger(__name__)
TABLE = "_system.audit"
APP_ID = "almacen-audit"
COMPACT_EVERY = 50
"""commits between compactions: each commit adds a small file, and reading 300 of them took 1.1 s against
0.04 s once compacted (rows, hashes and the transaction record are unchanged by a compaction)"""


class TamperedLog(AlmacenError, RuntimeError):
    """The audit table disagrees with its own chain or anchor (entries missing, cut off or written outside
    the log): nothing is chained onto it; `almacen audit verify` names the first bad entry."""


@dataclass(frozen=True)
class AuditCheck:
    """What `verify` found: ok, how many entries are intact, and the first bad one with why."""

    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str
    last_hash: str = ""
    """the hash of the last intact entry"""
    anchored_seq: int = 0
    """the last entry the anchor holds a checkpoint of (entries after it were not anchored yet)"""
    anchored_at: datetime | None = None
    """when that checkpoint was written"""


def default_anchor(lake: Lake) -> str:
    """`<lake>/_system/audit.anchor`: beside the table, where the lake's writers can reach it too; configure
    `audit_anchor` to put it out of their reach."""
    table = lake.path(TABLE)
    if "://" in lake.root:
        return table.rsplit("/", 1)[0] + "/audit.anchor"
    return str(Path(table).with_name("audit.anchor"))


def audit_log(settings: Settings, *, deferred_seconds: float | None = None) -> AuditLog:
    """The audit log of `settings.lake`, keyed by `audit_key` (or `ALMACEN_AUDIT_KEY`) and anchored at
    `audit_anchor` (default `<lake>/_system/audit.anchor`)."""
    key = settings.audit_key.get_secret_value().encode("utf-8") if settings.audit_key is not None else None
    return AuditLog(
        Lake(settings.lake), key=key, anchor=settings.audit_anchor or None, deferred_seconds=deferred_seconds
    )


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

    def __init__(
        self,
        lake: Lake,
        *,
        key: bytes | None = None,
        anchor: str | Path | None = None,
        deferred_seconds: float | None = None,
    ) -> None:
        """`key`: the audit key (default: `ALMACEN_AUDIT_KEY`, read at the first record or verify, so reading
        entries needs none; the public demo key on a demo lake). `anchor`: the file of signed checkpoints
        (default `<lake>/_system/audit.anchor`; a local path or an object-store URI).
        `deferred_seconds` (local lakes): record() returns once its entry is fsync'd to the journal, and
        a background thread moves journaled entries into the table that often (the server's mode);
        otherwise every record() commits to the table before returning."""
        self.lake = lake
        self._given_key = key
        self._key: bytes | None = None
        self._entry_mac: hmac.HMAC | None = None
        self.anchor = AnchorFile(anchor or default_anchor(lake))
        self._anchor_checked = False
        """whether this process compared the table's head with the anchor before chaining onto it"""
        local = "://" not in lake.root
        self._journal = Journal(Path(lake.path(TABLE)).with_name("audit.journal")) if local else None
        self._deferred = deferred_seconds if local else None
        self._stop = threading.Event()
        self._mover: threading.Thread | None = None
        if self._deferred is not None:
            self._mover = threading.Thread(
                target=self._drain_every, args=(self._deferred,), name="audit-journal", daemon=True
            )
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
        check_actor(actor)
        item = _Pending(actor, action, target, details_text(details))
        self._mac()
        with self._cv:
            if self._closed:
                raise RuntimeError(f"audit log {self.lake.path(TABLE)} is closed; {action} by {actor} not recorded")
            item.at = utc_now()  # under the lock: `at` follows `seq` within a process
            self._queue.append(item)
            while not item.done:
                if self._writing:
                    self._cv.wait()
                else:
                    self._lead()
        if item.error is not None:
            # a refusal of the log or of its storage is the user's to fix; any other cause is a bug, shown as one
            kind = Unavailable if isinstance(item.error, (AlmacenError, OSError)) else RuntimeError
            raise kind(
                f"audit log {self.lake.path(TABLE)}: {action} by {actor} not recorded: {item.error}"
            ) from item.error
        assert item.seq is not None  # `_lead` gives every entry done without a seq an error
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
            head = self._journal.last() if self._journal is not None and self._deferred is not None else None
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
                if not self._anchor_checked:
                    self._refuse_behind_anchor(seq)
            rows = []
            for p in batch:
                seq += 1
                assert p.at is not None  # `record` stamps an entry before queueing it
                digest = self._hash(seq, p.at, p.actor, p.action, p.target, p.details, prev)
                rows.append(
                    {
                        "seq": seq,
                        "at": p.at,
                        "actor": p.actor,
                        "action": p.action,
                        "target": p.target,
                        "details": p.details,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            if self._journal is None:
                self._to_table(dt, rows)
            else:
                self._journal.append(rows)  # durable from here on: the entries are recorded
                if self._deferred is None:
                    self._to_table(dt, journaled + rows)
            for p, row in zip(batch, rows, strict=True):
                p.seq = row["seq"]

    def _mac(self) -> hmac.HMAC:
        """The keyed MAC entries are chained with (resolving the key on first use; ConfigError without one)."""
        if self._entry_mac is None:
            key = resolve_key(self.lake, self._given_key)
            self._key, self._entry_mac = key, hmac.new(key, digestmod=hashlib.sha256)
        return self._entry_mac

    def _has_key(self) -> bool:
        try:
            self._mac()
        except ConfigError:
            return False
        return True

    def _hash(self, seq: int, at: datetime, actor: str, action: str, target: str, details: str, prev: str) -> str:
        """`entry_hash` under this log's key (copying a keyed HMAC saves re-keying it for every entry)."""
        mac = self._mac().copy()
        mac.update(canonical(seq, at, actor, action, target, details, prev))
        return mac.hexdigest()

    def _genuine(self, checkpoint: dict) -> bool:
        """Whether an anchor line is a well-formed checkpoint signed with this log's key."""
        self._mac()
        try:
            first, seq, digest, at, mac = (checkpoint[k] for k in ("first", "seq", "hash", "at", "mac"))
            if not (
                type(first) is int
                and type(seq) is int
                and isinstance(digest, str)
                and isinstance(at, str)
                and isinstance(mac, str)
            ):
                return False
            assert self._key is not None  # resolved by `_mac` above
            return hmac.compare_digest(mac, checkpoint_mac(self._key, first, seq, digest, at))
        except KeyError:
            return False

    def _refuse_behind_anchor(self, seq: int) -> None:
        """Before chaining onto the table for the first time, refuse when the anchor records entries past
        its end (they were cut off: chaining on would fork the chain over the evidence)."""
        last = self.anchor.last()
        if last is not None and self._genuine(last) and last["seq"] > seq:
            raise TamperedLog(
                f"{self.lake.path(TABLE)} ends at entry {seq} but the anchor {self.anchor} records "
                f"entry {last['seq']} (at {last['at']}): entries {seq + 1}..{last['seq']} are missing; "
                "run `almacen audit verify`"
            )
        self._anchor_checked = True

    def _write_anchor(self, rows: list[dict]) -> None:
        """Append the signed checkpoint of a fold (holding the lock, after its Delta commit). A failure is
        logged, never charged to the entries (they are committed): the next fold's checkpoint covers them."""
        try:
            last = self.anchor.last()
            first = rows[0]["seq"]
            if last is not None and self._genuine(last):
                if last["seq"] >= rows[-1]["seq"]:
                    return  # a journaled head put back into a table cut below it: anchored already
                first = last["seq"] + 1  # also covers a fold whose checkpoint was lost (crash, failed write)
            seq, digest = rows[-1]["seq"], rows[-1]["hash"]
            at = utc_now().isoformat(timespec="microseconds")
            assert self._key is not None  # `_to_table` resolved it (`_mac`) before this fold
            self.anchor.append(
                {
                    "first": first,
                    "seq": seq,
                    "hash": digest,
                    "at": at,
                    "mac": checkpoint_mac(self._key, first, seq, digest, at),
                }
            )
        except Exception:  # noqa: BLE001 - the entries are in the table; the next fold anchors them
            log.exception(
                "writing the audit anchor %s failed; entries up to %s are recorded but not anchored yet",
                self.anchor,
                rows[-1]["seq"],
            )

    def _to_table(self, dt: DeltaTable | None, rows: list[dict]) -> None:
        """Commit entries to the Delta table (holding the lock) and anchor them; the journal then keeps
        only the head."""
        if not rows:
            return
        self._mac()  # no fold without the key: it could not be anchored
        self.lake.append(TABLE, pa.Table.from_pylist(rows, schema=SCHEMA), txns=[(APP_ID, rows[-1]["seq"])])
        self._head = (rows[-1]["seq"], rows[-1]["hash"])
        self._write_anchor(rows)
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
                log.warning(
                    "moving the audit journal into %s failed; entries are safe in the journal",
                    self.lake.path(TABLE),
                    exc_info=True,
                )

    def _compact(self) -> None:
        """Merge the log's small files; a failure is logged, never charged to the entries just committed."""
        try:
            self.lake.compact(TABLE)
        except Exception:  # noqa: BLE001 - the next crossing of COMPACT_EVERY tries again
            log.warning(
                "compacting %s failed; entries are safe, reads get slower", self.lake.path(TABLE), exc_info=True
            )

    def _sync(self, dt: DeltaTable | None) -> tuple[int, str]:
        """The last committed (seq, hash), reading entries other processes appended after ours."""
        committed = None if dt is None else dt.transaction_version(APP_ID)
        if committed is None:
            if dt is not None and dt.count() > 0:
                raise TamperedLog(
                    f"{self.lake.path(TABLE)} holds entries but no {APP_ID} transaction: "
                    "it was written outside the audit log; run `almacen audit verify`"
                )
            return 0, GENESIS
        if self._head is not None and self._head[0] == committed:
            return self._head
        if self._head is not None and self._head[0] > committed:
            raise TamperedLog(f"{self.lake.path(TABLE)} went back from entry {self._head[0]} to {committed}")
        after = self._head[0] if self._head else committed - 1
        data = self.lake.dataset(TABLE)
        assert data is not None  # `dt` is this table
        newer = data.to_table(columns=["seq", "hash"], filter=pc.field("seq") > after)
        last = newer.filter(pc.equal(newer["seq"], committed))
        if last.num_rows != 1:
            raise TamperedLog(
                f"{self.lake.path(TABLE)}: entry {committed}, the last one the Delta log records, "
                f"is {'missing' if last.num_rows == 0 else 'duplicated'}; run `almacen audit verify`"
            )
        return committed, last["hash"][0].as_py()

    def entries(
        self, *, limit: int = 200, actor: str | None = None, action: str | None = None, since: datetime | None = None
    ) -> pa.Table:
        """Entries newest first, at most `limit`, filtered by actor, action and time. Journaled entries
        are moved into the table first, or, without the audit key, read from the journal as they are."""
        keyed = self._has_key()
        if keyed:
            self._drain()
        data = self.lake.dataset(TABLE)
        journaled = [] if keyed or self._journal is None else self._journal.read()
        if data is None and not journaled:
            return SCHEMA.empty_table()
        conditions = [pc.field(name) == value for name, value in (("actor", actor), ("action", action)) if value]
        if since is not None:
            conditions.append(pc.field("at") >= pa.scalar(since.astimezone(timezone.utc), pa.timestamp("us", "UTC")))
        where = None
        for condition in conditions:
            where = condition if where is None else where & condition
        rows = SCHEMA.empty_table() if data is None else data.to_table(filter=where).select(SCHEMA.names)
        if journaled:
            dt = self._table.delta_table()
            committed = (None if dt is None else dt.transaction_version(APP_ID)) or 0
            extra = pa.Table.from_pylist([r for r in journaled if r["seq"] > committed], schema=SCHEMA)
            rows = pa.concat_tables([rows.cast(SCHEMA), extra if where is None else extra.filter(where)])
        return rows.sort_by([("seq", "descending")]).slice(0, max(limit, 0))

    def verify(self) -> AuditCheck:
        """Walk the chain from the first entry and name the first altered, reordered or missing one; then
        hold it against the anchor: every checkpoint signed, none missing, each (seq, hash) still there."""
        self._mac()
        try:
            self._drain()
        except RuntimeError:  # a damaged table refuses journaled entries: report the damage below
            pass
        checkpoints, bad = self._checkpoints()
        if bad is not None:
            return bad
        anchored = {c["seq"]: c for c in checkpoints}
        top = checkpoints[-1] if checkpoints else None
        data = self.lake.read(TABLE)
        dt = self._table.delta_table()
        committed = None if dt is None else dt.transaction_version(APP_ID)
        expected, prev = 1, GENESIS
        for batch in [] if data is None else data.sort_by("seq").to_batches(max_chunksize=65_536):
            for r in batch.to_pylist():
                seq = r["seq"]
                if seq < expected:
                    return AuditCheck(False, expected - 1, seq, f"entry {seq} appears more than once", prev)
                if seq > expected:
                    gap = f"entry {expected} is" if seq == expected + 1 else f"entries {expected}..{seq - 1} are"
                    return AuditCheck(False, expected - 1, expected, f"{gap} missing (the next entry is {seq})", prev)
                if r["prev_hash"] != prev:
                    return AuditCheck(
                        False, expected - 1, seq, f"its prev_hash does not match the hash of entry {seq - 1}", prev
                    )
                if self._hash(seq, r["at"], r["actor"], r["action"], r["target"], r["details"], prev) != r["hash"]:
                    return AuditCheck(False, expected - 1, seq, "its hash does not match its contents (altered)", prev)
                point = anchored.get(seq)
                if point is not None and point["hash"] != r["hash"]:
                    return AuditCheck(
                        False,
                        expected - 1,
                        seq,
                        f"its hash differs from the one the anchor "
                        f"{self.anchor} recorded for it at {point['at']}: the log was rewritten up to "
                        "here",
                        prev,
                    )
                expected, prev = expected + 1, r["hash"]
        last = expected - 1
        if last == 0 and committed:
            return AuditCheck(False, 0, 1, f"entries 1..{committed} are missing (the Delta log records {committed})")
        if last and committed is None:
            return AuditCheck(
                False, last, 1, f"no {APP_ID} transaction in the Delta log: the table was rewritten", prev
            )
        if committed is not None and committed > last:
            gap = f"entry {last + 1} is" if committed == last + 1 else f"entries {last + 1}..{committed} are"
            return AuditCheck(
                False, last, last + 1, f"{gap} missing at the end (the Delta log records {committed})", prev
            )
        if committed is not None and committed < last:
            return AuditCheck(
                False,
                committed,
                committed + 1,
                f"entry {committed + 1} was not written by the audit "
                f"log (the Delta log records {committed} as the last)",
                prev,
            )
        if top is not None and top["seq"] > last:
            gap = f"entry {last + 1} is" if top["seq"] == last + 1 else f"entries {last + 1}..{top['seq']} are"
            return AuditCheck(
                False,
                last,
                last + 1,
                f"{gap} missing: the anchor {self.anchor} recorded entry {top['seq']} at {top['at']}",
                prev,
            )
        if top is None and last:
            return AuditCheck(
                False,
                last,
                1,
                f"the anchor {self.anchor} is missing or empty while the log holds "
                f"entries 1..{last}: nothing shows none were cut from the end",
                prev,
            )
        if top is None:
            return AuditCheck(True, 0, None, "", GENESIS)
        return AuditCheck(True, last, None, "", prev, top["seq"], datetime.fromisoformat(top["at"]))

    def _checkpoints(self) -> tuple[list[dict], AuditCheck | None]:
        """The anchor's checkpoints, oldest first, or the check that fails on the first forged or missing one."""
        lines = self.anchor.read() or []
        where = f"the anchor {self.anchor}"
        points: list[dict] = []
        for number, line in enumerate(lines, 1):
            claimed = line.get("seq") if type(line.get("seq")) is int else None
            if not self._genuine(line):
                return points, AuditCheck(
                    False,
                    0,
                    claimed,
                    f"{where} holds a checkpoint (entry {claimed}, "
                    f"checkpoint {number}) not signed with the audit key: forged",
                )
            expected = points[-1]["seq"] + 1 if points else 1
            if line["first"] != expected or line["seq"] < line["first"]:
                if not points:
                    problem = (
                        f"{where} begins at entry {line['first']}: the checkpoints of entries "
                        f"1..{line['first'] - 1} are missing (the anchor was deleted or replaced)"
                    )
                elif line["first"] > expected:
                    problem = f"{where} lacks the checkpoints of entries {expected}..{line['first'] - 1} (removed)"
                else:
                    problem = f"{where} holds checkpoints out of order (entry {line['seq']} after {expected - 1})"
                return points, AuditCheck(False, 0, expected, problem)
            points.append(line)
        return points, None

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
