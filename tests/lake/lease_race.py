"""The contender of the lease race in tests/lake/test_lease.py (a module of its own: spawned processes import it)."""

from __future__ import annotations

from datetime import timedelta

from almacen.lake import Lake
from almacen.lake.lease import Leases


def contend(root: str, jobs: list[str], holder: str, barrier, results) -> None:
    """Try to take each of `jobs` at the same moment as the other contender; report who believed they won."""
    leases = Leases(Lake(root))
    for job in jobs:
        barrier.wait()
        results.put((job, holder, leases.acquire(job, holder, timedelta(minutes=5)) is not None))
