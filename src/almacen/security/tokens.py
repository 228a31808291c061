"""API bearer tokens for programs: `_system/api_tokens`, holding only a SHA-256 of each secret.

The secret is shown once, at creation; a leaked table does not reveal usable tokens. A token acts
as its user with the user's current role, and stops working when revoked or when the user is removed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from almacen.lake import Lake
from almacen.security.systables import CachedTable, table_lock
from almacen.security.users import User, Users

TABLE = "_system.api_tokens"
PREFIX = "alm_"
TOKEN_ID = re.compile(r"^tok_[0-9a-f]{12}$")
SCHEMA = pa.schema([
    ("token_id", pa.string()),
    ("username", pa.string()),
    ("name", pa.string()),
    ("secret_sha256", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("revoked_at", pa.timestamp("us", tz="UTC")),
])
LISTED = ["token_id", "username", "name", "created_at", "revoked_at"]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Tokens:
    """Create, revoke and resolve API tokens."""

    def __init__(self, lake: Lake, users: Users) -> None:
        self.lake, self.users = lake, users
        self._table = CachedTable(lake, TABLE, SCHEMA)
        self._index_lock = threading.Lock()
        self._index: tuple[int | None, dict[str, dict]] = (None, {})

    def create(self, username: str, name: str) -> tuple[str, str]:
        """A new token for an existing user: (token_id, secret). The secret is not stored and not shown again."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ValueError(f"token for user {username}: give it a name of 1 to 100 characters (--name)")
        if self.users.get(username) is None:
            raise LookupError(f"no user {username!r}: create the user before giving them a token")
        token_id, secret = f"tok_{secrets.token_hex(6)}", PREFIX + secrets.token_urlsafe(32)
        row = {"token_id": token_id, "username": username, "name": name, "secret_sha256": _digest(secret),
               "created_at": datetime.now(timezone.utc), "revoked_at": None}
        self.lake.append(TABLE, pa.Table.from_pylist([row], schema=SCHEMA))
        return token_id, secret

    def revoke(self, token_id: str) -> None:
        """Revoke a token from now on (revoking it again changes nothing); LookupError for an unknown id."""
        with table_lock(self.lake, TABLE):
            row = next((r for r in self._rows().values() if r["token_id"] == token_id), None)
            if row is None or not TOKEN_ID.match(token_id):
                raise LookupError(f"no API token {token_id!r} (see `almacen users tokens`)")
            if row["revoked_at"] is None:
                row = {**row, "revoked_at": datetime.now(timezone.utc)}
                self.lake.replace(TABLE, pa.Table.from_pylist([row], schema=SCHEMA), f"token_id = '{token_id}'")

    def user_for(self, secret: str) -> User | None:
        """The user a bearer secret acts as; None if unknown, revoked, or its user was removed."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        row = self._rows().get(_digest(secret))
        if row is None or row["revoked_at"] is not None:
            return None
        found = self.users.get_with_created_at(row["username"])
        if found is None or found[1] > row["created_at"]:
            return None  # removed, or removed and re-added: the token belonged to the earlier account
        return found[0]

    def list(self, username: str | None = None) -> pa.Table:
        """Tokens (never their secrets), oldest first; only `username`'s when given."""
        _, data = self._table.read()
        if username is not None:
            data = data.filter(pc.equal(data["username"], username))
        return data.select(LISTED).sort_by([("created_at", "ascending"), ("token_id", "ascending")])

    def _rows(self) -> dict[str, dict]:
        """Tokens by secret digest, rebuilt when the table's version moved."""
        version, data = self._table.read()
        with self._index_lock:
            if self._index[0] != version or version is None:
                self._index = (version, {r["secret_sha256"]: r for r in data.to_pylist()})
            return self._index[1]
