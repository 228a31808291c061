"""Roles, what each may do, and the branch scope a user's data is cut to.

The scope is applied once, in the serving query layer, for pages, API, exports and filters alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from almacen.errors import AlmacenError


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    BRANCH_MANAGER = "branch_manager"
    AUDITOR = "auditor"


class Permission(StrEnum):
    SALES = "sales"  # overview, sales, real-time pages, their API and exports
    QUALITY = "quality"  # runs, freshness, quarantine, reconciliation
    AUDIT = "audit"  # the audit log
    USERS = "users"  # user and token administration


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ANALYST: frozenset({Permission.SALES, Permission.QUALITY}),
    Role.BRANCH_MANAGER: frozenset({Permission.SALES, Permission.QUALITY}),
    Role.AUDITOR: frozenset({Permission.AUDIT, Permission.QUALITY}),
}


class Forbidden(AlmacenError, PermissionError):
    """The user asked for something their role or branch scope does not cover; the message says what."""


@dataclass(frozen=True)
class Scope:
    """The branches a user's numbers are cut to; `branches=None` means every branch."""

    branches: frozenset[str] | None

    def restrict(self, requested: Iterable[str] | None) -> list[str] | None:
        """The branches a query may read: the requested ones, each checked, or the whole scope.

        Returns None for "no branch restriction" (only for an unrestricted scope with nothing requested).
        """
        requested = sorted(set(requested or ()))
        if self.branches is None:
            return requested or None
        outside = [b for b in requested if b not in self.branches]
        if outside:
            raise Forbidden(f"branch {', '.join(outside)} is outside your scope ({', '.join(sorted(self.branches))})")
        return requested or sorted(self.branches)


def scope_of(role: Role, branches: Iterable[str]) -> Scope:
    """A branch manager sees the branches assigned; every other role all of them (an auditor's role
    keeps sales pages out of reach; its quality pages cover every branch)."""
    if role is Role.BRANCH_MANAGER:
        return Scope(frozenset(branches))
    return Scope(None)


def require(role: Role, permission: Permission) -> None:
    """Raise Forbidden unless `role` holds `permission`."""
    if permission not in GRANTS[role]:
        raise Forbidden(f"the {role} role cannot access {permission}")
