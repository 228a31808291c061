"""What a page, API call or export asks for: a date range and dimension filters, validated.

Values are checked against closed vocabularies here and reach SQL only as bound parameters. The
vocabularies (which channels, which payment types) are the served marts' (`almacen.serve.site.Mart`),
handed in by the caller: this module knows no business's words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

from almacen.errors import UsageError
from almacen.security import Scope

MAX_DAYS = 366
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2199, 12, 31)
"""the dates a filter may name: comparisons reach back a year and a week from `from`, and every
date arithmetic stays far inside Python's and DuckDB's ranges"""
CLOSED = ("channel", "payment_type")
"""the filters whose values come from a closed vocabulary (by filter name)"""


class BadFilter(UsageError):
    """A filter a user sent cannot be honoured; the message names the parameter and why."""


@dataclass(frozen=True)
class Filters:
    """A closed date range and optional dimension filters (None = no filter)."""

    start: date
    end: date
    branches: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    payment_types: tuple[str, ...] | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted(self, days: int) -> Filters:
        """The same filters over the range moved `days` earlier."""
        return replace(self, start=self.start - timedelta(days=days), end=self.end - timedelta(days=days))

    def within(self, scope: Scope) -> Filters:
        """The filters cut to a user's branch scope; asking for a branch outside it raises Forbidden."""
        allowed = scope.restrict(self.branches)
        return replace(self, branches=None if allowed is None else tuple(allowed))

    def params(self) -> dict[str, object]:
        """Bound parameters for the serving SQL files (lists or NULL)."""
        as_list = lambda v: None if v is None else list(v)  # noqa: E731
        return {
            "start": self.start,
            "end": self.end,
            "branches": as_list(self.branches),
            "categories": as_list(self.categories),
            "channels": as_list(self.channels),
            "payment_types": as_list(self.payment_types),
        }

    def describe(self) -> dict[str, object]:
        """The filters as the audit log records them."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.params().items() if v is not None}


def parse_filters(
    start: date | None,
    end: date | None,
    *,
    latest: date,
    default_days: int,
    branches: list[str] | None = None,
    categories: list[str] | None = None,
    channels: list[str] | None = None,
    payment_types: list[str] | None = None,
    vocabularies: Mapping[str, Collection[str]] | None = None,
) -> Filters:
    """Filters from request parameters; a missing range ends on the latest day with data.

    `vocabularies` holds the values each closed filter (`CLOSED`) accepts, by filter name; a value of a
    filter without a vocabulary is refused (no mart served can filter by it)."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and not FIRST_DATE <= value <= LAST_DATE:
            raise BadFilter(f"{name}: {value.isoformat()} is outside the dates served ({FIRST_DATE} to {LAST_DATE})")
    if start is not None and end is None and start + timedelta(days=default_days - 1) > LAST_DATE:
        end = LAST_DATE
    end = end or (start + timedelta(days=default_days - 1) if start else latest)
    start = start or end - timedelta(days=default_days - 1)
    if end < start:
        raise BadFilter(f"to ({end}) is before from ({start})")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise BadFilter(f"the date range spans {days} days; at most {MAX_DAYS} may be asked at once")
    for name, values in (("channel", channels), ("payment_type", payment_types)):
        _check(name, values, (vocabularies or {}).get(name))
    for name, values in (("branch", branches), ("category", categories)):
        if values and any(not v or len(v) > 100 for v in values):
            raise BadFilter(f"{name}: empty or overlong value")
    clean = lambda v: tuple(sorted(set(v))) if v else None  # noqa: E731
    return Filters(start, end, clean(branches), clean(categories), clean(channels), clean(payment_types))


def _check(name: str, values: list[str] | None, allowed: Collection[str] | None) -> None:
    if values and allowed is None:
        raise BadFilter(f"{name}: no dataset served here filters by {name}")
    unknown = sorted(set(values or ()) - set(allowed or ()))
    if unknown:
        raise BadFilter(f"{name}: unknown value {', '.join(unknown)}; expected one of {', '.join(allowed or ())}")
