"""Personal data protection: keyed pseudonyms (users, roles and audit come with serving)."""

from almacen.security.pseudonym import pseudonym, pseudonymise

__all__ = ["pseudonym", "pseudonymise"]
