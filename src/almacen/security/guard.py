"""Login throttling: too many failed logins for a username, or from an address, lock it out for a while.

Checking and counting are one atomic step: `begin` reserves an attempt before the password is
verified, so a burst of concurrent wrong passwords cannot all pass the check before any failure is
counted — at most the limit's number of passwords are ever verified per window, however many arrive
at once. An attempt ends with `failed` (it stays counted) or `succeeded` (it is taken back).

Lockouts grow: each lockout of the same username or address within a day lasts twice the previous
one (from `lockout_seconds`, capped at `max_lockout_seconds`), so guessing gets slower and slower,
while a real user locked out by someone else is back within the cap once the guessing stops. An
admin can lift a user's lockout at once (`unlock`, `POST /api/users/<name>/unlock`).

Kept in memory per server process (a restart forgets it); the clock is injectable for tests. A
success clears the username's failures but not the address's, so one valid account does not let an
address keep guessing the others.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from almacen.errors import AlmacenError

STRIKES_FORGOTTEN = 86_400.0
"""a key with no lockout for this long starts again from the shortest lockout"""


class Locked(AlmacenError):
    """Logins for this username or from this address are locked; `retry_after` says for how many seconds."""

    def __init__(self, retry_after: int, what: str = "this login") -> None:
        super().__init__(f"too many failed logins for {what}; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Counter:
    failures: deque[float] = field(default_factory=deque)
    """when each counted attempt (finished or still being verified) began"""
    in_flight: int = 0
    locked_until: float = 0.0
    lockouts: int = 0
    """lockouts so far (each doubles the next one), forgotten after STRIKES_FORGOTTEN without one"""
    last_lockout: float = 0.0


@dataclass(frozen=True)
class Attempt:
    """One reserved login attempt: pass it to `failed` or `succeeded` once the password is checked."""

    username: str
    ip: str
    began: float


class LoginGuard:
    """Counts login attempts per username and per address within a window; locks either at its limit."""

    def __init__(
        self,
        *,
        max_user_failures: int = 5,
        max_ip_failures: int = 20,
        window_seconds: float = 900,
        lockout_seconds: float = 60,
        max_lockout_seconds: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(max_user_failures, max_ip_failures) < 1 or min(window_seconds, lockout_seconds) <= 0:
            raise ValueError("LoginGuard: failure limits must be at least 1 and durations positive")
        if max_lockout_seconds < lockout_seconds:
            raise ValueError("LoginGuard: max_lockout_seconds must be at least lockout_seconds")
        self._limits = {"user": max_user_failures, "ip": max_ip_failures}
        self._window, self._clock = window_seconds, clock
        self._lockout, self._max_lockout = lockout_seconds, max_lockout_seconds
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def begin(self, username: str, ip: str) -> Attempt:
        """Reserve one attempt, or raise Locked (with retry_after) when the username or the address is
        locked out or has used up its attempts for the window (counting those still being verified)."""
        now = self._clock()
        with self._lock:
            self._sweep(now)
            keys = ((("user", username), f"user {username}"), (("ip", ip), f"address {ip}"))
            for key, what in keys:
                counter = self._counters.get(key)
                if counter is None:
                    continue
                if counter.locked_until > now:
                    raise Locked(max(1, math.ceil(counter.locked_until - now)), what)
                self._expire(counter, now)
                if len(counter.failures) >= self._limits[key[0]]:  # the limit is taken by attempts still running
                    raise Locked(1, what)
            for key, _ in keys:
                counter = self._counters.setdefault(key, _Counter())
                counter.failures.append(now)
                counter.in_flight += 1
            return Attempt(username, ip, now)

    def failed(self, attempt: Attempt) -> None:
        """The attempt's password was wrong: it stays counted; the failure that reaches a limit locks."""
        now = self._clock()
        with self._lock:
            for key in (("user", attempt.username), ("ip", attempt.ip)):
                counter = self._counters.setdefault(key, _Counter())
                counter.in_flight = max(0, counter.in_flight - 1)
                self._expire(counter, now)
                finished = len(counter.failures) - counter.in_flight
                if finished >= self._limits[key[0]] and counter.locked_until <= now:
                    self._lock_out(counter, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the username's count is cleared; the address keeps its failures but not
        this attempt."""
        with self._lock:
            self._counters.pop(("user", attempt.username), None)
            counter = self._counters.get(("ip", attempt.ip))
            if counter is not None:
                counter.in_flight = max(0, counter.in_flight - 1)
                try:
                    counter.failures.remove(attempt.began)
                except ValueError:
                    pass

    def unlock(self, username: str) -> bool:
        """Lift a user's lockout and forget their failures (an admin's decision); False if nothing was held."""
        with self._lock:
            counter = self._counters.get(("user", username))
            if counter is None:
                return False
            held = counter.locked_until > self._clock() or bool(counter.failures)
            counter.failures.clear()
            counter.locked_until = 0.0
            counter.lockouts = 0
            return held

    def locked(self, username: str) -> int:
        """Seconds until the user's lockout ends (0 when not locked)."""
        with self._lock:
            counter = self._counters.get(("user", username))
            remaining = 0.0 if counter is None else counter.locked_until - self._clock()
            return max(0, math.ceil(remaining))

    def _lock_out(self, counter: _Counter, now: float) -> None:
        if now - counter.last_lockout > STRIKES_FORGOTTEN:
            counter.lockouts = 0
        counter.locked_until = now + min(self._max_lockout, self._lockout * 2**counter.lockouts)
        counter.lockouts += 1
        counter.last_lockout = now
        counter.failures.clear()
        counter.in_flight = 0

    def _expire(self, counter: _Counter, now: float) -> None:
        """Forget finished failures older than the window (attempts still being verified stay)."""
        while len(counter.failures) > counter.in_flight and counter.failures[0] <= now - self._window:
            counter.failures.popleft()

    def _sweep(self, now: float) -> None:
        """Drop counters with nothing left to remember, at most once a window (bounds memory under spraying)."""
        if now - self._last_sweep < self._window:
            return
        self._last_sweep = now
        stale = [
            k
            for k, c in self._counters.items()
            if c.locked_until <= now
            and c.in_flight == 0
            and now - c.last_lockout > STRIKES_FORGOTTEN
            and (not c.failures or c.failures[-1] <= now - self._window)
        ]
        for key in stale:
            del self._counters[key]
