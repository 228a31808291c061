"""The audit log's two append-only files beside its Delta table: the write-ahead journal and the anchor.

The journal: entries made durable with one append and fsync, moved into the Delta table in batches (a
Delta commit costs 20-40 ms; an fsync'd append well under one). One JSON line per entry, in a file
beside the table (local lakes only). Writers hold the table's lock file; a line torn by a crash was
never acknowledged (its fsync had not returned) and is ignored. Once entries are in the table, the
journal keeps the last one: the head of the chain, so the next entry is chained without opening the
table (whose log listing grows with every commit).

The anchor (`AnchorFile`): one signed checkpoint line per move of entries into the table, only ever
appended (so it may be an append-only file, `chattr +a`, or live on another machine's mount); a local
path or an object-store URI. What the lines mean and how they are signed is `almacen.security.audit`'s.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path


def _tail_line(path: Path) -> bytes | None:
    """The last complete (newline-ended) line of a file, read from its end; None when there is none."""
    try:
        with open(path, "rb") as handle:
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
    return data[begin:end]


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
        line = _tail_line(self.path)
        if line is None:
            return None
        row = json.loads(line)
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


class AnchorFile:
    """JSON lines that are only ever appended, each durable (fsync'd) before `append` returns.

    Local files are opened with O_APPEND and never truncated or rewritten, so the file may be made
    append-only (`chattr +a`); a line torn by a crash is left in place, the next line starts on a line of
    its own, and readers skip what does not parse. On an object store (a `scheme://` location) the
    object is rewritten whole, old lines first (a PUT replaces it atomically).
    """

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self._remote = "://" in self.location
        self.path = None if self._remote else Path(self.location).expanduser()

    def __str__(self) -> str:
        return self.location

    def append(self, row: dict) -> None:
        """Append one line and return once it is on disk (or stored)."""
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        if self.path is None:  # a remote location
            self._append_remote(text.encode("utf-8"))
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                text = "\n" + text  # a torn last line stays (append-only); ours starts a line of its own
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new directory entry must survive a crash too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def read(self) -> list[dict] | None:
        """Every line that parses as a JSON object, oldest first; None when the file does not exist."""
        data = self._read_bytes()
        if data is None:
            return None
        return [row for row in (_parse(line) for line in data.split(b"\n")) if row is not None]

    def last(self) -> dict | None:
        """The last complete line, when it parses (read from the end of a local file)."""
        if self.path is None:  # a remote location
            rows = self.read()
            return rows[-1] if rows else None
        line = _tail_line(self.path)
        return None if line is None else _parse(line)

    def _read_bytes(self) -> bytes | None:
        if self.path is not None:  # a local file
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return None
        from pyarrow import fs as pafs

        filesystem, path = pafs.FileSystem.from_uri(self.location)
        if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with filesystem.open_input_stream(path) as source:
            return source.read()

    def _append_remote(self, line: bytes) -> None:
        from pyarrow import fs as pafs

        old = self._read_bytes() or b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        filesystem, path = pafs.FileSystem.from_uri(self.location)
        parent = path.rsplit("/", 1)[0]
        if parent and parent != path:
            filesystem.create_dir(parent, recursive=True)
        with filesystem.open_output_stream(path) as out:
            out.write(old + line)


def _parse(line: bytes) -> dict | None:
    """A line as a JSON object, or None (blank, torn by a crash, or not JSON)."""
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None
