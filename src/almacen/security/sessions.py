"""Server-side dashboard sessions: `_system/sessions`, so a logout (or an admin) really ends one.

A signed cookie alone cannot be revoked: a copy taken before logout keeps working until it expires.
The cookie therefore carries only a random session id; this table holds the SHA-256 of that id with
its user, issue and expiry times and, once ended, when and why. Every request looks its session up
here: the table is held in memory per Delta version and re-read only when its `_delta_log` moved
(a stat, see systables.CachedTable), so the check costs microseconds, and an end written by another
process (the CLI, another server worker) is seen by the next request.

Sessions end at logout, after their lifetime, on a password reset, a role change and the user's
removal, and on `almacen users logout NAME` / `--all` ("log out everywhere").
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import utc_now
from almacen.errors import UsageError
from almacen.lake import Lake
from almacen.lake.predicate import EVERYTHING, any_of, before, equals
from almacen.security.systables import CachedTable, table_lock

TABLE = "_system.sessions"
_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("session_sha256", pa.string()),
        ("username", pa.string()),
        ("issued_at", _TS),
        ("expires_at", _TS),
        ("ended_at", _TS),
        ("end_reason", pa.string()),
    ]
)
KEEP_ENDED = timedelta(days=1)
"""ended or expired sessions stay listed this long, then the next login sweeps them out of the table"""


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    """A live session: whose it is and when it was issued and expires (UTC)."""

    username: str
    issued_at: datetime
    expires_at: datetime


class Sessions:
    """Open, look up and end dashboard sessions."""

    def __init__(self, lake: Lake, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.lake, self.clock = lake, clock
        self._table = CachedTable(lake, TABLE, SCHEMA)
        self._index_lock = threading.Lock()
        self._index: tuple[int | None, dict[str, dict]] = (None, {})

    def open(self, username: str, lifetime: timedelta) -> tuple[str, Session]:
        """A new session for a user who just proved who they are: (the id for the cookie, the session).

        The id is shown to the browser only; the table keeps its SHA-256."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        row = {
            "session_sha256": _digest(session_id),
            "username": username,
            "issued_at": now,
            "expires_at": now + lifetime,
            "ended_at": None,
            "end_reason": None,
        }
        with table_lock(self.lake, TABLE):
            self._sweep(now)
            self.lake.append(TABLE, pa.Table.from_pylist([row], schema=SCHEMA))
        return session_id, Session(username, now, now + lifetime)

    def get(self, session_id: str) -> Session | None:
        """The live session behind an id; None when unknown, ended or expired."""
        if not session_id or len(session_id) > 100:
            return None
        row = self._rows().get(_digest(session_id))
        if row is None or row["ended_at"] is not None or row["expires_at"] <= self.clock():
            return None
        return Session(row["username"], row["issued_at"], row["expires_at"])

    def end(self, session_id: str, reason: str = "logout") -> bool:
        """End one session; False when it was unknown or already over."""
        digest = _digest(session_id)
        return self._end(equals("session_sha256", digest), lambda r: r["session_sha256"] == digest, reason) > 0

    def end_user(self, username: str, reason: str) -> int:
        """End every live session of a user (password reset, role change, removal, an admin); returns how many."""
        if "'" in username:
            raise UsageError(f"{username!r} is not a username")
        return self._end(equals("username", username), lambda r: r["username"] == username, reason)

    def end_all(self, reason: str) -> int:
        """End every live session of every user ("log out everywhere"); returns how many."""
        return self._end(EVERYTHING, lambda r: True, reason)

    def live(self, username: str | None = None) -> list[Session]:
        """Live sessions, oldest first (all users', or one user's)."""
        now = self.clock()
        found = [
            Session(r["username"], r["issued_at"], r["expires_at"])
            for r in self._rows().values()
            if r["ended_at"] is None and r["expires_at"] > now and username in (None, r["username"])
        ]
        return sorted(found, key=lambda s: (s.issued_at, s.username))

    def _end(self, predicate: str, chosen: Callable[[dict], bool], reason: str) -> int:
        with table_lock(self.lake, TABLE):
            _, data = self._table.read()
            now = self.clock()
            rows = data.to_pylist()
            ending = [r for r in rows if chosen(r) and r["ended_at"] is None and r["expires_at"] > now]
            if not ending:
                return 0
            kept = [r for r in rows if chosen(r)]
            for r in kept:
                if r in ending:
                    r.update(ended_at=now, end_reason=reason)
            self.lake.replace(TABLE, pa.Table.from_pylist(kept, schema=SCHEMA), predicate)
            return len(ending)

    def _sweep(self, now: datetime) -> None:
        """Delete sessions over for longer than KEEP_ENDED (called holding the lock, before a login's append)."""
        _, data = self._table.read()
        if data.num_rows == 0:
            return
        cut = now - KEEP_ENDED
        cutoff = pa.scalar(cut, _TS)
        over = pc.or_(pc.less(data["expires_at"], cutoff), pc.fill_null(pc.less(data["ended_at"], cutoff), False))
        dt = self._table.delta_table()
        if dt is not None and pc.any(over).as_py():
            dt.delete(any_of(before("expires_at", cut), before("ended_at", cut)))  # a null ended_at matches no `<`

    def _rows(self) -> dict[str, dict]:
        """Sessions by id digest, rebuilt when the table's version moved."""
        version, data = self._table.read()
        with self._index_lock:
            if self._index[0] != version or version is None:
                self._index = (version, {r["session_sha256"]: r for r in data.to_pylist()})
            return self._index[1]
