"""Users: validated on the way in, argon2 on the password, changes seen across processes at once."""

from __future__ import annotations

import time
import pytest
from argon2 import PasswordHasher

from almacen.lake import Lake
from almacen.security import Permission, Role, Scope, User, Users
from almacen.security.users import TABLE




@pytest.fixture
def users(lake: Lake, hasher: PasswordHasher) -> Users:
    return Users(lake, hasher=hasher)


def test_an_added_user_is_read_back_with_role_branches_and_scope(users: Users):
    added = users.add("ana", "palermo-2026!", "branch_manager", ["rosario", "palermo"])
    assert users.get("ana") == added
    assert (added.username, added.role, added.branches) == ("ana", Role.BRANCH_MANAGER, ("palermo", "rosario"))
    assert added.scope == Scope(frozenset({"palermo", "rosario"}))
    assert added.can(Permission.SALES) and not added.can(Permission.USERS)
    assert users.get("nobody") is None


def test_list_is_sorted_by_username(users: Users):
    users.add("zoe", "0123456789", Role.AUDITOR)
    users.add("ana", "0123456789", Role.ADMIN)
    assert [(u.username, u.role) for u in users.list()] == [("ana", Role.ADMIN), ("zoe", Role.AUDITOR)]


@pytest.mark.parametrize(("name", "password", "role", "branches", "message"), [
    ("Ana", "0123456789", "analyst", (), r"username 'Ana' must match \^\[a-z0-9\]"),
    ("a", "0123456789", "analyst", (), "username 'a' must match"),
    ("ana", "short", "analyst", (), "password for user ana is too short: at least 10 characters"),
    ("ana", "0123456789", "boss", (), "unknown role 'boss'; roles: admin, analyst, branch_manager, auditor"),
    ("ana", "0123456789", "branch_manager", (), "user ana: a branch_manager needs at least one branch"),
    ("ana", "0123456789", "analyst", ("palermo",), "user ana: the analyst role sees every branch"),
])
def test_unfit_users_are_refused_naming_why(users: Users, name, password, role, branches, message):
    with pytest.raises(ValueError, match=message):
        users.add(name, password, role, branches)
    assert users.list() == []


def test_a_duplicate_username_is_refused(users: Users):
    users.add("ana", "0123456789", "analyst")
    with pytest.raises(ValueError, match="user ana already exists"):
        users.add("ana", "9876543210", "admin")
    assert users.get("ana").role is Role.ANALYST


def test_changing_an_unknown_user_names_them(users: Users):
    for change in (lambda: users.remove("ghost"), lambda: users.set_role("ghost", "admin"),
                   lambda: users.reset_password("ghost", "0123456789")):
        with pytest.raises(LookupError, match="no user 'ghost'"):
            change()


def test_the_password_is_stored_only_as_an_argon2id_hash(users: Users, lake: Lake):
    users.add("ana", "palermo-2026!", "analyst")
    row = lake.read(TABLE).to_pylist()[0]
    assert row["password_hash"].startswith("$argon2id$")
    assert all("palermo-2026!" not in str(v) for v in row.values())


def test_authenticate_accepts_the_right_password_only(users: Users):
    ana = users.add("ana", "palermo-2026!", "analyst")
    assert users.authenticate("ana", "palermo-2026!") == ana
    assert users.authenticate("ana", "palermo-2027!") is None
    assert users.authenticate("nobody", "palermo-2026!") is None
    assert users.authenticate("", "") is None


def test_an_unknown_user_costs_about_as_long_as_a_wrong_password(lake: Lake):
    users = Users(lake)  # real parameters: the dummy hash must cost what a real one does
    users.add("ana", "palermo-2026!", "analyst")
    users.authenticate("ana", "warm-up-only")

    def cost(name: str) -> float:
        start = time.perf_counter()
        users.authenticate(name, "wrong-password")
        return time.perf_counter() - start
    known, unknown = min(cost("ana") for _ in range(3)), min(cost("nobody") for _ in range(3))
    assert 0.5 < unknown / known < 2.0


def test_a_hash_made_with_old_parameters_is_rehashed_at_login(lake: Lake, hasher: PasswordHasher):
    Users(lake, hasher=hasher).add("ana", "palermo-2026!", "analyst")
    before = lake.read(TABLE)["changed_at"][0].as_py()
    current = PasswordHasher()
    assert Users(lake, hasher=current).authenticate("ana", "palermo-2026!") is not None
    row = lake.read(TABLE).to_pylist()[0]
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert row["changed_at"] == before  # a rehash is not a password change: sessions stay valid
    assert Users(lake, hasher=hasher).authenticate("ana", "palermo-2026!") is not None


def test_a_role_change_bumps_changed_at_and_replaces_branches(users: Users):
    ana = users.add("ana", "0123456789", "branch_manager", ["palermo"])
    moved = users.set_role("ana", "branch_manager", ["rosario"])
    assert moved.changed_at > ana.changed_at and moved.branches == ("rosario",)
    promoted = users.set_role("ana", Role.ANALYST)
    assert (promoted.role, promoted.branches, promoted.scope) == (Role.ANALYST, (), Scope(None))
    assert promoted.changed_at > moved.changed_at
    assert users.get("ana") == promoted


def test_set_role_without_branches_keeps_a_branch_managers_branches(users: Users):
    users.add("ana", "0123456789", "branch_manager", ["palermo"])
    assert users.set_role("ana", "branch_manager").branches == ("palermo",)


def test_making_an_analyst_a_branch_manager_needs_branches(users: Users):
    users.add("beto", "0123456789", "analyst")
    with pytest.raises(ValueError, match="user beto: a branch_manager needs at least one branch"):
        users.set_role("beto", "branch_manager")
    assert users.set_role("beto", "branch_manager", ["rosario"]).branches == ("rosario",)


def test_a_password_reset_bumps_changed_at_and_only_the_new_password_works(users: Users):
    ana = users.add("ana", "old-password-1", "analyst")
    reset = users.reset_password("ana", "new-password-2")
    assert reset.changed_at > ana.changed_at and reset.role is Role.ANALYST
    assert users.authenticate("ana", "old-password-1") is None
    assert users.authenticate("ana", "new-password-2") == reset


def test_a_removed_user_is_gone_and_cannot_log_in(users: Users):
    users.add("ana", "0123456789", "analyst")
    users.add("beto", "0123456789", "auditor")
    users.remove("ana")
    assert [u.username for u in users.list()] == ["beto"]
    assert users.authenticate("ana", "0123456789") is None


def test_a_change_made_elsewhere_is_seen_by_the_next_get(lake: Lake, hasher: PasswordHasher):
    server, cli = Users(lake, hasher=hasher), Users(lake, hasher=hasher)
    cli.add("ana", "0123456789", "analyst")
    assert server.get("ana").role is Role.ANALYST  # cached from here on
    cli.set_role("ana", "auditor")
    assert server.get("ana").role is Role.AUDITOR
    cli.remove("ana")
    assert server.get("ana") is None


def test_the_table_holds_one_row_per_user_after_changes(users: Users, lake: Lake):
    users.add("ana", "0123456789", "analyst")
    users.set_role("ana", "admin")
    users.reset_password("ana", "abcdefghijk")
    assert lake.read(TABLE).select(["username", "role", "branches"]).to_pylist() == [
        {"username": "ana", "role": "admin", "branches": ""}]


def test_user_is_a_frozen_value(users: Users):
    ana = users.add("ana", "0123456789", "analyst")
    with pytest.raises(AttributeError):
        ana.role = Role.ADMIN  # type: ignore[misc]
    assert isinstance(ana, User)
