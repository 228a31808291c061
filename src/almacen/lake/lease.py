"""Leases held in the lake: which process runs a job, so that two schedulers on one lake never run it twice.

`_system.leases` holds one row per job (partitioned by job, so each job's row is its own file): the
holder, a token of this holding, a sequence number and when it expires. Every change of a job's row
is a compare-and-swap on the Delta log: the new row is written with `overwrite` + `job = '<job>'` on
the very snapshot the old row was read from, carrying the Delta transaction id `almacen-lease:<job>`.
delta-rs refuses the commit (`CommitFailedError`: a concurrent commit added files the predicate
matches, or carries the same transaction id) when another process changed that job's row since the
read; commits for other jobs rebase and pass. The log's put-if-absent makes this atomic on a local
folder (a hard link) and on S3 (`If-None-Match: *`); a store that ignores conditional puts does not
qualify.

A lease expires `ttl` after it was taken or renewed; a process that finds it expired takes it over
(its holder died or hung). The holder should stop well before its own expiry (`Lease.expires_at`
minus a margin covering clock skew between hosts) and renew before committing a job's output; the
job's writes stay idempotent (their own transaction ids) for the case a paused holder resumes late.

After a commit that failed or whose answer was lost (an `OSError` from the store), the row is read
again: if it carries this attempt's token, the lease is held (the commit landed). Getting that wrong
would only cost availability, never let two holders in.

Do not compact this table: compaction's new files count as concurrent changes and make lease writes
fail (safely, but spuriously).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from almacen.lake.access import Access
from almacen.lake.catalog import Table, define
from almacen.lake.predicate import equals
from almacen.lake.tables import TABLE_DEFAULTS, Lake

LEASES = "_system.leases"
SCHEMA = pa.schema(
    [
        ("job", pa.string()),
        ("holder", pa.string()),
        ("token", pa.string()),
        ("seq", pa.int64()),
        ("expires_at_ms", pa.int64()),
    ]
)
LEASES_TABLE = define(
    Table(
        LEASES,
        Access.ADMIN,
        SCHEMA,
        keys=("job",),
        partition_by=("job",),
        description="who holds each job's lease, and until when (almacen run)",
    )
)
"""never published: which process runs what is for almacen's administrators"""
_CONFIG = {**TABLE_DEFAULTS, "delta.logRetentionDuration": "interval 1 days"}
"""renewals commit often: keep a day of log (cleaned up after checkpoints), not Delta's default 30"""


@dataclass(frozen=True)
class Lease:
    """One holding of a job's lease."""

    job: str
    holder: str
    token: str
    """this holding's id: a renewal or release by a holder whose lease was taken over is refused"""
    seq: int
    expires_at_ms: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at_ms / 1000, timezone.utc)


class Leases:
    """The leases of a lake's jobs (`_system.leases`).

    Args:
        lake: where the leases are held.
        clock: seconds since the epoch (`time.time`); tests move it to expire a lease.
    """

    def __init__(self, lake: Lake, clock: Callable[[], float] = time.time) -> None:
        self.lake = lake
        self.clock = clock

    def acquire(self, job: str, holder: str, ttl: timedelta) -> Lease | None:
        """The lease of `job` for `holder` for `ttl`, or None when another holder's lease has not expired
        (or another process took it at the same moment). A holder that holds it already gets a new holding
        (a new token: a `Lease` it kept from before can no longer renew or release)."""
        dt = self._open()
        current = self._row(dt, job)
        now = self._now_ms()
        if current is not None and current.holder and current.holder != holder and current.expires_at_ms > now:
            return None
        return self._swap(dt, Lease(job, holder, uuid.uuid4().hex, (current.seq if current else 0) + 1, now + _ms(ttl)))

    def renew(self, lease: Lease, ttl: timedelta) -> Lease | None:
        """`lease` extended by `ttl` from now; None when it is no longer this holding's (taken over)."""
        dt = self._open()
        current = self._row(dt, lease.job)
        if current is None or current.token != lease.token:
            return None
        return self._swap(dt, Lease(lease.job, lease.holder, lease.token, current.seq + 1, self._now_ms() + _ms(ttl)))

    def release(self, lease: Lease) -> bool:
        """Give `lease` up (another process may take the job at once); False when it was not held any more."""
        dt = self._open()
        current = self._row(dt, lease.job)
        if current is None or current.token != lease.token:
            return False
        return self._swap(dt, Lease(lease.job, "", uuid.uuid4().hex, current.seq + 1, 0)) is not None

    def holder(self, job: str) -> Lease | None:
        """The lease of `job` if someone holds it now (not expired, not released)."""
        current = self._row(self._open(), job)
        if current is None or not current.holder or current.expires_at_ms <= self._now_ms():
            return None
        return current

    # -- the compare-and-swap -------------------------------------------------------------------
    def _swap(self, dt: DeltaTable, new: Lease) -> Lease | None:
        """Replace the job's row with `new` iff no other lease commit of that job landed since `dt`'s version."""
        row = pa.Table.from_pylist([new.__dict__], SCHEMA)
        props = CommitProperties(app_transactions=[Transaction(f"almacen-lease:{new.job}", new.seq)])
        try:
            write_deltalake(
                dt,
                row,
                mode="overwrite",
                predicate=equals("job", new.job),
                commit_properties=props,
                storage_options=self.lake.storage_options,
            )
            return new
        except (CommitFailedError, OSError):
            landed = self._row(self._open(), new.job)  # a lost answer may hide a commit that landed
            return new if landed is not None and landed.token == new.token and landed.seq == new.seq else None

    def _open(self) -> DeltaTable:
        """The leases table at its latest version (created empty first, so that two first acquisitions
        race on a commit of the same table rather than both creating one)."""
        path = self.lake.path(LEASES)
        try:
            return DeltaTable(path, storage_options=self.lake.storage_options)
        except TableNotFoundError:
            try:
                DeltaTable.create(
                    path,
                    SCHEMA,
                    mode="ignore",
                    partition_by=["job"],
                    configuration=_CONFIG,
                    storage_options=self.lake.storage_options,
                )
            except CommitFailedError:
                pass  # another process created it first
            return DeltaTable(path, storage_options=self.lake.storage_options)

    def _row(self, dt: DeltaTable, job: str) -> Lease | None:
        if "://" in self.lake.root:
            data = dt.to_pyarrow_dataset()
        else:
            data = dt.to_pyarrow_dataset(
                filesystem=pafs.SubTreeFileSystem(self.lake.path(LEASES), pafs.LocalFileSystem())
            )
        rows = data.to_table(filter=pads.field("job") == job).to_pylist()
        if len(rows) > 1:
            raise RuntimeError(f"lease: {LEASES} holds {len(rows)} rows for job {job!r}; it must hold one")
        return Lease(**rows[0]) if rows else None

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


def _ms(ttl: timedelta) -> int:
    return int(ttl.total_seconds() * 1000)
