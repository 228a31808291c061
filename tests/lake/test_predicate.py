"""Predicates for Lake.replace: every value quoted the one way, and matching exactly the rows meant."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake.exceptions import DeltaError

from almacen.lake import Lake
from almacen.lake.predicate import EVERYTHING, NOTHING, all_of, any_of, at_least, before, between, equals, isin, literal

UTC = timezone.utc
_TS = pa.timestamp("us", tz="UTC")


def _table() -> pa.Table:
    return pa.table(
        {
            "name": ["o'brien", "x", "it''s"],
            "day": pa.array([date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]),
            "at": pa.array(
                [
                    datetime(2026, 10, 1, 12, 0, 0, 123456, UTC),
                    datetime(2026, 10, 2, tzinfo=UTC),
                    datetime(2026, 10, 3, 23, 59, tzinfo=UTC),
                ],
                _TS,
            ),
            "n": [1, 2, 3],
            "amount": pa.array([Decimal("1.50"), Decimal("2.00"), None], pa.decimal128(18, 2)),
            "ok": [True, False, True],
        }
    )


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path))
    lake.append("silver.t", _table(), partition_by=["day"])
    return lake


def _names_left_after_clearing(lake: Lake, predicate: str) -> list[str]:
    """Replace the rows `predicate` matches with none; the names of the rows that stay."""
    lake.replace("silver.t", _table().slice(0, 0), predicate)
    return sorted(lake.read("silver.t")["name"].to_pylist())


def test_literals_are_written_as_the_column_types_read_them():
    assert literal("o'brien") == "'o''brien'"
    assert literal(date(2026, 10, 1)) == "'2026-10-01'"
    assert literal(datetime(2026, 10, 1, 14, tzinfo=UTC)) == "'2026-10-01T14:00:00Z'"
    assert literal(datetime(2026, 10, 1, 14, 0, 0, 5)) == "'2026-10-01T14:00:00.000005Z'"  # naive is UTC
    assert literal(datetime(2026, 10, 1, 11, tzinfo=timezone(timedelta(hours=-3)))) == "'2026-10-01T14:00:00Z'"
    assert literal(3) == "3"
    assert literal(Decimal("1.50")) == "1.50"
    assert literal(0.25) == "0.25"
    assert literal(True) == "true"


def test_predicates_read_as_the_sql_they_are():
    assert equals("name", "a") == "name = 'a'"
    assert isin("_batch_id", ["palermo/2026-10-01T14", "b", "b"]) == "_batch_id IN ('palermo/2026-10-01T14', 'b')"
    assert between("day", date(2026, 10, 1), date(2026, 10, 2)) == "day >= '2026-10-01' AND day <= '2026-10-02'"
    assert all_of(equals("n", 1), before("n", 3)) == "(n = 1) AND (n < 3)"
    assert any_of(at_least("n", 3), equals("ok", False)) == "(n >= 3) OR (ok = false)"
    assert (all_of(), any_of()) == (EVERYTHING, NOTHING)


def test_a_quote_in_a_value_matches_that_value_only(lake):
    assert _names_left_after_clearing(lake, equals("name", "o'brien")) == ["it''s", "x"]
    assert _names_left_after_clearing(lake, isin("name", ["it''s"])) == ["x"]


def test_a_date_matches_its_day(lake):
    assert _names_left_after_clearing(lake, isin("day", [date(2026, 10, 2)])) == ["it''s", "o'brien"]


def test_a_timestamp_matches_to_the_microsecond_whatever_its_zone(lake):
    assert _names_left_after_clearing(lake, equals("at", datetime(2026, 10, 1, 12, 0, 0, 123455, UTC))) == [
        "it''s",
        "o'brien",
        "x",
    ]
    buenos_aires = timezone(timedelta(hours=-3))
    assert _names_left_after_clearing(lake, equals("at", datetime(2026, 10, 1, 9, 0, 0, 123456, buenos_aires))) == [
        "it''s",
        "x",
    ]


def test_a_half_open_window_and_inclusive_bounds(lake):
    window = all_of(at_least("at", datetime(2026, 10, 2, tzinfo=UTC)), before("at", datetime(2026, 10, 3, 23, 59)))
    assert _names_left_after_clearing(lake, window) == ["it''s", "o'brien"]
    assert _names_left_after_clearing(lake, between("day", date(2026, 10, 1), date(2026, 10, 3))) == []


def test_numbers_and_booleans(lake):
    assert _names_left_after_clearing(
        lake, any_of(equals("amount", Decimal("2.00")), all_of(equals("ok", True), at_least("n", 3)))
    ) == ["o'brien"]


def test_no_values_match_nothing_and_rows_for_them_are_refused(lake):
    assert isin("name", []) == NOTHING
    assert _names_left_after_clearing(lake, isin("name", [])) == ["it''s", "o'brien", "x"]
    with pytest.raises(DeltaError, match="validation"):
        lake.replace("silver.t", _table().slice(0, 1), isin("name", []))
    assert lake.read("silver.t").num_rows == 3


def test_everything_replaces_the_whole_table(lake):
    lake.replace("silver.t", _table().slice(1, 1), EVERYTHING)
    assert lake.read("silver.t")["name"].to_pylist() == ["x"]


def test_a_value_without_a_literal_and_a_strange_column_are_refused():
    with pytest.raises(TypeError, match=r"no predicate literal for None \(NoneType\)"):
        equals("name", None)
    with pytest.raises(TypeError, match=r"no predicate literal for \[1\] \(list\)"):
        isin("n", [[1]])
    with pytest.raises(ValueError, match="predicate column 'name = name OR true' is not a lower-case name"):
        equals("name = name OR true", "x")
