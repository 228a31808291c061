"""Personal data protection (keyed pseudonyms), roles and branch scopes, users, API tokens and the audit log."""

from almacen.security.pseudonym import pseudonym, pseudonymise
from almacen.security.roles import GRANTS, Forbidden, Permission, Role, Scope, require, scope_of

__all__ = ["GRANTS", "Forbidden", "Permission", "Role", "Scope", "pseudonym", "pseudonymise", "require", "scope_of"]
