"""Users of the dashboard and API: `_system/users`, with argon2 password hashes.

New passwords must pass `passwords.check_password` (NIST SP 800-63B); they are hashed with argon2id
(argon2-cffi), and the hash never leaves this module. `changed_at` moves on every role change and
password reset, and the server refuses sessions issued before it.
Reads are cached per Delta version, so a login does not re-read the table, yet a change the CLI
makes in another process is seen on the server's next request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from almacen.clock import utc_now
from almacen.errors import NotFound, UsageError
from almacen.lake import Lake
from almacen.lake.predicate import equals
from almacen.security.passwords import check_password
from almacen.security.roles import GRANTS, Permission, Role, Scope, scope_of
from almacen.security.systables import CachedTable, table_lock

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
RESERVED = frozenset({"anonymous", "system"})
"""actors the audit log uses for requests without a user and for the platform itself"""
TABLE = "_system.users"
SCHEMA = pa.schema(
    [
        ("username", pa.string()),
        ("role", pa.string()),
        ("branches", pa.string()),  # comma-separated branch ids (ids match ^[a-z0-9_]+$)
        ("password_hash", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("changed_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class User:
    """Who is asking: a username, a role and (for a branch manager) the branches assigned."""

    username: str
    role: Role
    branches: tuple[str, ...]
    changed_at: datetime
    """UTC; bumps on role change and password reset: sessions issued before it are invalid"""

    @property
    def scope(self) -> Scope:
        """The branches this user's numbers are cut to."""
        return scope_of(self.role, self.branches)

    def can(self, permission: Permission) -> bool:
        """Whether the user's role holds `permission`."""
        return permission in GRANTS[self.role]


@dataclass(frozen=True)
class _Row:
    user: User
    password_hash: str
    created_at: datetime


def parse_role(role: Role | str) -> Role:
    """`"analyst"` -> Role.ANALYST, or a UsageError listing the roles."""
    try:
        return Role(role)
    except ValueError:
        raise UsageError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None


def check_assignment(username: str, role: Role, branches: Iterable[str]) -> tuple[str, ...]:
    """The branches a role takes: at least one for a branch manager, none for the other roles."""
    branches = tuple(sorted(set(branches)))
    if role is Role.BRANCH_MANAGER and not branches:
        raise UsageError(f"user {username}: a branch_manager needs at least one branch (--branch)")
    if role is not Role.BRANCH_MANAGER and branches:
        raise UsageError(f"user {username}: the {role} role sees every branch; branches are only for a branch_manager")
    bad = [b for b in branches if not re.fullmatch(r"[a-z0-9_]+", b)]
    if bad:
        raise UsageError(f"user {username}: {bad[0]!r} is not a branch id")
    return branches


def check_new_user(username: str, role: Role | str, branches: Iterable[str]) -> tuple[Role, tuple[str, ...]]:
    """Validate a new user's name, role and branches (before asking for a password); UsageError says why."""
    if not USERNAME.fullmatch(username):
        raise UsageError(f"username {username!r} must match {USERNAME.pattern} (lower-case letters, digits, _ . -)")
    if username in RESERVED:
        raise UsageError(
            f"username {username!r} is reserved: the audit log names unauthenticated requests and the system with it"
        )
    role = parse_role(role)
    return role, check_assignment(username, role, branches)


