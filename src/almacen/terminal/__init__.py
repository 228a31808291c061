"""What every `almacen` command shares: the consoles, the common options, hour parsing, the progress bar,
and `friendly`, which turns a user's mistake into one line and a bug into a traceback.

A core module (it imports no `almacen.cli`, domain or simulator), so a domain's CLI sub-app uses the
same pieces as the core's commands without importing the CLI package.
"""

from __future__ import annotations

import functools
import getpass
import os
import signal
import threading
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from almacen.clock import hour_start
from almacen.config import Settings
from almacen.errors import BUG_EXIT, AlmacenError, UsageError
from almacen.security import audit_log

console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="almacen.toml (default $ALMACEN_CONFIG or ./almacen.toml)")
]
BranchOpt = Annotated[list[str] | None, typer.Option("--branch", "-b", help="only this branch (repeatable)")]

P = ParamSpec("P")
R = TypeVar("R")


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so that an `AlmacenError` (the user's to fix), or an `OSError` (the system refused a
    folder, file, port or certificate the user named: its message names it), ends in one red line on stderr
    and exit code 1, and anything else (a bug) prints its traceback, says it is a bug, and exits with `BUG_EXIT`.

    Click's own exits and usage errors (`typer.Exit`, `typer.Abort`, a bad parameter) pass through, and so
    does Ctrl-C (`KeyboardInterrupt` is no `Exception`: Click answers it with "Aborted!")."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # Click's exits and its usage errors
            raise
        except (AlmacenError, OSError) as exc:  # an OSError: the system refused a path, port or file the user gave
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # noqa: BLE001 - not the user's mistake: shown whole, so it can be reported
            traceback.print_exception(exc, file=sys.stderr)
            err.print(
                f"[bold red]bug:[/] almacen failed with {type(exc).__name__}, which is a bug in almacen, not "
                "a mistake of yours: please report it with the traceback above",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(BUG_EXIT) from None

    return wrapper


def parse_hour(text: str) -> datetime:
    """`2026-11-23T14` (UTC unless an offset is given) -> the start of that hour, in UTC."""
    try:
        value = datetime.fromisoformat(text if len(text) > 13 else text + ":00")
    except ValueError:
        raise UsageError(f"--hour/--since/--until: {text!r} is not an hour like 2026-11-23T14") from None
    return hour_start(value)


def parse_day(text: str, option: str = "--day") -> date:
    """`2026-11-23` -> that date; a UsageError naming `option` otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date like 2026-11-23") from None


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time such as `2026-11-23T14:05` (naive: as given) -> that datetime; a UsageError naming
    `option` otherwise."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a time like 2026-11-23T14:05") from None


def progress() -> Progress:
    """The progress bar of long commands (description, bar, done/total, elapsed), gone when it ends."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def cli_actor() -> str:
    """`cli:<os user>`: who ran the command, as the audit log names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (some containers): the numeric uid still identifies
        return f"cli:uid{os.getuid()}"


def audit_run(settings: Settings, job: str, **counts: object) -> None:
    """Append the `pipeline.run` entry of a finished CLI job with what it counted."""
    audit_log(settings).record(cli_actor(), "pipeline.run", job, counts)


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, so the loops finish their batch and write their run record."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
