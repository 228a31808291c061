"""Fixtures of the security tests: a fresh lake, and argon2 parameters cheap enough for tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from almacen.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def hasher() -> PasswordHasher:
    """Cheap argon2 parameters, so tests do not spend 0.1 s a hash (the real ones are tested on their own)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