class Users:
    """The `_system/users` table: add, remove, change role, reset password, authenticate."""

    def __init__(self, lake: Lake, *, hasher: PasswordHasher | None = None) -> None:
        self.lake = lake
        self._hasher = hasher or PasswordHasher()
        self._table = CachedTable(lake, TABLE, SCHEMA)
        self._index_lock = threading.Lock()
        self._index: tuple[int | None, dict[str, _Row]] = (None, {})
        self._dummy: str | None = None

    def add(self, username: str, password: str, role: Role | str, branches: Iterable[str] = ()) -> User:
        """Create a user; UsageError when the name, password (`check_password`), role or branches are unfit or the
        name is taken."""
        role, branches = check_new_user(username, role, branches)
        check_password(username, password)
        password_hash = self._hasher.hash(password)
        with table_lock(self.lake, TABLE):
            if username in self._rows():
                raise UsageError(f"user {username} already exists")
            now = utc_now()
            row = _Row(User(username, role, branches, now), password_hash, now)
            self.lake.append(TABLE, _to_arrow(row))
        return row.user

    def remove(self, username: str) -> None:
        """Delete a user; their sessions and API tokens stop working. NotFound if there is none."""
        with table_lock(self.lake, TABLE):
            self._existing(username)
            table = self._table.delta_table()
            assert table is not None  # it holds the user just found, under the lock
            table.delete(equals("username", username))

    def set_role(self, username: str, role: Role | str, branches: Iterable[str] | None = None) -> User:
        """Change a user's role (and branches; None keeps a branch manager's branches); bumps changed_at."""
        role = parse_role(role)
        with table_lock(self.lake, TABLE):
            row = self._existing(username)
            if branches is None:
                branches = row.user.branches if role is Role.BRANCH_MANAGER else ()
            user = User(username, role, check_assignment(username, role, branches), utc_now())
            self._write(_Row(user, row.password_hash, row.created_at))
        return user

    def reset_password(self, username: str, password: str) -> User:
        """Set a new password (checked by `check_password`); bumps changed_at so sessions opened with the old one
        end. The user's API tokens are not touched here: `Tokens.revoke_all` does that."""
        check_password(username, password)
        password_hash = self._hasher.hash(password)
        with table_lock(self.lake, TABLE):
            row = self._existing(username)
            user = User(username, row.user.role, row.user.branches, utc_now())
            self._write(_Row(user, password_hash, row.created_at))
        return user

    def get(self, username: str) -> User | None:
        """The user as the table holds it now (cached while the table's version is unchanged)."""
        row = self._rows().get(username)
        return None if row is None else row.user

    def list(self) -> list[User]:
        """Every user, by username."""
        return [r.user for _, r in sorted(self._rows().items())]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None; an unknown user costs the same time as a known one.

        A hash made with older argon2 parameters is replaced by one made with the current ones.
        """
        dummy = self._dummy_hash()
        row = self._rows().get(username)
        try:
            self._hasher.verify(row.password_hash if row else dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            self._rehash(username, row.password_hash, password)
        return row.user

    def get_with_created_at(self, username: str) -> tuple[User, datetime] | None:
        """The user and when the account was created (tokens older than it belonged to a removed namesake)."""
        row = self._rows().get(username)
        return None if row is None else (row.user, row.created_at)

    def _rehash(self, username: str, old_hash: str, password: str) -> None:
        new_hash = self._hasher.hash(password)
        with table_lock(self.lake, TABLE):
            row = self._rows().get(username)
            if row is not None and row.password_hash == old_hash:  # not reset meanwhile
                self._write(_Row(row.user, new_hash, row.created_at))

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash("almacen: no such user, compared for timing only")
        return self._dummy

    def _existing(self, username: str) -> _Row:
        row = self._rows().get(username)
        if row is None:
            raise NotFound(f"no user {username!r} in {self.lake.path(TABLE)}")
        return row

    def _write(self, row: _Row) -> None:
        self.lake.replace(TABLE, _to_arrow(row), equals("username", row.user.username))

    def _rows(self) -> dict[str, _Row]:
        version, data = self._table.read()
        with self._index_lock:
            if self._index[0] != version or version is None:
                self._index = (version, {r.user.username: r for r in _from_arrow(data)})
            return self._index[1]


def _to_arrow(row: _Row) -> pa.Table:
    u = row.user
    return pa.Table.from_pylist(
        [
            {
                "username": u.username,
                "role": u.role.value,
                "branches": ",".join(u.branches),
                "password_hash": row.password_hash,
                "created_at": row.created_at,
                "changed_at": u.changed_at,
            }
        ],
        schema=SCHEMA,
    )


def _from_arrow(data: pa.Table) -> list[_Row]:
    return [
        _Row(
            User(
                r["username"],
                Role(r["role"]),
                tuple(b for b in r["branches"].split(",") if b),
                r["changed_at"].astimezone(timezone.utc),
            ),
            r["password_hash"],
            r["created_at"].astimezone(timezone.utc),
        )
        for r in data.to_pylist()
    ]
