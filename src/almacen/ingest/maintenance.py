"""Housekeeping for a long-running stream: small files compacted, old files vacuumed, memory trimmed.

One-second micro-batches write a file per commit: a day of them is 86,400 files to open. The
append-only tables (bronze, quarantine) are compacted by a background thread, which never
conflicts with the appends going on beside it. Gold rollups (gold.sales_minute, gold.usage_minute)
are rewritten by every batch, so a compaction beside it would make the batch's commit conflict:
they are compacted on the ingest thread between batches (small tables, tens of milliseconds). Checkpoints come every ten commits by
themselves (`delta.checkpointInterval`, lake.tables).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from datetime import datetime, timedelta

import pyarrow as pa

from almacen.engine import Engine
from almacen.lake import Lake

log = logging.getLogger(__name__)
TRIM_EVERY_S = 10.0
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)


def release_memory() -> None:
    """Hand memory freed by the last batch back to the OS: Arrow's pool and glibc's heaps both keep
    freed blocks for reuse, which a long stream sees as RSS creeping up batch after batch."""
    pa.default_memory_pool().release_unused()
    if hasattr(_LIBC, "malloc_trim"):  # glibc only
        _LIBC.malloc_trim(0)


class Maintenance:
    """Compaction of one stream's tables: `append_only` in the background, `rewritten` between batches."""

    def __init__(
        self,
        lake: Lake,
        every_s: float,
        retention_hours: int,
        *,
        append_only: tuple[str, ...],
        rewritten: tuple[str, ...],
    ) -> None:
        self.lake = lake
        self.append_only = append_only
        self.rewritten = rewritten
        self.every_s = every_s
        self.retention_hours = retention_hours
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_inline = time.monotonic()
        self._last_trim = time.monotonic()
        self.compactions = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="almacen-compaction", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            for table in self.append_only:
                self._compact(table)

    def _compact(self, table: str) -> None:
        try:
            if self.lake.compact(table, retention_hours=self.retention_hours):
                self.compactions += 1
        except Exception as exc:  # noqa: BLE001 - a failed compaction is retried next time, ingestion goes on
            log.warning("compaction of %s failed (will retry): %s", table, exc)

    def tick(self, engine: Engine, watermark: datetime | None, lateness: timedelta) -> None:
        """Between two batches, on the ingest thread: forget ids past the lateness, compact gold when due."""
        now = time.monotonic()
        if watermark is not None and now - self._last_trim >= TRIM_EVERY_S:
            engine.execute("DELETE FROM seen_events WHERE t < $since", {"since": watermark - lateness})
            self._last_trim = now
        if now - self._last_inline >= self.every_s:
            for table in self.rewritten:
                self._compact(table)
            self._last_inline = now

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
