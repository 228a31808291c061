"""Login throttling: a username locks after 5 failures, an address after 20, each for the lockout period."""

from __future__ import annotations

import pytest

from almacen.security import Locked, LoginGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(clock: Clock) -> LoginGuard:
    return LoginGuard(clock=clock)


def _fail(guard: LoginGuard, times: int, user: str = "ana", ip: str = "10.0.0.7") -> None:
    for _ in range(times):
        guard.check(user, ip)
        guard.failed(user, ip)


def test_four_failures_do_not_lock(guard: LoginGuard):
    _fail(guard, 4)
    guard.check("ana", "10.0.0.7")


def test_the_fifth_failure_locks_the_username_for_the_lockout(guard: LoginGuard, clock: Clock):
    _fail(guard, 5)
    clock.now += 100
    with pytest.raises(Locked) as locked:
        guard.check("ana", "10.0.0.99")
    assert locked.value.retry_after == 800
    assert str(locked.value) == "too many failed logins for user ana; try again in 800 s"


def test_the_lock_lifts_after_the_lockout(guard: LoginGuard, clock: Clock):
    _fail(guard, 5)
    clock.now += 900
    guard.check("ana", "10.0.0.7")
    _fail(guard, 4)  # counting starts afresh
    guard.check("ana", "10.0.0.7")


def test_failures_older_than_the_window_do_not_count(guard: LoginGuard, clock: Clock):
    _fail(guard, 4)
    clock.now += 901
    _fail(guard, 4)
    guard.check("ana", "10.0.0.7")


def test_an_address_locks_after_twenty_failures_across_usernames(guard: LoginGuard):
    for i in range(20):
        _fail(guard, 1, user=f"user{i}")
    with pytest.raises(Locked, match="for address 10.0.0.7; try again in 900 s"):
        guard.check("someone-new", "10.0.0.7")
    guard.check("someone-new", "10.0.0.8")


def test_a_success_clears_the_usernames_failures_but_not_the_addresss(clock: Clock):
    guard = LoginGuard(max_user_failures=5, max_ip_failures=6, clock=clock)
    _fail(guard, 4)
    guard.succeeded("ana", "10.0.0.7")
    _fail(guard, 1)
    guard.check("ana", "10.0.0.8")
    _fail(guard, 1, user="beto")
    with pytest.raises(Locked, match="address 10.0.0.7"):
        guard.check("carla", "10.0.0.7")


def test_a_success_does_not_lift_a_lock(guard: LoginGuard):
    _fail(guard, 5)
    guard.succeeded("ana", "10.0.0.7")
    with pytest.raises(Locked):
        guard.check("ana", "10.0.0.7")


def test_limits_are_configurable(clock: Clock):
    guard = LoginGuard(max_user_failures=2, lockout_seconds=60, clock=clock)
    _fail(guard, 2)
    with pytest.raises(Locked) as locked:
        guard.check("ana", "10.0.0.7")
    assert locked.value.retry_after == 60


def test_nonsense_limits_are_refused():
    with pytest.raises(ValueError, match="failure limits must be at least 1"):
        LoginGuard(max_user_failures=0)
