"""Small system tables read often and written rarely: a cache per Delta version, and a cross-process lock.

Users and tokens are read on every request and changed by the CLI in another process: a cached copy
is valid while the table's Delta version is unchanged, and checking the version (an incremental
log update on a kept `DeltaTable`) costs well under a millisecond, against ~5 ms to open the table.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from almacen.lake import Lake


SETTLE_NS = 100_000_000
"""a `_delta_log` change this recent (0.1 s) is re-checked through delta-rs rather than trusted from its mtime"""


@contextmanager
def table_lock(lake: Lake, table: str) -> Iterator[None]:
    """Hold an exclusive fcntl lock on `<table folder>.lock` (local lakes; a no-op on object stores).

    Writers of the same system table in several processes (the server and the CLI) take it around
    read-check-write sequences, so a duplicate check or a hash chain sees every earlier write.
    """
    if "://" in lake.root:
        yield
        return
    path = Path(lake.path(table))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CachedTable:
    """One system table held in memory, re-read only when its Delta version moved."""

    def __init__(self, lake: Lake, table: str, schema: pa.Schema) -> None:
        self.lake, self.name, self.schema = lake, table, schema
        self._lock = threading.Lock()
        self._dt: DeltaTable | None = None
        self._version: int | None = None
        self._data = schema.empty_table()
        self._log_mtime: int | None = None
        self._log_dir = None if "://" in lake.root else Path(lake.path(table)) / "_delta_log"

    def version(self) -> int | None:
        """The table's current Delta version (None while it was never written), read from the log."""
        with self._lock:
            return self._refresh_version()

    def read(self) -> tuple[int | None, pa.Table]:
        """The current version and the table's rows (re-read when the version moved since the last call)."""
        with self._lock:
            version = self._refresh_version()
            if version != self._version:
                data = self.lake.read(self.name)
                self._data = self.schema.empty_table() if data is None else data.select(self.schema.names)
                self._version = version
            return self._version, self._data

    def delta_table(self) -> DeltaTable | None:
        """The kept `DeltaTable`, brought up to date (for transaction versions and deletes)."""
        with self._lock:
            self._refresh_version()
            return self._dt

    def _refresh_version(self) -> int | None:
        if self._dt is None:
            self._dt = self.lake.table(self.name)
            if self._dt is None:
                return None
        elif not self._log_unchanged():
            self._dt.update_incremental()
        return self._dt.version()

    def _log_unchanged(self) -> bool:
        """True when the local `_delta_log` folder has not changed since the last look: every commit adds a
        file there, so its mtime moves. Checking costs a stat, against milliseconds for delta-rs to list a
        long log. A change younger than SETTLE_NS is not trusted (two commits can share a timestamp tick)."""
        if self._log_dir is None:
            return False
        try:
            mtime = os.stat(self._log_dir).st_mtime_ns
        except FileNotFoundError:
            return False
        unchanged = mtime == self._log_mtime and time.time_ns() - mtime > SETTLE_NS
        self._log_mtime = mtime
        return unchanged
