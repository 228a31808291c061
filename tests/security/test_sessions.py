"""Server-side sessions: opened at login, looked up on every request, ended for every copy of the cookie."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from almacen.lake import Lake
from almacen.security.sessions import TABLE, Session, Sessions

EIGHT_HOURS = timedelta(hours=8)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(lake: Lake, clock: Clock) -> Sessions:
    return Sessions(lake, clock=clock)


def test_an_opened_session_is_found_by_its_id_until_it_expires(sessions: Sessions, clock: Clock):
    session_id, session = sessions.open("ana", EIGHT_HOURS)
    assert session == Session("ana", clock.now, clock.now + EIGHT_HOURS)
    assert sessions.get(session_id) == session
    clock.now += EIGHT_HOURS
    assert sessions.get(session_id) is None


def test_the_table_holds_a_digest_of_the_id_never_the_id(sessions: Sessions, lake: Lake):
    session_id, _ = sessions.open("ana", EIGHT_HOURS)
    stored = lake.read(TABLE).to_pylist()
    assert len(stored) == 1 and session_id not in str(stored)


def test_an_ended_session_stays_ended_and_ending_it_again_changes_nothing(sessions: Sessions):
    session_id, _ = sessions.open("ana", EIGHT_HOURS)
    assert sessions.end(session_id) is True
    assert sessions.get(session_id) is None
    assert sessions.end(session_id) is False
    assert sessions.end("no-such-session") is False


def test_an_end_written_by_another_process_is_seen_by_the_next_lookup(lake: Lake, clock: Clock):
    server, cli = Sessions(lake, clock=clock), Sessions(lake, clock=clock)
    session_id, _ = server.open("ana", EIGHT_HOURS)
    assert server.get(session_id) is not None
    assert cli.end_user("ana", "admin") == 1
    assert server.get(session_id) is None


def test_ending_a_users_sessions_leaves_the_others(sessions: Sessions):
    ana = [sessions.open("ana", EIGHT_HOURS)[0] for _ in range(3)]
    beto = sessions.open("beto", EIGHT_HOURS)[0]
    assert sessions.end_user("ana", "password reset") == 3
    assert [sessions.get(s) for s in ana] == [None] * 3
    assert sessions.get(beto) is not None
    assert [s.username for s in sessions.live()] == ["beto"]
    assert sessions.end_all("everyone") == 1
    assert sessions.live() == []


def test_sessions_over_for_a_day_are_swept_at_the_next_login(sessions: Sessions, lake: Lake, clock: Clock):
    old, _ = sessions.open("ana", EIGHT_HOURS)
    ended, _ = sessions.open("beto", EIGHT_HOURS)
    sessions.end(ended)
    clock.now += timedelta(hours=8) + timedelta(days=1, seconds=1)
    fresh, _ = sessions.open("carla", EIGHT_HOURS)
    assert [r["username"] for r in lake.read(TABLE).to_pylist()] == ["carla"]
    assert sessions.get(fresh) is not None and sessions.get(old) is None


@pytest.mark.parametrize("bad", ["", "x" * 101])
def test_an_empty_or_overlong_id_is_no_session(sessions: Sessions, bad: str):
    assert sessions.get(bad) is None


def test_a_username_with_a_quote_cannot_reach_the_predicate(sessions: Sessions):
    with pytest.raises(ValueError, match="is not a username"):
        sessions.end_user("x' OR 'a'='a", "admin")
