"""Leases in the lake: one holder per job at a time, taken over once expired, never held by two at once."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest

from almacen.lake import Lake
from almacen.lake.lease import LEASES, Leases
from tests.lake.lease_race import contend

TTL = timedelta(minutes=5)


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_lease_is_held_renewed_taken_over_once_expired_and_released(tmp_path: Path):
    clock = Clock()
    a, b = Leases(Lake(str(tmp_path)), clock), Leases(Lake(str(tmp_path)), clock)

    held = a.acquire("extract", "host-a", TTL)
    assert held is not None and (held.holder, held.seq, held.expires_at_ms) == ("host-a", 1, 1_800_000_300_000)
    assert b.acquire("extract", "host-b", TTL) is None  # held, not expired
    assert b.acquire("build", "host-b", TTL) is not None  # another job: its own lease
    clock.t += 200
    renewed = a.renew(held, TTL)
    assert renewed is not None and (renewed.seq, renewed.expires_at_ms) == (2, 1_800_000_500_000)
    assert b.holder("extract") == renewed

    clock.t += 301  # host-a stopped renewing: expired
    assert b.holder("extract") is None
    taken = b.acquire("extract", "host-b", TTL)
    assert taken is not None and (taken.holder, taken.seq) == ("host-b", 3)
    assert a.renew(renewed, TTL) is None  # the old holder learns it lost the lease
    assert a.release(renewed) is False

    assert b.release(taken) is True
    assert a.holder("extract") is None
    again = a.acquire("extract", "host-a", TTL)
    assert again is not None and again.seq == 5
    assert Lake(str(tmp_path)).read(LEASES).num_rows == 2  # one row per job, whatever happened


@pytest.mark.slow
@pytest.mark.parametrize("start", ["fresh", "expired"])
def test_two_processes_racing_for_a_lease_never_both_get_it(tmp_path: Path, start: str):
    root, jobs = str(tmp_path), [f"job-{i}" for i in range(25)]
    if start == "expired":  # every job held by a holder that died long ago
        dead = Leases(Lake(root), Clock(1_000_000_000.0))
        for job in jobs:
            assert dead.acquire(job, "dead-host", TTL) is not None
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    contenders = [ctx.Process(target=contend, args=(root, jobs, h, barrier, results)) for h in ("host-a", "host-b")]
    for p in contenders:
        p.start()
    for p in contenders:
        p.join()
    assert [p.exitcode for p in contenders] == [0, 0]
    outcomes = [results.get() for _ in range(2 * len(jobs))]

    winners = {job: [h for j, h, won in outcomes if j == job and won] for job in jobs}
    assert {job: len(w) for job, w in winners.items()} == {job: 1 for job in jobs}
    leases = Leases(Lake(root))
    assert {job: leases.holder(job).holder for job in jobs} == {job: w[0] for job, w in winners.items()}
