"""`almacen users …` and `almacen audit …`: every change audited as cli:<os user>; verify names the first bad entry."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from almacen.cli import app
from almacen.terminal import cli_actor
from almacen.lake import Lake
from almacen.security import AuditLog, Role, Tokens, Users
from almacen.simulate import demo_config

runner = CliRunner()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return demo_config(tmp_path, branches=2)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lakehouse"))


def _run(cfg: Path, *args: str, input: str | None = None):
    return runner.invoke(app, [*args, "-c", str(cfg)], input=input)


def _audit(lake: Lake) -> list[tuple[str, str, str, dict]]:
    rows = AuditLog(lake).entries().to_pylist()[::-1]
    return [(r["actor"], r["action"], r["target"], json.loads(r["details"])) for r in rows]


def test_users_add_with_password_on_stdin_creates_and_audits(cfg: Path, lake: Lake):
    result = _run(
        cfg,
        "users",
        "add",
        "ana",
        "--role",
        "branch_manager",
        "--branch",
        "palermo",
        "--password-stdin",
        input="paseo-por-palermo-2026!\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "added ana (branch_manager: palermo)"
    assert Users(lake).authenticate("ana", "paseo-por-palermo-2026!").branches == ("palermo",)
    assert _audit(lake) == [(cli_actor(), "user.add", "ana", {"branches": ["palermo"], "role": "branch_manager"})]


def test_users_add_prompts_twice_for_the_password(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "beto", "--role", "analyst", input="analista-clave-1\nanalista-clave-1\n")
    assert result.exit_code == 0, result.output
    assert "analista-clave-1" not in result.output
    assert Users(lake).authenticate("beto", "analista-clave-1") is not None


def test_an_unknown_branch_is_one_line_naming_it(cfg: Path, lake: Lake):
    result = _run(
        cfg,
        "users",
        "add",
        "ana",
        "--role",
        "branch_manager",
        "--branch",
        "mordor",
        "--password-stdin",
        input="paseo-por-palermo-2026!\n",
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: branch mordor is not in the configuration (known: palermo, cordoba_centro)"
    )
    assert Users(lake).list() == [] and AuditLog(lake).entries().num_rows == 0


def test_a_short_password_is_one_line_and_adds_nobody(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "ana", "--role", "analyst", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: password for user ana refused: it is too short (5 characters, at least 15)"
    )
    assert Users(lake).list() == []


def test_set_role_reset_password_and_remove_are_each_audited(cfg: Path, lake: Lake):
    _run(cfg, "users", "add", "ana", "--role", "analyst", "--password-stdin", input="primera-clave-larga-1\n")
    assert _run(cfg, "users", "set-role", "ana", "branch_manager", "--branch", "cordoba_centro").exit_code == 0
    assert Users(lake).get("ana").branches == ("cordoba_centro",)
    assert (
        _run(cfg, "users", "reset-password", "ana", "--password-stdin", input="segunda-clave-larga-2\n").exit_code == 0
    )
    assert Users(lake).authenticate("ana", "segunda-clave-larga-2") is not None
    assert _run(cfg, "users", "remove", "ana").exit_code == 0
    assert Users(lake).get("ana") is None
    me = cli_actor()
    assert _audit(lake) == [
        (me, "user.add", "ana", {"branches": [], "role": "analyst"}),
        (me, "user.set_role", "ana", {"branches": ["cordoba_centro"], "role": "branch_manager", "sessions_ended": 0}),
        (me, "user.reset_password", "ana", {"keep_tokens": False, "sessions_ended": 0}),
        (me, "user.remove", "ana", {"sessions_ended": 0}),
    ]


def test_logout_ends_a_users_sessions_and_all_ends_everyones(cfg: Path, lake: Lake):
    from datetime import timedelta

    from almacen.security.sessions import Sessions

    for name in ("ana", "beto"):
        _run(cfg, "users", "add", name, "--role", "analyst", "--password-stdin", input="primera-clave-larga-1\n")
    sessions = Sessions(lake)
    opened = {name: [sessions.open(name, timedelta(hours=8))[0] for _ in range(2)] for name in ("ana", "beto")}
    result = _run(cfg, "users", "logout", "ana")
    assert (result.exit_code, result.output.strip()) == (0, "2 sessions ended")
    assert [sessions.get(s) for s in opened["ana"]] == [None, None]
    assert all(sessions.get(s) is not None for s in opened["beto"])
    assert _run(cfg, "users", "logout", "--all").output.strip() == "2 sessions ended"
    assert sessions.live() == []
    me = cli_actor()
    assert _audit(lake)[-2:] == [
        (me, "user.logout", "ana", {"sessions_ended": 2}),
        (me, "user.logout", "*", {"sessions_ended": 2}),
    ]


def test_a_password_reset_ends_the_users_open_sessions(cfg: Path, lake: Lake):
    from datetime import timedelta

    from almacen.security.sessions import Sessions

    _run(cfg, "users", "add", "ana", "--role", "analyst", "--password-stdin", input="primera-clave-larga-1\n")
    session_id, _ = Sessions(lake).open("ana", timedelta(hours=8))
    assert (
        _run(cfg, "users", "reset-password", "ana", "--password-stdin", input="segunda-clave-larga-2\n").exit_code == 0
    )
    assert Sessions(lake).get(session_id) is None


def test_logout_wants_a_user_or_all_but_not_both(cfg: Path):
    for args in ((), ("ana", "--all")):
        result = _run(cfg, "users", "logout", *args)
        assert result.exit_code == 1
        assert result.output.strip() == "error: say whose sessions end: a username, or --all for everyone (not both)"


def test_changing_an_unknown_user_is_one_line(cfg: Path):
    result = _run(cfg, "users", "remove", "ghost")
    assert result.exit_code == 1
    assert result.output.startswith("error: no user 'ghost' in ")


def test_users_list_shows_roles_and_branches(cfg: Path, lake: Lake):
    users = Users(lake)
    users.add("ana", "una-clave-larga-1", Role.BRANCH_MANAGER, ["palermo"])
    users.add("zoe", "una-clave-larga-1", Role.AUDITOR)
    result = _run(cfg, "users", "list")
    lines = [line.split() for line in result.output.splitlines() if line.startswith(("│ ana", "│ zoe"))]
    assert [line[1:6:2] for line in lines] == [["ana", "branch_manager", "palermo"], ["zoe", "auditor", "all"]]


def test_a_token_secret_is_printed_once_works_and_is_revocable(cfg: Path, lake: Lake):
    Users(lake).add("ana", "una-clave-larga-1", Role.ANALYST)
    result = _run(cfg, "users", "token", "ana", "--name", "tableau")
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    tokens = Tokens(lake, Users(lake))
    assert tokens.user_for(secret).username == "ana"
    token_id = tokens.list()["token_id"][0].as_py()
    listing = _run(cfg, "users", "tokens", "ana").output
    assert token_id in listing and secret not in listing and "tableau" in listing
    assert _run(cfg, "users", "revoke-token", token_id).output.strip() == f"token {token_id} revoked"
    assert tokens.user_for(secret) is None
    assert [(a, t, d) for _, a, t, d in _audit(lake)] == [
        ("token.create", "ana", {"days": 90, "name": "tableau", "token_id": token_id}),
        ("token.revoke", token_id, {}),
    ]
    assert all(secret not in r for r in AuditLog(lake).entries()["details"].to_pylist())


def test_audit_verify_counts_an_intact_log(cfg: Path, lake: Lake):
    log = AuditLog(lake)
    for _ in range(3):
        log.record("ana", "login.ok", "ana")
    result = _run(cfg, "audit", "verify")
    assert result.exit_code == 0
    assert result.output.startswith("audit log OK: 3 entries; last hash ")


def test_audit_verify_names_the_tampered_entry_in_one_line(cfg: Path, lake: Lake):
    log = AuditLog(lake)
    for _ in range(3):
        log.record("ana", "login.ok", "ana")
    table = lake.read("_system.audit")
    rows = [{**r, "target": "beto"} if r["seq"] == 2 else r for r in table.to_pylist()]
    lake.overwrite("_system.audit", pa.Table.from_pylist(rows, schema=table.schema))
    result = _run(cfg, "audit", "verify")
    assert result.exit_code == 1
    assert result.output.strip() == "error: audit log fails at entry 2: its hash does not match its contents (altered)"


def test_audit_show_filters_by_actor_and_action(cfg: Path, lake: Lake):
    log = AuditLog(lake)
    log.record("ana", "login.ok", "ana")
    log.record("beto", "login.failed", "beto")
    log.record("ana", "export", "sales.csv")
    result = _run(cfg, "audit", "show", "--actor", "ana", "--action", "export")
    assert result.exit_code == 0
    assert "sales.csv" in result.output and "login" not in result.output


def test_an_extraction_appends_one_pipeline_run_with_its_counts(cfg: Path, lake: Lake):
    assert (
        runner.invoke(
            app, ["simulate", "--day", "2026-11-23", "--until", "2026-11-23T15", "--scale", "0.05", "-c", str(cfg)]
        ).exit_code
        == 0
    )
    assert _run(cfg, "extract", "--hour", "2026-11-23T14").exit_code == 0
    runs = lake.read("_system.runs").to_pylist()
    [(actor, action, target, details)] = _audit(lake)
    assert (actor, action, target) == (cli_actor(), "pipeline.run", "extract")
    assert details == {
        "slices": 2,
        "failed": 0,
        "branches": ["cordoba_centro", "palermo"],
        "rows_read": sum(r["rows_read"] for r in runs),
        "rows_written": sum(r["rows_written"] for r in runs),
        "rows_quarantined": sum(r["rows_quarantined"] for r in runs),
    }
    assert AuditLog(lake).verify().ok


def test_an_unknown_role_is_refused_before_the_password_is_asked(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "ana", "--role", "boss")
    assert result.exit_code == 1
    assert result.output.strip() == "error: unknown role 'boss'; roles: admin, analyst, branch_manager, auditor"


def test_a_stream_run_appends_its_pipeline_run_when_it_ends(cfg: Path, lake: Lake):
    assert (
        runner.invoke(app, ["simulate", "stream", "--rate", "200/s", "--duration", "0.5", "-c", str(cfg)]).exit_code
        == 0
    )
    result = _run(cfg, "stream", "--until-idle")
    assert result.exit_code == 0, result.output
    [(actor, action, target, details)] = _audit(lake)
    assert (actor, action, target) == (cli_actor(), "pipeline.run", "stream")
    assert sorted(details) == ["batches", "late", "quarantined", "read", "written"]
    assert details["read"] == details["written"] + details["quarantined"] > 0


def _token(cfg: Path, user: str, *extra: str) -> str:
    result = _run(cfg, "users", "token", user, "--name", "script", *extra)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_a_token_lasts_serve_token_days_unless_days_is_given(cfg: Path, lake: Lake):
    with cfg.open("a") as toml:
        toml.write("\n[serve]\ntoken_days = 30\n")
    Users(lake).add("ana", "una-clave-larga-1", Role.ANALYST)
    result = _run(cfg, "users", "token", "ana", "--name", "tableau")
    assert result.exit_code == 0 and ", expires 20" in result.output
    _token(cfg, "ana", "--days", "7")
    rows = Tokens(lake, Users(lake)).list().to_pylist()
    assert [r["expires_at"] - r["created_at"] for r in rows] == [timedelta(days=30), timedelta(days=7)]
    assert [d["days"] for _, action, _, d in _audit(lake) if action == "token.create"] == [30, 7]
    refused = _run(cfg, "users", "token", "ana", "--name", "forever", "--days", "0")
    assert refused.exit_code == 1
    assert refused.output.strip() == "error: token for user ana: it lasts 1 to 3650 days, not 0 (--days)"


def test_users_tokens_shows_when_each_token_expires(cfg: Path, lake: Lake):
    users = Users(lake)
    users.add("ana", "una-clave-larga-1", Role.ANALYST)
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2)
    stale, _ = Tokens(lake, users, clock=lambda: two_days_ago).create("ana", "stale", days=1)
    fresh, _ = Tokens(lake, users).create("ana", "fresh", days=7)
    expiry = {r["token_id"]: r["expires_at"] for r in Tokens(lake, users).list().to_pylist()}
    result = _run(cfg, "users", "tokens", "ana")
    assert result.exit_code == 0, result.output
    rows: dict[str, str] = {}  # token id -> its row's lines (narrow terminals wrap the dates)
    for line in result.output.splitlines():
        if line.startswith("│ tok_"):
            rows[current := line.split()[1]] = ""
        if rows and line.startswith("│"):
            rows[current] += line
    assert sorted(rows) == sorted([stale, fresh])
    assert "(expired)" in rows[stale] and "(expired)" not in rows[fresh]
    assert "expires" in result.output
    for token_id, when in expiry.items():
        assert f"{when:%Y-%m-%d}" in rows[token_id]


def test_reset_password_revokes_the_users_api_tokens_and_audits_each(cfg: Path, lake: Lake):
    users = Users(lake)
    users.add("ana", "una-clave-larga-1", Role.ANALYST)
    users.add("beto", "una-clave-larga-1", Role.ANALYST)
    tokens = Tokens(lake, users)
    (first, first_secret), (second, second_secret) = tokens.create("ana", "tableau"), tokens.create("ana", "cron")
    _, beto_secret = tokens.create("beto", "powerbi")
    result = _run(cfg, "users", "reset-password", "ana", "--password-stdin", input="segunda-clave-larga-2\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "password of ana reset; 2 API tokens revoked"
    assert tokens.user_for(first_secret) is None and tokens.user_for(second_secret) is None
    assert tokens.user_for(beto_secret).username == "beto"
    me = cli_actor()
    assert _audit(lake) == [
        (me, "user.reset_password", "ana", {"keep_tokens": False, "sessions_ended": 0}),
        (me, "token.revoke", first, {"reason": "password reset", "user": "ana"}),
        (me, "token.revoke", second, {"reason": "password reset", "user": "ana"}),
    ]


def test_reset_password_keep_tokens_leaves_them_working(cfg: Path, lake: Lake):
    users = Users(lake)
    users.add("ana", "una-clave-larga-1", Role.ANALYST)
    _, secret = Tokens(lake, users).create("ana", "tableau")
    result = _run(
        cfg, "users", "reset-password", "ana", "--keep-tokens", "--password-stdin", input="segunda-clave-larga-2\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "password of ana reset; API tokens kept"
    assert Tokens(lake, Users(lake)).user_for(secret).username == "ana"
    assert Users(lake).authenticate("ana", "segunda-clave-larga-2") is not None
    assert _audit(lake) == [(cli_actor(), "user.reset_password", "ana", {"keep_tokens": True, "sessions_ended": 0})]


def test_a_refused_new_password_resets_nothing_and_revokes_nothing(cfg: Path, lake: Lake):
    users = Users(lake)
    users.add("ana", "una-clave-larga-1", Role.ANALYST)
    _, secret = Tokens(lake, users).create("ana", "tableau")
    result = _run(cfg, "users", "reset-password", "ana", "--password-stdin", input="123456789012345\n")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: password for user ana refused: it is mostly characters in sequence (like abcd…, 1234…, qwerty…)"
    )
    assert Tokens(lake, Users(lake)).user_for(secret) is not None
    assert Users(lake).authenticate("ana", "una-clave-larga-1") is not None
    assert AuditLog(lake).entries().num_rows == 0


def test_users_add_refuses_a_common_password_in_one_line(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "ana", "--role", "analyst", "--password-stdin", input="Friend Of Emily\n")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: password for user ana refused: "
        "it is a common password, or one with only digits, symbols or spaces added"
    )
    assert Users(lake).list() == []
