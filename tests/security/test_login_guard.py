"""Login throttling: a username locks after 5 failures, an address after 20; lockouts double each time,
up to a cap; attempts still being verified count; an admin can lift a user's lockout."""

from __future__ import annotations

import threading

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
        guard.failed(guard.begin(user, ip))


def test_four_failures_do_not_lock(guard: LoginGuard):
    _fail(guard, 4)
    guard.begin("ana", "10.0.0.7")


def test_the_fifth_failure_locks_the_username_for_a_minute_from_any_address(guard: LoginGuard, clock: Clock):
    _fail(guard, 5)
    clock.now += 20
    with pytest.raises(Locked) as locked:
        guard.begin("ana", "10.0.0.99")
    assert locked.value.retry_after == 40
    assert str(locked.value) == "too many failed logins for user ana; try again in 40 s"


def test_each_lockout_lasts_twice_the_previous_up_to_the_cap(clock: Clock):
    guard = LoginGuard(lockout_seconds=60, max_lockout_seconds=300, clock=clock)
    lasted = []
    for _ in range(5):
        _fail(guard, 5)
        lasted.append(guard.locked("ana"))
        clock.now += lasted[-1]
    assert lasted == [60, 120, 240, 300, 300]


def test_a_day_without_lockouts_starts_again_from_the_shortest(clock: Clock):
    guard = LoginGuard(lockout_seconds=60, clock=clock)
    _fail(guard, 5)
    clock.now += 60
    _fail(guard, 5)
    assert guard.locked("ana") == 120
    clock.now += 86_401
    _fail(guard, 5)
    assert guard.locked("ana") == 60


def test_the_lock_lifts_after_the_lockout_and_counting_starts_afresh(guard: LoginGuard, clock: Clock):
    _fail(guard, 5)
    clock.now += 60
    guard.begin("ana", "10.0.0.7")
    _fail(guard, 3)
    guard.begin("ana", "10.0.0.7")


def test_failures_older_than_the_window_do_not_count(guard: LoginGuard, clock: Clock):
    _fail(guard, 4)
    clock.now += 901
    _fail(guard, 4)
    guard.begin("ana", "10.0.0.7")


def test_an_address_locks_after_twenty_failures_across_usernames(guard: LoginGuard):
    for i in range(20):
        _fail(guard, 1, user=f"user{i}")
    with pytest.raises(Locked, match="for address 10.0.0.7; try again in 60 s"):
        guard.begin("someone-new", "10.0.0.7")
    guard.begin("someone-new", "10.0.0.8")


def test_a_success_clears_the_usernames_failures_but_not_the_addresss(clock: Clock):
    guard = LoginGuard(max_user_failures=5, max_ip_failures=6, clock=clock)
    _fail(guard, 4)
    guard.succeeded(guard.begin("ana", "10.0.0.7"))
    _fail(guard, 1)
    guard.begin("ana", "10.0.0.8")
    _fail(guard, 1, user="beto")
    with pytest.raises(Locked, match="address 10.0.0.7"):
        guard.begin("carla", "10.0.0.7")


def test_attempts_still_being_verified_count_against_the_limit(guard: LoginGuard):
    """Check and count are one step: five attempts in flight leave no room for a sixth."""
    attempts = [guard.begin("ana", "10.0.0.7") for _ in range(5)]
    with pytest.raises(Locked, match="user ana"):
        guard.begin("ana", "10.0.0.8")
    for attempt in attempts:
        guard.failed(attempt)
    assert guard.locked("ana") == 60


def test_concurrent_attempts_never_exceed_the_limit():
    guard = LoginGuard()
    admitted, barrier = [], threading.Barrier(60)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            admitted.append(guard.begin("ana", f"10.0.1.{i}"))
        except Locked:
            pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5


def test_an_admin_unlock_lifts_the_lockout_at_once(guard: LoginGuard):
    _fail(guard, 5)
    assert guard.unlock("ana") is True
    guard.begin("ana", "10.0.0.8")
    assert guard.unlock("nobody") is False


def test_limits_are_configurable(clock: Clock):
    guard = LoginGuard(max_user_failures=2, lockout_seconds=30, clock=clock)
    _fail(guard, 2)
    with pytest.raises(Locked) as locked:
        guard.begin("ana", "10.0.0.7")
    assert locked.value.retry_after == 30


def test_nonsense_limits_are_refused():
    with pytest.raises(ValueError, match="failure limits must be at least 1"):
        LoginGuard(max_user_failures=0)
    with pytest.raises(ValueError, match="max_lockout_seconds must be at least lockout_seconds"):
        LoginGuard(lockout_seconds=600, max_lockout_seconds=60)
