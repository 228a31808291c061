"""The one root of almacen's errors, and the kinds a caller tells apart.

An `AlmacenError` is a failure a user can cause and fix (a bad option or config, a missing table, an
unreachable source, a malformed input): its message names what failed and where, the CLI prints it as
one line and exits 1, and it leaves the lake as it was. Anything else that escapes is a bug: the CLI
prints its traceback and exits with `BUG_EXIT`, the server answers 500 and logs it.

The subclasses also derive from the builtin a Python caller would expect (`ValueError`, `LookupError`,
`RuntimeError`, `PermissionError`), so `except ValueError` keeps working; but nothing in almacen sorts
errors by those builtins: a stray `KeyError` from a bug is a bug, not a user's mistake.
"""

from __future__ import annotations

BUG_EXIT = 70
"""the CLI's exit code for an error that is not an AlmacenError (EX_SOFTWARE of sysexits.h)"""


class AlmacenError(Exception):
    """A failure the user can fix; its message says what failed and where."""


class UsageError(AlmacenError, ValueError):
    """A command, option or parameter given a value it does not accept."""


class NotFound(AlmacenError, LookupError):
    """Something asked for by name that does not exist (a table not built yet, an unknown invoice).
    The server answers these, and only these, with 404."""


class Unavailable(AlmacenError, RuntimeError):
    """A part almacen depends on could not be reached or refused (a branch database, a broker)."""
