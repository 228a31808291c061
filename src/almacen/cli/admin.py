"""`almacen users …` and `almacen audit …`: users, API tokens and the audit log from the shell.

Every change made here is audited with the actor `cli:<os user>`; pipeline commands append their
`pipeline.run` entry through `audit_run`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pyarrow.compute as pc
import typer
from rich.table import Table

from almacen.config import Settings, load_config
from almacen.errors import AlmacenError, NotFound, UsageError
from almacen.lake import Lake
from almacen.monitor import RunRecord
from almacen.security import AuditLog, Role, Tokens, Users, audit_log
from almacen.security.sessions import Sessions
from almacen.security.users import check_new_user
from almacen.terminal import ConfigOpt, cli_actor, console, friendly

users_app = typer.Typer(help="Users of the dashboard and API, their roles and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log: show it, verify its hash chain.", no_args_is_help=True)

BranchesOpt = Annotated[
    list[str] | None, typer.Option("--branch", "-b", help="a branch a branch_manager sees (repeatable)")
]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")]
ROLES = ", ".join(r.value for r in Role)


def run_totals(records: list[RunRecord]) -> dict[str, object]:
    """What an extraction did, summed over its run records, for its audit entry."""
    return {
        "slices": len(records),
        "failed": sum(r.status != "ok" for r in records),
        "branches": sorted({r.branch_id for r in records if r.branch_id}),
        "rows_read": sum(r.rows_read for r in records),
        "rows_written": sum(r.rows_written for r in records),
        "rows_quarantined": sum(r.rows_quarantined for r in records),
    }


def _open(config: Path | None) -> tuple[Settings, Users, AuditLog]:
    settings = load_config(config)
    lake = Lake(settings.lake)
    return settings, Users(lake), audit_log(settings)


def _known_branches(settings: Settings, branches: Iterable[str]) -> list[str]:
    """The branches given, each checked against the configured branch ids."""
    known = [b.id for b in settings.branches]
    unknown = [b for b in branches if b not in known]
    if unknown:
        raise UsageError(
            f"branch {', '.join(unknown)} is not in the configuration (known: {', '.join(known) or 'none'})"
        )
    return list(branches)


def _password(username: str, from_stdin: bool) -> str:
    if from_stdin:
        return typer.get_text_stream("stdin").readline().rstrip("\r\n")
    return typer.prompt(f"password for {username}", hide_input=True, confirmation_prompt=True)


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


@users_app.command("add")
@friendly
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help=ROLES)],
    branch: BranchesOpt = None,
    password_stdin: StdinOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Create a user (the password is asked twice, hidden, unless --password-stdin)."""
    settings, users, audit = _open(config)
    check_new_user(name, role, _known_branches(settings, branch or []))
    if users.get(name) is not None:
        raise UsageError(f"user {name} already exists")
    user = users.add(name, _password(name, password_stdin), role, branch or [])
    audit.record(cli_actor(), "user.add", name, {"role": user.role.value, "branches": list(user.branches)})
    console.print(f"added {name} ({user.role}{': ' + ', '.join(user.branches) if user.branches else ''})")


@users_app.command("remove")
@friendly
def users_remove(name: str, config: ConfigOpt = None) -> None:
    """Delete a user; their sessions and API tokens stop working."""
    settings, users, audit = _open(config)
    users.remove(name)
    ended = Sessions(Lake(settings.lake)).end_user(name, "user removed")
    audit.record(cli_actor(), "user.remove", name, {"sessions_ended": ended})
    console.print(f"removed {name}")


@users_app.command("set-role")
@friendly
def users_set_role(
    name: str, role: Annotated[str, typer.Argument(help=ROLES)], branch: BranchesOpt = None, config: ConfigOpt = None
) -> None:
    """Change a user's role (and a branch manager's branches); their open sessions end."""
    settings, users, audit = _open(config)
    user = users.set_role(name, role, _known_branches(settings, branch) if branch else None)
    ended = Sessions(Lake(settings.lake)).end_user(name, "role changed")
    audit.record(
        cli_actor(),
        "user.set_role",
        name,
        {"role": user.role.value, "branches": list(user.branches), "sessions_ended": ended},
    )
    console.print(f"{name} is now {user.role}{': ' + ', '.join(user.branches) if user.branches else ''}")


