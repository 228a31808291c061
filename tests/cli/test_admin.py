"""`almacen users …` and `almacen audit …`: every change audited as cli:<os user>; verify names the first bad entry."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from almacen.cli import app
from almacen.cli.admin import cli_actor
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
    result = _run(cfg, "users", "add", "ana", "--role", "branch_manager", "--branch", "palermo", "--password-stdin",
                  input="palermo-2026!\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "added ana (branch_manager: palermo)"
    assert Users(lake).authenticate("ana", "palermo-2026!").branches == ("palermo",)
    assert _audit(lake) == [(cli_actor(), "user.add", "ana", {"branches": ["palermo"], "role": "branch_manager"})]


def test_users_add_prompts_twice_for_the_password(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "beto", "--role", "analyst", input="analyst-pass-1\nanalyst-pass-1\n")
    assert result.exit_code == 0, result.output
    assert "analyst-pass-1" not in result.output
    assert Users(lake).authenticate("beto", "analyst-pass-1") is not None


def test_an_unknown_branch_is_one_line_naming_it(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "ana", "--role", "branch_manager", "--branch", "mordor", "--password-stdin",
                  input="palermo-2026!\n")
    assert result.exit_code == 1
    assert result.output.strip() == ("error: branch mordor is not in the configuration "
                                     "(known: palermo, cordoba_centro)")
    assert Users(lake).list() == [] and AuditLog(lake).entries().num_rows == 0


def test_a_short_password_is_one_line_and_adds_nobody(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "ana", "--role", "analyst", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert result.output.strip() == "error: password for user ana is too short: at least 10 characters"
    assert Users(lake).list() == []


def test_set_role_reset_password_and_remove_are_each_audited(cfg: Path, lake: Lake):
    _run(cfg, "users", "add", "ana", "--role", "analyst", "--password-stdin", input="first-pass-1\n")
    assert _run(cfg, "users", "set-role", "ana", "branch_manager", "--branch", "cordoba_centro").exit_code == 0
    assert Users(lake).get("ana").branches == ("cordoba_centro",)
    assert _run(cfg, "users", "reset-password", "ana", "--password-stdin", input="second-pass-2\n").exit_code == 0
    assert Users(lake).authenticate("ana", "second-pass-2") is not None
    assert _run(cfg, "users", "remove", "ana").exit_code == 0
    assert Users(lake).get("ana") is None
    me = cli_actor()
    assert _audit(lake) == [
        (me, "user.add", "ana", {"branches": [], "role": "analyst"}),
        (me, "user.set_role", "ana", {"branches": ["cordoba_centro"], "role": "branch_manager"}),
        (me, "user.reset_password", "ana", {}),
        (me, "user.remove", "ana", {}),
    ]


def test_changing_an_unknown_user_is_one_line(cfg: Path):
    result = _run(cfg, "users", "remove", "ghost")
    assert result.exit_code == 1
    assert result.output.startswith("error: no user 'ghost' in ")


def test_users_list_shows_roles_and_branches(cfg: Path, lake: Lake):
    users = Users(lake)
    users.add("ana", "0123456789", Role.BRANCH_MANAGER, ["palermo"])
    users.add("zoe", "0123456789", Role.AUDITOR)
    result = _run(cfg, "users", "list")
    lines = [line.split() for line in result.output.splitlines() if line.startswith(("│ ana", "│ zoe"))]
    assert [line[1:6:2] for line in lines] == [["ana", "branch_manager", "palermo"], ["zoe", "auditor", "all"]]


def test_a_token_secret_is_printed_once_works_and_is_revocable(cfg: Path, lake: Lake):
    Users(lake).add("ana", "0123456789", Role.ANALYST)
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
        ("token.create", "ana", {"name": "tableau", "token_id": token_id}), ("token.revoke", token_id, {})]
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
    assert runner.invoke(app, ["simulate", "--day", "2026-11-23", "--until", "2026-11-23T15", "--scale", "0.05",
                               "-c", str(cfg)]).exit_code == 0
    assert _run(cfg, "extract", "--hour", "2026-11-23T14").exit_code == 0
    runs = lake.read("_system.runs").to_pylist()
    [(actor, action, target, details)] = _audit(lake)
    assert (actor, action, target) == (cli_actor(), "pipeline.run", "extract")
    assert details == {
        "slices": 2, "failed": 0, "branches": ["cordoba_centro", "palermo"],
        "rows_read": sum(r["rows_read"] for r in runs), "rows_written": sum(r["rows_written"] for r in runs),
        "rows_quarantined": sum(r["rows_quarantined"] for r in runs),
    }
    assert AuditLog(lake).verify().ok


def test_an_unknown_role_is_refused_before_the_password_is_asked(cfg: Path, lake: Lake):
    result = _run(cfg, "users", "add", "ana", "--role", "boss")
    assert result.exit_code == 1
    assert result.output.strip() == "error: unknown role 'boss'; roles: admin, analyst, branch_manager, auditor"


def test_a_stream_run_appends_its_pipeline_run_when_it_ends(cfg: Path, lake: Lake):
    assert runner.invoke(app, ["simulate", "stream", "--rate", "200/s", "--duration", "0.5",
                               "-c", str(cfg)]).exit_code == 0
    result = _run(cfg, "stream", "--until-idle")
    assert result.exit_code == 0, result.output
    [(actor, action, target, details)] = _audit(lake)
    assert (actor, action, target) == (cli_actor(), "pipeline.run", "stream")
    assert sorted(details) == ["batches", "late", "quarantined", "read", "written"]
    assert details["read"] == details["written"] + details["quarantined"] > 0
