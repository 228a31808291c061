"""Login throttling: too many failed logins for a username, or from an address, lock it out for a while.

Kept in memory per server process (a restart forgets it); the clock is injectable for tests.
A success clears the username's failures but not the address's, so one valid account does not
let an address keep guessing the others.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class Locked(Exception):
    """Logins for this username or from this address are locked; `retry_after` says for how many seconds."""

    def __init__(self, retry_after: int, what: str = "this login") -> None:
        super().__init__(f"too many failed logins for {what}; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Counter:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginGuard:
    """Counts failed logins per username and per address within a window; locks either at its limit."""

    def __init__(self, *, max_user_failures: int = 5, max_ip_failures: int = 20, window_seconds: float = 900,
                 lockout_seconds: float = 900, clock: Callable[[], float] = time.monotonic) -> None:
        if min(max_user_failures, max_ip_failures) < 1 or min(window_seconds, lockout_seconds) <= 0:
            raise ValueError("LoginGuard: failure limits must be at least 1 and durations positive")
        self._limits = {"user": max_user_failures, "ip": max_ip_failures}
        self._window, self._lockout, self._clock = window_seconds, lockout_seconds, clock
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def check(self, username: str, ip: str) -> None:
        """Raise Locked (with retry_after) while the username or the address is locked out."""
        now = self._clock()
        with self._lock:
            for key, what in ((("user", username), f"user {username}"), (("ip", ip), f"address {ip}")):
                counter = self._counters.get(key)
                if counter is not None and counter.locked_until > now:
                    raise Locked(max(1, math.ceil(counter.locked_until - now)), what)

    def failed(self, username: str, ip: str) -> None:
        """Count a failed login; the failure that reaches a limit starts the lockout."""
        now = self._clock()
        with self._lock:
            self._sweep(now)
            for key in (("user", username), ("ip", ip)):
                counter = self._counters.setdefault(key, _Counter())
                while counter.failures and counter.failures[0] <= now - self._window:
                    counter.failures.popleft()
                counter.failures.append(now)
                if len(counter.failures) >= self._limits[key[0]]:
                    counter.locked_until = now + self._lockout
                    counter.failures.clear()

    def succeeded(self, username: str, ip: str) -> None:
        """Forget the username's failures (the address's stay counted)."""
        with self._lock:
            counter = self._counters.get(("user", username))
            if counter is not None and counter.locked_until <= self._clock():
                del self._counters[("user", username)]

    def _sweep(self, now: float) -> None:
        """Drop counters with nothing left to remember, at most once a window (bounds memory under spraying)."""
        if now - self._last_sweep < self._window:
            return
        self._last_sweep = now
        stale = [k for k, c in self._counters.items()
                 if c.locked_until <= now and (not c.failures or c.failures[-1] <= now - self._window)]
        for key in stale:
            del self._counters[key]
