"""API tokens: the secret is shown once and stored only as a SHA-256; revoked or orphaned tokens resolve to nobody."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher

from almacen.lake import Lake
from almacen.security import Role, Tokens, Users
from almacen.security.tokens import TABLE




@pytest.fixture
def users(lake: Lake, hasher: PasswordHasher) -> Users:
    users = Users(lake, hasher=hasher)
    users.add("ana", "0123456789", "branch_manager", ["palermo"])
    return users


@pytest.fixture
def tokens(lake: Lake, users: Users) -> Tokens:
    return Tokens(lake, users)


def test_a_token_acts_as_its_user(tokens: Tokens, users: Users):
    token_id, secret = tokens.create("ana", "tableau")
    assert token_id.startswith("tok_") and len(token_id) == 16
    assert secret.startswith("alm_") and len(secret) == 47
    assert tokens.user_for(secret) == users.get("ana")


def test_only_the_sha256_of_the_secret_is_stored(tokens: Tokens, lake: Lake):
    _, secret = tokens.create("ana", "tableau")
    row = lake.read(TABLE).to_pylist()[0]
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(v) for v in row.values())


def test_an_unknown_or_malformed_secret_is_nobody(tokens: Tokens):
    tokens.create("ana", "tableau")
    assert tokens.user_for("alm_" + "x" * 43) is None
    assert tokens.user_for("") is None
    assert tokens.user_for("Bearer alm_x") is None


def test_a_revoked_token_is_nobody(tokens: Tokens):
    token_id, secret = tokens.create("ana", "tableau")
    _, other = tokens.create("ana", "metabase")
    tokens.revoke(token_id)
    assert tokens.user_for(secret) is None
    assert tokens.user_for(other) is not None
    tokens.revoke(token_id)  # again: nothing changes
    assert tokens.list()["revoked_at"].null_count == 1


def test_revoking_an_unknown_token_names_it(tokens: Tokens):
    with pytest.raises(LookupError, match="no API token 'tok_000000000000'"):
        tokens.revoke("tok_000000000000")


def test_a_token_for_an_unknown_user_is_refused(tokens: Tokens):
    with pytest.raises(LookupError, match="no user 'ghost'"):
        tokens.create("ghost", "tableau")
    with pytest.raises(ValueError, match="give it a name of 1 to 100 characters"):
        tokens.create("ana", "  ")


def test_a_removed_users_token_is_nobody_even_if_the_name_is_reused(tokens: Tokens, users: Users):
    _, secret = tokens.create("ana", "tableau")
    users.remove("ana")
    assert tokens.user_for(secret) is None
    users.add("ana", "0123456789", "admin")
    assert tokens.user_for(secret) is None


def test_a_token_follows_its_users_current_role(tokens: Tokens, users: Users):
    _, secret = tokens.create("ana", "tableau")
    users.set_role("ana", "auditor")
    assert tokens.user_for(secret).role is Role.AUDITOR


def test_revocation_in_another_process_is_seen_at_once(lake: Lake, users: Users, hasher: PasswordHasher):
    server, cli = Tokens(lake, users), Tokens(lake, Users(lake, hasher=hasher))
    token_id, secret = cli.create("ana", "tableau")
    assert server.user_for(secret) is not None
    cli.revoke(token_id)
    assert server.user_for(secret) is None


def test_list_shows_tokens_without_secrets_oldest_first(tokens: Tokens, users: Users):
    users.add("beto", "0123456789", "analyst")
    first, _ = tokens.create("ana", "tableau")
    second, _ = tokens.create("beto", "powerbi")
    assert tokens.list().column_names == ["token_id", "username", "name", "created_at", "revoked_at"]
    assert tokens.list()["token_id"].to_pylist() == [first, second]
    assert tokens.list("beto").select(["token_id", "name"]).to_pylist() == [{"token_id": second, "name": "powerbi"}]
    assert tokens.list("nobody").num_rows == 0
