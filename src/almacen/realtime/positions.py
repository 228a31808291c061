"""Stream positions as the lake holds them: per table, the last position of each stream, never moving back.

Every table a stream writes (quarantine, bronze, each gold table) commits, with its rows, the last
position of each stream the rows include, as Delta transaction ids (`app_id`). After a crash between
two of those commits the tables hold different positions, and the batch read again after the restart
may be cut differently (a smaller `max_batch_events`, another poll timing): each table then keeps only
the rows past its own positions (`Positions.beyond`) and commits the higher of what it holds and what
the batch reached (`Positions.after`), so a position never moves back and no row is written twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.lake import Lake


def app_id(stream: str) -> str:
    """The Delta transaction app id under which a stream's last position is committed."""
    return f"almacen-stream:{stream}"


def advance(held: Mapping[str, int], ends: Mapping[str, int]) -> dict[str, int]:
    """The positions of `ends`' streams after a batch: the higher of what a table holds and what the
    batch reached (a batch cut smaller than one committed before a crash never moves a table back)."""
    return {s: max(p, held[s]) if held.get(s) is not None else p for s, p in ends.items()}


def transactions(positions: Mapping[str, int]) -> list[tuple[str, int]]:
    """(app id, position) pairs for a commit."""
    return [(app_id(s), p) for s, p in positions.items()]


def beyond(rows: pa.Table, committed: Mapping[str, int | None]) -> pa.Table:
    """Rows (with `_stream`, `_position`) past the positions a table committed per stream."""
    held = {s: p for s, p in committed.items() if p is not None}
    if not held or rows.num_rows == 0:
        return rows
    keep = None
    for stream, position in held.items():
        k = pc.or_(pc.not_equal(rows["_stream"], stream), pc.greater(rows["_position"], position))
        keep = k if keep is None else pc.and_(keep, k)
    return rows.filter(keep)


def past(behind: Mapping[str, int | None], streams: Iterable[str]) -> pads.Expression:
    """A dataset filter: rows of `streams` past the positions a table holds (`behind`, None: nothing yet)."""
    cond = None
    for s in streams:
        c = (pads.field("_stream") == s) & (pads.field("_position") > (behind[s] if behind[s] is not None else -1))
        cond = c if cond is None else cond | c
    return cond


class Positions:
    """What one table committed per stream: read from the lake the first time a stream is seen, then
    kept in step with the table's commits (`committed`), so a batch needs no table open to check it."""

    def __init__(self, lake: Lake, table: str) -> None:
        self.lake = lake
        self.table = table
        self._held: dict[str, int | None] = {}

    def of(self, streams: Iterable[str]) -> dict[str, int | None]:
        """The table's position of each stream (None: nothing committed for it)."""
        for s in streams:
            if s not in self._held:
                self._held[s] = self.lake.transaction_version(self.table, app_id(s))
        return {s: self._held[s] for s in streams}

    def beyond(self, rows: pa.Table, streams: Iterable[str]) -> pa.Table:
        """The rows of `streams` the table does not hold yet."""
        return beyond(rows, self.of(streams))

    def behind(self, ends: Mapping[str, int]) -> bool:
        """Whether the table lacks some of `ends` (false when a batch it fully holds is read again)."""
        held = self.of(ends)
        for s, p in ends.items():
            at = held[s]
            if at is None or at < p:
                return True
        return False

    def after(self, ends: Mapping[str, int]) -> dict[str, int]:
        """The positions to commit with a batch reaching `ends` (never lower than the table's)."""
        return advance({s: p for s, p in self.of(ends).items() if p is not None}, ends)

    def committed(self, positions: Mapping[str, int]) -> None:
        """The table committed `positions` (call after the commit succeeded)."""
        self._held.update(positions)
