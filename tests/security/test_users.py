"""Users: validated on the way in, argon2 on the password, changes seen across processes at once."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher

from almacen.lake import Lake
from almacen.security import Permission, Role, Scope, User, Users
from almacen.security.passwords import MAX_LENGTH, MIN_LENGTH, check_password, common_passwords
from almacen.security.users import TABLE

PASSPHRASE = "cuando llegue el invierno pintaremos la casa de verde y amarillo"


@pytest.fixture
def users(lake: Lake, hasher: PasswordHasher) -> Users:
    return Users(lake, hasher=hasher)


def test_an_added_user_is_read_back_with_role_branches_and_scope(users: Users):
    added = users.add("ana", "paseo-por-palermo-2026!", "branch_manager", ["rosario", "palermo"])
    assert users.get("ana") == added
    assert (added.username, added.role, added.branches) == ("ana", Role.BRANCH_MANAGER, ("palermo", "rosario"))
    assert added.scope == Scope(frozenset({"palermo", "rosario"}))
    assert added.can(Permission.SALES) and not added.can(Permission.USERS)
    assert users.get("nobody") is None


def test_list_is_sorted_by_username(users: Users):
    users.add("zoe", "una-clave-larga-1", Role.AUDITOR)
    users.add("ana", "una-clave-larga-1", Role.ADMIN)
    assert [(u.username, u.role) for u in users.list()] == [("ana", Role.ADMIN), ("zoe", Role.AUDITOR)]


@pytest.mark.parametrize(
    ("name", "password", "role", "branches", "message"),
    [
        ("Ana", "una-clave-larga-1", "analyst", (), r"username 'Ana' must match \^\[a-z0-9\]"),
        ("a", "una-clave-larga-1", "analyst", (), "username 'a' must match"),
        (
            "ana",
            "short",
            "analyst",
            (),
            r"password for user ana refused: it is too short \(5 characters, at least 15\)",
        ),
        ("ana", "una-clave-larga-1", "boss", (), "unknown role 'boss'; roles: admin, analyst, branch_manager, auditor"),
        ("ana", "una-clave-larga-1", "branch_manager", (), "user ana: a branch_manager needs at least one branch"),
        ("ana", "una-clave-larga-1", "analyst", ("palermo",), "user ana: the analyst role sees every branch"),
    ],
)
def test_unfit_users_are_refused_naming_why(users: Users, name, password, role, branches, message):
    with pytest.raises(ValueError, match=message):
        users.add(name, password, role, branches)
    assert users.list() == []


def test_a_duplicate_username_is_refused(users: Users):
    users.add("ana", "una-clave-larga-1", "analyst")
    with pytest.raises(ValueError, match="user ana already exists"):
        users.add("ana", "otra-clave-larga-2", "admin")
    assert users.get("ana").role is Role.ANALYST


def test_changing_an_unknown_user_names_them(users: Users):
    for change in (
        lambda: users.remove("ghost"),
        lambda: users.set_role("ghost", "admin"),
        lambda: users.reset_password("ghost", "una-clave-larga-1"),
    ):
        with pytest.raises(LookupError, match="no user 'ghost'"):
            change()


def test_the_password_is_stored_only_as_an_argon2id_hash(users: Users, lake: Lake):
    users.add("ana", "paseo-por-palermo-2026!", "analyst")
    row = lake.read(TABLE).to_pylist()[0]
    assert row["password_hash"].startswith("$argon2id$")
    assert all("paseo-por-palermo-2026!" not in str(v) for v in row.values())


def test_authenticate_accepts_the_right_password_only(users: Users):
    ana = users.add("ana", "paseo-por-palermo-2026!", "analyst")
    assert users.authenticate("ana", "paseo-por-palermo-2026!") == ana
    assert users.authenticate("ana", "paseo-por-palermo-2027!") is None
    assert users.authenticate("nobody", "paseo-por-palermo-2026!") is None
    assert users.authenticate("", "") is None


def test_an_unknown_user_costs_about_as_long_as_a_wrong_password(lake: Lake):
    users = Users(lake)  # real parameters: the dummy hash must cost what a real one does
    users.add("ana", "paseo-por-palermo-2026!", "analyst")
    users.authenticate("ana", "warm-up-only")

    def cost(name: str) -> float:
        start = time.perf_counter()
        users.authenticate(name, "wrong-password")
        return time.perf_counter() - start

    known, unknown = min(cost("ana") for _ in range(3)), min(cost("nobody") for _ in range(3))
    assert 0.5 < unknown / known < 2.0


def test_a_hash_made_with_old_parameters_is_rehashed_at_login(lake: Lake, hasher: PasswordHasher):
    Users(lake, hasher=hasher).add("ana", "paseo-por-palermo-2026!", "analyst")
    before = lake.read(TABLE)["changed_at"][0].as_py()
    current = PasswordHasher()
    assert Users(lake, hasher=current).authenticate("ana", "paseo-por-palermo-2026!") is not None
    row = lake.read(TABLE).to_pylist()[0]
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert row["changed_at"] == before  # a rehash is not a password change: sessions stay valid
    assert Users(lake, hasher=hasher).authenticate("ana", "paseo-por-palermo-2026!") is not None


def test_a_role_change_bumps_changed_at_and_replaces_branches(users: Users):
    ana = users.add("ana", "una-clave-larga-1", "branch_manager", ["palermo"])
    moved = users.set_role("ana", "branch_manager", ["rosario"])
    assert moved.changed_at > ana.changed_at and moved.branches == ("rosario",)
    promoted = users.set_role("ana", Role.ANALYST)
    assert (promoted.role, promoted.branches, promoted.scope) == (Role.ANALYST, (), Scope(None))
    assert promoted.changed_at > moved.changed_at
    assert users.get("ana") == promoted


def test_set_role_without_branches_keeps_a_branch_managers_branches(users: Users):
    users.add("ana", "una-clave-larga-1", "branch_manager", ["palermo"])
    assert users.set_role("ana", "branch_manager").branches == ("palermo",)


def test_making_an_analyst_a_branch_manager_needs_branches(users: Users):
    users.add("beto", "una-clave-larga-1", "analyst")
    with pytest.raises(ValueError, match="user beto: a branch_manager needs at least one branch"):
        users.set_role("beto", "branch_manager")
    assert users.set_role("beto", "branch_manager", ["rosario"]).branches == ("rosario",)


def test_a_password_reset_bumps_changed_at_and_only_the_new_password_works(users: Users):
    ana = users.add("ana", "la-clave-vieja-2025", "analyst")
    reset = users.reset_password("ana", "la-clave-nueva-2026")
    assert reset.changed_at > ana.changed_at and reset.role is Role.ANALYST
    assert users.authenticate("ana", "la-clave-vieja-2025") is None
    assert users.authenticate("ana", "la-clave-nueva-2026") == reset


def test_a_removed_user_is_gone_and_cannot_log_in(users: Users):
    users.add("ana", "una-clave-larga-1", "analyst")
    users.add("beto", "una-clave-larga-1", "auditor")
    users.remove("ana")
    assert [u.username for u in users.list()] == ["beto"]
    assert users.authenticate("ana", "una-clave-larga-1") is None


def test_a_change_made_elsewhere_is_seen_by_the_next_get(lake: Lake, hasher: PasswordHasher):
    server, cli = Users(lake, hasher=hasher), Users(lake, hasher=hasher)
    cli.add("ana", "una-clave-larga-1", "analyst")
    assert server.get("ana").role is Role.ANALYST  # cached from here on
    cli.set_role("ana", "auditor")
    assert server.get("ana").role is Role.AUDITOR
    cli.remove("ana")
    assert server.get("ana") is None


def test_the_table_holds_one_row_per_user_after_changes(users: Users, lake: Lake):
    users.add("ana", "una-clave-larga-1", "analyst")
    users.set_role("ana", "admin")
    users.reset_password("ana", "una-clave-distinta-3")
    assert lake.read(TABLE).select(["username", "role", "branches"]).to_pylist() == [
        {"username": "ana", "role": "admin", "branches": ""}
    ]


def test_user_is_a_frozen_value(users: Users):
    ana = users.add("ana", "una-clave-larga-1", "analyst")
    with pytest.raises(AttributeError):
        ana.role = Role.ADMIN  # type: ignore[misc]
    assert isinstance(ana, User)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (" " * 10, "it is empty or only whitespace"),
        (" " * 20, "it is empty or only whitespace"),
        ("aaaaaaaaaa", r"it repeats one character or chunk \(like aaaa… or abab…\)"),
        ("aaaaaaaaaaaaaaaaaaaa", "it repeats one character or chunk"),
        ("abcabcabcabcabcabc", "it repeats one character or chunk"),
        ("123456789012", r"it is mostly characters in sequence \(like abcd…, 1234…, qwerty…\)"),
        ("1234567890123456", "it is mostly characters in sequence"),
        ("abcdefghijkl", "it is mostly characters in sequence"),
        ("qwertyuiopasdfgh", "it is mostly characters in sequence"),
        ("friend of emily", "it is a common password"),  # 15 characters, straight from the shipped list
        ("Friend Of Emily", "it is a common password"),  # compared case-insensitively
        ("iloveyou2026!!!", "it is a common password, or one with only digits, symbols or spaces added"),
        ("I-Love-You-1234", "it is a common password, or one with only digits, symbols or spaces added"),
        ("ana-y-su-clave-2026", "it contains the username"),
        ("soy ANA y esta es mi clave", "it contains the username"),
        ("mi-almacen-de-barrio-1", r"it contains the name of the service \('almacen'\)"),
        ("una clave\tcon tabulador", "it holds a control character"),
        ("x" * (MAX_LENGTH + 1), rf"it is too long \({MAX_LENGTH + 1} characters, at most {MAX_LENGTH}\)"),
    ],
)
def test_weak_passwords_are_refused_naming_the_user_and_why(users: Users, password, reason):
    with pytest.raises(ValueError, match=rf"^password for user ana refused: .*{reason}"):
        users.add("ana", password, "analyst")
    assert users.list() == []


def test_a_password_reset_gets_the_same_policy_and_keeps_the_old_password(users: Users):
    users.add("ana", "una-clave-larga-1", "analyst")
    for weak in (" " * 10, "aaaaaaaaaa", "123456789012", "ana-tiene-clave-nueva"):
        with pytest.raises(ValueError, match="password for user ana refused"):
            users.reset_password("ana", weak)
    assert users.authenticate("ana", "una-clave-larga-1") is not None


def test_every_reason_is_given_at_once():
    with pytest.raises(ValueError) as refused:
        check_password("ana", "aaaaaaaaaa")
    assert str(refused.value) == (
        "password for user ana refused: it is too short (10 characters, at least 15); "
        "it repeats one character or chunk (like aaaa… or abab…); "
        "it is a common password, or one with only digits, symbols or spaces added"
    )


@pytest.mark.parametrize(
    "password",
    [
        PASSPHRASE,  # 64 characters, spaces, lower-case letters only: no composition rules
        # the longest allowed:
        (PASSPHRASE + ", y después la del vecino de enfrente y la de su hermana, la de la esquina")[:MAX_LENGTH],
        "banana split forever",  # holds "ana", but not as a word of its own
        "contraseña con eñe y acentos: sí",
        "Zx9!kq#mW2pL@v8r",
        "a" * 7 + " lluvia de verano",  # some repetition inside is fine
        "el-gato-negro-de-la-casa",
    ],
)
def test_long_passphrases_and_random_passwords_are_accepted(users: Users, password):
    assert users.add("ana", password, "analyst") is not None
    assert users.authenticate("ana", password) is not None


def test_a_part_of_a_dotted_username_counts_as_the_username(users: Users):
    with pytest.raises(ValueError, match=r"it contains part of the username \('lopez'\)"):
        users.add("ana.lopez", "la señora lopez sonríe", "analyst")


def test_the_minimum_is_fifteen_characters(users: Users):
    assert MIN_LENGTH == 15
    with pytest.raises(ValueError, match=r"it is too short \(14 characters, at least 15\)"):
        users.add("ana", "lluvia-de-mayo", "analyst")
    users.add("ana", "lluvia-de-junio", "analyst")


def test_the_common_password_list_ships_with_the_package_and_loads_once():
    listed = common_passwords()
    assert common_passwords() is listed
    assert len(listed) > 19_000 and {"password", "iloveyou", "friend of emily"} <= listed
    assert all(word == word.casefold() for word in listed)


@pytest.mark.parametrize("name", ["anonymous", "system"])
def test_the_audit_logs_own_actor_names_cannot_be_taken_by_a_user(lake, hasher, name):
    with pytest.raises(ValueError, match=f"username '{name}' is reserved"):
        Users(lake, hasher=hasher).add(name, "una frase de paso bastante larga", "analyst")
