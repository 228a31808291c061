"""Lake writes: a slice is replaced exactly, schemas never change silently."""

import pyarrow as pa
import pytest
from deltalake.exceptions import DeltaError

from almacen.lake import Lake, SchemaChangeError
from almacen.lake.predicate import isin


def _rows(batch: str, n: int, start: int = 0) -> pa.Table:
    return pa.table({"_batch_id": [batch] * n, "v": list(range(start, start + n))})


def test_replacing_a_slice_keeps_every_other_slice(tmp_path):
    lake = Lake(str(tmp_path))
    lake.replace("bronze.t", _rows("a", 3), isin("_batch_id", ["a"]))
    lake.replace("bronze.t", _rows("b", 2), isin("_batch_id", ["b"]))
    lake.replace("bronze.t", _rows("a", 1, start=10), isin("_batch_id", ["a"]))
    assert sorted(lake.read("bronze.t").to_pylist(), key=lambda r: r["v"]) == [
        {"_batch_id": "b", "v": 0},
        {"_batch_id": "b", "v": 1},
        {"_batch_id": "a", "v": 10},
    ]


def test_an_empty_replacement_clears_the_slice(tmp_path):
    lake = Lake(str(tmp_path))
    lake.replace("bronze.t", _rows("a", 3), isin("_batch_id", ["a"]))
    lake.replace("bronze.t", _rows("a", 0), isin("_batch_id", ["a"]))
    assert lake.read("bronze.t").num_rows == 0


def test_rows_outside_the_predicate_are_refused_and_the_table_is_unchanged(tmp_path):
    lake = Lake(str(tmp_path))
    lake.replace("bronze.t", _rows("a", 3), isin("_batch_id", ["a"]))
    with pytest.raises(DeltaError, match="failed validation"):
        lake.replace("bronze.t", _rows("b", 1), isin("_batch_id", ["a"]))
    assert lake.read("bronze.t").num_rows == 3


def test_a_changed_column_type_is_refused(tmp_path):
    lake = Lake(str(tmp_path))
    lake.append("bronze.t", _rows("a", 1))
    with pytest.raises(SchemaChangeError, match=r"bronze.t: column type changed at the source: v \(int64 -> string\)"):
        lake.append("bronze.t", pa.table({"_batch_id": ["b"], "v": ["x"]}))


def test_a_new_column_is_added(tmp_path):
    lake = Lake(str(tmp_path))
    lake.append("bronze.t", _rows("a", 1))
    lake.append("bronze.t", pa.table({"_batch_id": ["b"], "v": [5], "extra": ["e"]}))
    assert lake.read("bronze.t").sort_by("v").to_pylist() == [
        {"_batch_id": "a", "v": 0, "extra": None},
        {"_batch_id": "b", "v": 5, "extra": "e"},
    ]


def test_the_transaction_id_commits_with_the_data(tmp_path):
    lake = Lake(str(tmp_path))
    lake.append("bronze.t", _rows("a", 1), txns=[("ingest-a", 7)])
    assert lake.transaction_version("bronze.t", "ingest-a") == 7
    assert lake.transaction_version("bronze.t", "other") is None


def test_a_table_name_outside_the_layers_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not layer.name"):
        Lake(str(tmp_path)).path("platinum.t")
