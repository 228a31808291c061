"""The embedded event transport: a folder of newline-JSON files, each closed by an atomic rename.

A writer names its files `<writer>-<sequence>.jsonl` (sequence zero-padded, growing; the last one
is kept in `.<writer>.seq`, so it survives the reader deleting the files), writing
`.<name>.tmp` first and renaming it when closed, so a reader never sees half a file. Each writer
is a stream and its sequence number the position: the lake records the last file read per writer,
and the files up to it are deleted once committed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from almacen.sources.stream import Committed, StreamBatch

_NAME = re.compile(r"^(?P<writer>[A-Za-z0-9_.]+)-(?P<seq>\d{1,18})\.jsonl$")


def _stream(writer: str) -> str:
    return f"file:{writer}"


class LandingWriter:
    """Writes lines to the folder in files of up to `file_events` lines; `close()` closes the last one."""

    def __init__(self, folder: str | Path, writer: str, file_events: int = 100_000) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.]+", writer):
            raise ValueError(f"landing writer name {writer!r} may hold only letters, digits, '_' and '.'")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = writer
        self.file_events = file_events
        # the reader deletes files once committed: the writer's last number is kept beside them
        self._seq_file = self.folder / f".{writer}.seq"
        on_disk = max(
            (int(m["seq"]) for p in self.folder.iterdir() if (m := _NAME.match(p.name)) and m["writer"] == writer),
            default=0,
        )
        kept = int(self._seq_file.read_text()) if self._seq_file.exists() else 0
        self.seq = max(on_disk, kept)

    def write(self, lines: Sequence[str | bytes]) -> None:
        """Write lines as one or more closed files (a file is visible to readers once complete).

        Text is written as UTF-8; bytes as they are (the simulator's defective lines). A line may not
        hold a newline: it would be read back as two."""
        for i in range(0, len(lines), self.file_events):
            self.seq += 1
            name = f"{self.writer}-{self.seq:012d}.jsonl"
            tmp = self.folder / f".{name}.tmp"
            with open(tmp, "wb") as f:
                f.write(
                    b"\n".join(
                        line.encode() if isinstance(line, str) else line for line in lines[i : i + self.file_events]
                    )
                )
                f.write(b"\n")
            os.replace(tmp, self.folder / name)
        self._seq_file.write_text(str(self.seq))

    def close(self) -> None:
        """Nothing stays open between writes; kept so a writer is used like a producer."""


def file_lines(data: bytes) -> list[bytes]:
    """The payloads of a landing file: its lines, every one kept (an empty line is an empty payload,
    quarantined as such), except the empty tail after the last newline. A UTF-8 byte order mark at
    the start and CRLF line ends (files from Windows tools) are read as the text they stand for;
    bytes that are not UTF-8 are kept as they are, for the parser to quarantine line by line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


class LandingSource:
    """Reads closed files in sequence order per writer, whole files at a time."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.label = f"landing:{self.folder}"
        self._committed: Committed = lambda _: None
        self._read: dict[str, int] = {}
        self._waiting = 0

    def open(self, committed: Committed) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._committed = committed

    def _pending(self) -> list[tuple[str, int, Path]]:
        """Closed files not yet committed nor read, oldest first per writer."""
        files = []
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if not m:
                continue
            stream, seq = _stream(m["writer"]), int(m["seq"])
            if stream not in self._read:
                self._read[stream] = self._committed(stream) or 0
            if seq > self._read[stream]:
                files.append((stream, seq, p))
        return sorted(files, key=lambda f: (f[1], f[0]))

    def streams(self) -> list[str]:
        self._pending()
        return sorted(self._read)

    def poll(self, max_events: int, timeout: float) -> StreamBatch:
        deadline = time.monotonic() + timeout
        batch = StreamBatch([], [], [], [], self.label)
        while True:
            pending = self._pending()
            self._waiting = len(pending)
            taken: set[str] = set()
            for stream, seq, path in pending:
                if len(batch) >= max_events:
                    break
                if stream in taken and seq != batch.ends[stream] + 1:
                    continue  # a gap in this writer's sequence: wait for the missing file
                lines = file_lines(path.read_bytes())
                n = len(lines)
                batch.payloads += lines
                batch.streams += [stream] * n
                batch.positions += [seq] * n
                batch.batch_ids += [f"file:{path.name}"] * n
                batch.ends[stream] = seq
                self._read[stream] = seq
                taken.add(stream)
            if len(batch) >= max_events or time.monotonic() >= deadline:
                return batch
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def acknowledge(self, ends: dict[str, int]) -> None:
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m and int(m["seq"]) <= ends.get(_stream(m["writer"]), -1):
                p.unlink(missing_ok=True)

    def lag(self) -> int | None:
        """Closed files waiting (the events in them are not counted without reading them)."""
        return self._waiting

    def close(self) -> None:
        pass
