"""API bearer tokens for programs: `_system/api_tokens`, holding only a SHA-256 of each secret.

The secret is shown once, at creation; a leaked table does not reveal usable tokens. A token acts
as its user with the user's current role, and stops working when it expires (`days` after creation,
90 unless told), when revoked, or when the user is removed. `almacen users reset-password` revokes
the user's tokens (`revoke_all`) unless told to keep them.

Tables written before tokens expired have no `expires_at` column: their tokens read as expiring
LEGACY_DAYS (90) days after creation, the default lifetime, so a token older than that is dead at
once and a younger one keeps the lifetime it would have been given. The first token created or
revoked afterwards adds the column to the table.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import utc_now
from almacen.errors import NotFound, UsageError
from almacen.lake import Lake
from almacen.lake.predicate import isin
from almacen.security.systables import CachedTable, table_lock
from almacen.security.users import USERNAME, User, Users

TABLE = "_system.api_tokens"
PREFIX = "alm_"
TOKEN_ID = re.compile(r"^tok_[0-9a-f]{12}$")
DEFAULT_DAYS = 90
"""a token's lifetime unless told otherwise (`[serve] token_days` for the CLI)"""
MAX_DAYS = 3650
LEGACY_DAYS = 90
"""the lifetime given to tokens of a table written before `expires_at` existed"""
SCHEMA = pa.schema(
    [
        ("token_id", pa.string()),
        ("username", pa.string()),
        ("name", pa.string()),
        ("secret_sha256", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("revoked_at", pa.timestamp("us", tz="UTC")),
        ("expires_at", pa.timestamp("us", tz="UTC")),
    ]
)
LISTED = ["token_id", "username", "name", "created_at", "expires_at", "revoked_at"]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Tokens:
    """Create, revoke and resolve API tokens; `clock` (UTC now) is for tests."""

    def __init__(self, lake: Lake, users: Users, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.lake, self.users, self.clock = lake, users, clock
        self._table = CachedTable(lake, TABLE, SCHEMA)  # for its version only: old tables lack expires_at
        self._index_lock = threading.Lock()
        self._index: tuple[int | None, pa.Table, dict[str, dict]] = (None, SCHEMA.empty_table(), {})

    def create(self, username: str, name: str, *, days: int = DEFAULT_DAYS) -> tuple[str, str]:
        """A new token for an existing user, valid `days` days: (token_id, secret). The secret is not stored
        and not shown again."""
        name = name.strip()
        if not name or len(name) > 100:
            raise UsageError(f"token for user {username}: give it a name of 1 to 100 characters (--name)")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise UsageError(f"token for user {username}: it lasts 1 to {MAX_DAYS} days, not {days!r} (--days)")
        if self.users.get(username) is None:
            raise NotFound(f"no user {username!r}: create the user before giving them a token")
        token_id, secret = f"tok_{secrets.token_hex(6)}", PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        row = {
            "token_id": token_id,
            "username": username,
            "name": name,
            "secret_sha256": _digest(secret),
            "created_at": now,
            "revoked_at": None,
            "expires_at": now + timedelta(days=days),
        }
        self.lake.append(TABLE, pa.Table.from_pylist([row], schema=SCHEMA))
        return token_id, secret

    def revoke(self, token_id: str) -> None:
        """Revoke a token from now on (revoking it again changes nothing); NotFound for an unknown id."""
        with table_lock(self.lake, TABLE):
            row = next((r for r in self._rows().values() if r["token_id"] == token_id), None)
            if row is None or not TOKEN_ID.match(token_id):
                raise NotFound(f"no API token {token_id!r} (see `almacen users tokens`)")
            if row["revoked_at"] is None:
                self._write_revoked([row])

    def revoke_all(self, username: str) -> list[str]:
        """Revoke every token of `username` not revoked yet, in one commit; their ids, oldest first."""
        if not USERNAME.match(username):
            raise UsageError(f"username {username!r} must match {USERNAME.pattern}")
        with table_lock(self.lake, TABLE):
            rows = sorted(
                (r for r in self._rows().values() if r["username"] == username and r["revoked_at"] is None),
                key=lambda r: (r["created_at"], r["token_id"]),
            )
            if rows:
                self._write_revoked(rows)
        return [r["token_id"] for r in rows]

    def user_for(self, secret: str) -> User | None:
        """The user a bearer secret acts as; None if unknown, expired, revoked, or its user was removed."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        row = self._rows().get(_digest(secret))
        if row is None or row["revoked_at"] is not None or self.clock() >= row["expires_at"]:
            return None
        found = self.users.get_with_created_at(row["username"])
        if found is None or found[1] > row["created_at"]:
            return None  # removed, or removed and re-added: the token belonged to the earlier account
        return found[0]

    def list(self, username: str | None = None) -> pa.Table:
        """Tokens (never their secrets) with when they expire, oldest first; only `username`'s when given."""
        data = self._read()[1]
        if username is not None:
            data = data.filter(pc.equal(data["username"], username))
        return data.select(LISTED).sort_by([("created_at", "ascending"), ("token_id", "ascending")])

    def _write_revoked(self, rows: builtins.list[dict]) -> None:  # `list` here is the method above
        """Rewrite `rows` (ids checked against TOKEN_ID) revoked now, in one commit; the caller holds the lock."""
        ids = [r["token_id"] for r in rows]
        if not all(TOKEN_ID.match(i) for i in ids):
            raise ValueError(f"malformed API token id among {ids}")
        now = self.clock()
        revoked = pa.Table.from_pylist([{**r, "revoked_at": now} for r in rows], schema=SCHEMA)
        self.lake.replace(TABLE, revoked, isin("token_id", ids))

    def _rows(self) -> dict[str, dict]:
        """Tokens by secret digest, rebuilt when the table's version moved."""
        return self._read()[2]

    def _read(self) -> tuple[int | None, pa.Table, dict[str, dict]]:
        """The table (expires_at filled in for old rows) and its rows by digest, re-read when its version moved."""
        version = self._table.version()
        with self._index_lock:
            if self._index[0] != version or version is None:
                data = _with_expiry(self.lake.read(TABLE) if version is not None else None)
                self._index = (version, data, {r["secret_sha256"]: r for r in data.to_pylist()})
            return self._index


def _with_expiry(data: pa.Table | None) -> pa.Table:
    """The table in SCHEMA, a missing or null `expires_at` read as created_at + LEGACY_DAYS."""
    if data is None:
        return SCHEMA.empty_table()
    legacy = pc.add(data["created_at"], pa.scalar(timedelta(days=LEGACY_DAYS), pa.duration("us")))
    if "expires_at" in data.column_names:
        expires = pc.coalesce(data["expires_at"].cast(legacy.type), legacy)
        data = data.drop_columns(["expires_at"])
    else:
        expires = legacy
    data = data.append_column("expires_at", expires)
    return data.select(SCHEMA.names).cast(SCHEMA)
