"""API tokens: the secret is shown once and stored only as a SHA-256; expired, revoked or orphaned tokens are nobody."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from argon2 import PasswordHasher

from almacen.lake import Lake
from almacen.security import Role, Tokens, Users
from almacen.security.tokens import TABLE


class Clock:
    """A settable UTC clock for Tokens, starting now."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def users(lake: Lake, hasher: PasswordHasher) -> Users:
    users = Users(lake, hasher=hasher)
    users.add("ana", "una-clave-larga-1", "branch_manager", ["palermo"])
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
    users.add("ana", "una-clave-larga-1", "admin")
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
    users.add("beto", "una-clave-larga-1", "analyst")
    first, _ = tokens.create("ana", "tableau")
    second, _ = tokens.create("beto", "powerbi")
    assert tokens.list().column_names == ["token_id", "username", "name", "created_at", "expires_at", "revoked_at"]
    assert tokens.list()["token_id"].to_pylist() == [first, second]
    assert tokens.list("beto").select(["token_id", "name"]).to_pylist() == [{"token_id": second, "name": "powerbi"}]
    assert tokens.list("nobody").num_rows == 0


def test_a_token_expires_after_its_days(lake: Lake, users: Users):
    clock = Clock()
    tokens = Tokens(lake, users, clock=clock)
    _, default = tokens.create("ana", "tableau")
    _, weekly = tokens.create("ana", "cron", days=7)
    start = clock.now
    expires = {r["name"]: r["expires_at"] for r in tokens.list().to_pylist()}
    assert expires == {"tableau": start + timedelta(days=90), "cron": start + timedelta(days=7)}
    clock.now = start + timedelta(days=7) - timedelta(seconds=1)
    assert tokens.user_for(weekly) is not None
    clock.now = start + timedelta(days=7)
    assert tokens.user_for(weekly) is None and tokens.user_for(default) is not None
    clock.now = start + timedelta(days=90)
    assert tokens.user_for(default) is None


@pytest.mark.parametrize("days", [0, -1, 3651, 1.5, True])
def test_a_lifetime_out_of_range_is_refused(tokens: Tokens, days):
    with pytest.raises(ValueError, match="token for user ana: it lasts 1 to 3650 days"):
        tokens.create("ana", "tableau", days=days)
    assert tokens.list().num_rows == 0


def test_revoke_all_revokes_only_that_users_live_tokens(tokens: Tokens, users: Users):
    users.add("beto", "una-clave-larga-1", "analyst")
    first, first_secret = tokens.create("ana", "tableau")
    second, second_secret = tokens.create("ana", "metabase")
    _, beto_secret = tokens.create("beto", "powerbi")
    tokens.revoke(first)
    assert tokens.revoke_all("ana") == [second]  # the one already revoked keeps its time
    assert tokens.user_for(first_secret) is None and tokens.user_for(second_secret) is None
    assert tokens.user_for(beto_secret) is not None
    assert tokens.revoke_all("ana") == [] and tokens.revoke_all("nobody") == []
    with pytest.raises(ValueError, match="username"):
        tokens.revoke_all("x' OR '1'='1")


LEGACY = pa.schema(
    [
        ("token_id", pa.string()),
        ("username", pa.string()),
        ("name", pa.string()),
        ("secret_sha256", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("revoked_at", pa.timestamp("us", tz="UTC")),
    ]
)
"""`_system/api_tokens` as written before tokens expired"""


def test_a_table_written_before_expiry_existed_reads_as_created_plus_90_days(lake: Lake, users: Users):
    created = users.get_with_created_at("ana")[1] + timedelta(seconds=1)
    lake.append(
        TABLE,
        pa.Table.from_pylist(
            [
                {
                    "token_id": "tok_0123456789ab",
                    "username": "ana",
                    "name": "old script",
                    "secret_sha256": hashlib.sha256(b"alm_legacy").hexdigest(),
                    "created_at": created,
                    "revoked_at": None,
                }
            ],
            schema=LEGACY,
        ),
    )
    clock = Clock()
    tokens = Tokens(lake, users, clock=clock)
    assert tokens.list().to_pylist()[0]["expires_at"] == created + timedelta(days=90)
    clock.now = created + timedelta(days=89)
    assert tokens.user_for("alm_legacy").username == "ana"
    clock.now = created + timedelta(days=90)
    assert tokens.user_for("alm_legacy") is None
    clock.now = created + timedelta(days=1)
    _, secret = tokens.create("ana", "new script", days=30)  # adds the column to the old table
    assert "expires_at" in lake.read(TABLE).column_names
    assert tokens.user_for("alm_legacy") is not None and tokens.user_for(secret) is not None
    tokens.revoke("tok_0123456789ab")
    assert tokens.user_for("alm_legacy") is None and tokens.user_for(secret) is not None