@users_app.command("reset-password")
@friendly
def users_reset_password(
    name: str,
    password_stdin: StdinOpt = False,
    keep_tokens: Annotated[
        bool,
        typer.Option("--keep-tokens", help="leave the user's API tokens working (by default a reset revokes them all)"),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Set a new password; the user's open sessions end and their API tokens are revoked (unless --keep-tokens)."""
    settings, users, audit = _open(config)
    if users.get(name) is None:
        raise NotFound(f"no user {name!r}")
    users.reset_password(name, _password(name, password_stdin))
    ended = Sessions(Lake(settings.lake)).end_user(name, "password reset")
    audit.record(cli_actor(), "user.reset_password", name, {"keep_tokens": keep_tokens, "sessions_ended": ended})
    revoked = [] if keep_tokens else Tokens(Lake(settings.lake), users).revoke_all(name)
    for token_id in revoked:
        audit.record(cli_actor(), "token.revoke", token_id, {"user": name, "reason": "password reset"})
    kept = "API tokens kept" if keep_tokens else f"{len(revoked)} API token{'' if len(revoked) == 1 else 's'} revoked"
    console.print(f"password of {name} reset; {kept}")


@users_app.command("logout")
@friendly
def users_logout(
    name: Annotated[str | None, typer.Argument(help="the user whose sessions end")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="end every user's sessions (log out everywhere)")] = False,
    config: ConfigOpt = None,
) -> None:
    """End a user's dashboard sessions at once (or everyone's with --all): copies of their cookies stop working."""
    if (name is None) == (not everyone):
        raise UsageError("say whose sessions end: a username, or --all for everyone (not both)")
    settings, users, audit = _open(config)
    sessions = Sessions(Lake(settings.lake))
    if everyone:
        target = "*"
        ended = sessions.end_all("admin: everyone logged out")
    else:
        assert name is not None  # checked above: without --all, a username is given
        target = name
        if users.get(name) is None:
            raise NotFound(f"no user {name!r}")
        ended = sessions.end_user(name, "admin: logged out")
    audit.record(cli_actor(), "user.logout", target, {"sessions_ended": ended})
    console.print(f"{ended} session{'' if ended == 1 else 's'} ended")


@users_app.command("list")
@friendly
def users_list(config: ConfigOpt = None) -> None:
    """Every user with role, branches and when their role or password last changed."""
    _, users, _ = _open(config)
    table = Table(title="users", title_justify="left")
    for col in ("user", "role", "branches", "changed (UTC)"):
        table.add_column(col)
    for u in users.list():
        table.add_row(u.username, u.role.value, ", ".join(u.branches) or "all", _when(u.changed_at))
    console.print(table)


@users_app.command("token")
@friendly
def users_token(
    name: str,
    label: Annotated[str, typer.Option("--name", help="what the token is for, e.g. tableau")],
    days: Annotated[
        int | None, typer.Option("--days", help="days until it expires (default: [serve] token_days, 90)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create an API token for a user and print its secret (shown this once only); it expires after --days."""
    settings, users, audit = _open(config)
    days = settings.serve.token_days if days is None else days
    tokens = Tokens(Lake(settings.lake), users)
    token_id, secret = tokens.create(name, label, days=days)
    expires = tokens.list(name).filter(pc.equal(pc.field("token_id"), token_id))["expires_at"][0].as_py()
    audit.record(cli_actor(), "token.create", name, {"token_id": token_id, "name": label, "days": days})
    console.print(
        f"token {token_id} for {name} ({label}), expires {_when(expires)}; "
        "send it as `Authorization: Bearer <secret>`.\nThe secret is shown only now:"
    )
    console.print(secret, highlight=False, soft_wrap=True)


@users_app.command("tokens")
@friendly
def users_tokens(
    name: Annotated[str | None, typer.Argument(help="only this user's tokens")] = None, config: ConfigOpt = None
) -> None:
    """API tokens (never their secrets), with who holds them, when they expire and whether they are revoked."""
    settings, users, _ = _open(config)
    tokens = Tokens(Lake(settings.lake), users)
    now = tokens.clock()
    table = Table(title="API tokens", title_justify="left")
    for col in ("id", "user", "name", "created (UTC)", "expires (UTC)", "revoked (UTC)"):
        table.add_column(col, no_wrap=col == "id")  # an id is copied into revoke-token: never broken
    for t in tokens.list(name).to_pylist():
        expires = _when(t["expires_at"]) + (" (expired)" if t["expires_at"] <= now else "")
        table.add_row(t["token_id"], t["username"], t["name"], _when(t["created_at"]), expires, _when(t["revoked_at"]))
    console.print(table)


@users_app.command("revoke-token")
@friendly
def users_revoke_token(token_id: str, config: ConfigOpt = None) -> None:
    """Revoke an API token: programs using it get 401 from their next request."""
    settings, users, audit = _open(config)
    Tokens(Lake(settings.lake), users).revoke(token_id)
    audit.record(cli_actor(), "token.revoke", token_id)
    console.print(f"token {token_id} revoked")


@audit_app.command("verify")
@friendly
def audit_verify(config: ConfigOpt = None) -> None:
    """Check the MAC chain against its anchor: exit 0 with the entry count, or exit 1 naming the first tampered
    or missing entry (needs the audit key, ALMACEN_AUDIT_KEY)."""
    settings = load_config(config)
    check = audit_log(settings).verify()
    if not check.ok:
        raise AlmacenError(f"audit log fails at entry {check.first_bad_seq}: {check.problem}")
    anchored = f"; anchored at entry {check.anchored_seq} ({_when(check.anchored_at)})" if check.anchored_seq else ""
    console.print(
        f"audit log OK: {check.entries} entries; last hash {check.last_hash}{anchored}", highlight=False, soft_wrap=True
    )


@audit_app.command("show")
@friendly
def audit_show(
    last: Annotated[int, typer.Option(help="how many entries, newest first")] = 50,
    actor: Annotated[str | None, typer.Option(help="only this actor, e.g. ana or cli:root")] = None,
    action: Annotated[str | None, typer.Option(help="only this action, e.g. login.failed")] = None,
    config: ConfigOpt = None,
) -> None:
    """The latest audit entries: when, who, what, on what, with which details."""
    settings = load_config(config)
    rows = audit_log(settings).entries(limit=last, actor=actor, action=action)
    table = Table(title="audit log (newest first)", title_justify="left")
    for col in ("seq", "at (UTC)", "actor", "action", "target", "details"):
        table.add_column(col, justify="right" if col == "seq" else "left", overflow="fold")
    for r in rows.to_pylist():
        table.add_row(str(r["seq"]), _when(r["at"]), r["actor"], r["action"], r["target"], r["details"])
    console.print(table)
