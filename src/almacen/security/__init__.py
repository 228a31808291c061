"""Personal data protection (keyed pseudonyms), roles and branch scopes, users, API tokens and the audit log."""

from almacen.security.audit import AuditCheck, AuditLog, audit_log
from almacen.security.audit_entry import ACTIONS
from almacen.security.guard import Locked, LoginGuard
from almacen.security.pseudonym import pseudonym, pseudonymise
from almacen.security.roles import GRANTS, Forbidden, Permission, Role, Scope, require, scope_of
from almacen.security.tokens import Tokens
from almacen.security.users import User, Users

__all__ = [
    "ACTIONS",
    "GRANTS",
    "AuditCheck",
    "AuditLog",
    "Forbidden",
    "Locked",
    "LoginGuard",
    "Permission",
    "Role",
    "Scope",
    "Tokens",
    "User",
    "Users",
    "audit_log",
    "pseudonym",
    "pseudonymise",
    "require",
    "scope_of",
]
