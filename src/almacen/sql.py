"""The SQL files almacen ships beside the modules that run them, read one way: once per process.

SQL lives in `.sql` files next to its Python (STYLE.md); every module reads them through `load_sql`
(by package and file name) or, when it was handed the file itself (a stream kind's `parse`, a file
of a model folder), `load_sql_file`. Both read UTF-8, keep the text for the life of the process
(micro-batches run the same SQL thousands of times) and name the file when it is missing. `exactly`
checks that what a query returned has the shape its caller promises.

A missing file is a broken installation, not a user's mistake: it raises `FileNotFoundError`, which
the CLI reports as a bug.

    >>> load_sql("almacen.domains.messaging", "invoice.sql")  # doctest: +SKIP
    '-- the invoices of a month ...'
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TypeVar

import pyarrow as pa

T = TypeVar("T", pa.Table, pa.RecordBatchReader)


@functools.cache
def load_sql(package: str, name: str) -> str:
    """The text of the SQL file `name` shipped in `package`.

    Args:
        package: the dotted package the file sits in, e.g. `almacen.domains.sales`.
        name: its file name, or a path under the package with `/`, e.g. `sql/kpis.sql`.

    Raises:
        FileNotFoundError: there is no such file; the message names the package and the file.
    """
    return _read(resources.files(package).joinpath(*name.split("/")), f"{package}: {name}")


@functools.cache
def load_sql_file(file: Traversable) -> str:
    """The text of a shipped SQL file already located (e.g. `resources.files(pkg) / "events.sql"`).

    Raises:
        FileNotFoundError: the file does not exist; the message names it.
    """
    return _read(file, str(file))


def _read(file: Traversable, named: str) -> str:
    if not file.is_file():
        raise FileNotFoundError(f"SQL file {named} is missing from almacen's installation (reinstall almacen)")
    return file.read_text(encoding="utf-8")


def exactly(table: T, schema: pa.Schema, what: str) -> T:
    """`table` (a Table or a stream of batches) as `schema`; a different column list or type is a fault of the
    SQL (`what`), reported as such."""
    if table.schema != schema:
        raise RuntimeError(f"{what} SQL returned {table.schema}, expected {schema}")
    return table
