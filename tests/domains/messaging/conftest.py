"""One DuckDB engine per test module: the SQL twins run in it, each test registering its own inputs."""

from __future__ import annotations

import pytest

from almacen.engine import DuckDBEngine


@pytest.fixture(scope="module")
def duck():
    with DuckDBEngine(threads=1) as e:
        yield e
