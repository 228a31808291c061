"""Fixtures of the security tests: a fresh lake, a known audit key, and argon2 parameters cheap enough for tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from almacen.lake import Lake

AUDIT_KEY = b"security-tests-audit-key-" + b"k" * 32
"""the audit log's key in these tests (ALMACEN_AUDIT_KEY): tests compute MACs with it as a key holder would"""


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Every security test records under AUDIT_KEY (child processes inherit it)."""
    monkeypatch.setenv("ALMACEN_AUDIT_KEY", AUDIT_KEY.decode())
    return AUDIT_KEY


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def hasher() -> PasswordHasher:
    """Cheap argon2 parameters, so tests do not spend 0.1 s a hash (the real ones are tested on their own)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
