"""The audit log's write-ahead journal: entries made durable with one append and fsync, moved into the
Delta table in batches (a Delta commit costs 20-40 ms; an fsync'd append well under one).

One JSON line per entry, in a file beside the table (local lakes only). Writers hold the table's lock
file; a line torn by a crash was never acknowledged (its fsync had not returned) and is ignored.
Once entries are in the table, the journal keeps the last one: the head of the chain, so the next
entry is chained without opening the table (whose log listing grows with every commit).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path


class Journal:
    """Append-only JSON lines with fsync; read back whole, cleared once the entries are in Delta."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, rows: list[dict]) -> None:
        """Write rows and return once they are on disk."""
        text = "".join(json.dumps({**r, "at": r["at"].isoformat()}, ensure_ascii=False) + "\n" for r in rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict]:
        """Every complete entry, oldest first (empty when there is no journal)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # torn by a crash before its fsync returned: never acknowledged
            row = json.loads(line)
            rows.append({**row, "at": datetime.fromisoformat(row["at"])})
        return rows

    def last(self) -> dict | None:
        """The last complete entry, read from the end of the file (the journal grows between moves)."""
        try:
            with open(self.path, "rb") as handle:
                size, chunk = handle.seek(0, os.SEEK_END), 4096
                while True:
                    start = max(0, size - chunk)
                    handle.seek(start)
                    data = handle.read()
                    end = data.rfind(b"\n")  # the end of the last complete line
                    begin = data.rfind(b"\n", 0, max(end, 0)) + 1
                    if start == 0 or (end >= 0 and begin > 0):
                        break
                    chunk *= 4
        except FileNotFoundError:
            return None
        if end < 0:
            return None
        row = json.loads(data[begin:end])
        return {**row, "at": datetime.fromisoformat(row["at"])}

    def _cut_torn_tail(self) -> None:
        """Drop a partial last line (a crash mid-write) so the next entry starts on a line of its own."""
        try:
            with open(self.path, "rb+") as handle:
                data = handle.read()
                if data and not data.endswith(b"\n"):
                    handle.truncate(data.rfind(b"\n") + 1)
        except FileNotFoundError:
            pass

    def keep_only(self, row: dict) -> None:
        """Replace the journal by its last entry (the others are committed to the table): the chain's
        head stays readable here without opening the table. Atomic: a crash leaves the old or the new."""
        fresh = self.path.with_name(self.path.name + ".new")
        with open(fresh, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({**row, "at": row["at"].isoformat()}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(fresh, self.path)
