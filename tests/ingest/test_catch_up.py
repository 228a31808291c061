"""A branch that is down is recorded and the others complete; catch-up fills exactly what was missed."""

from almacen.config import Branch
from almacen.ingest import extract_slices, missed_slices


def _down(chain, branch_id: str):
    """The same settings with one branch pointing at a database that cannot be opened."""
    branches = [b if b.id != branch_id else Branch(**{**b.model_dump(), "url": "sqlite:////nonexistent/dir/pos.sqlite"})
                for b in chain.settings.branches]
    return chain.settings.model_copy(update={"branches": branches})


def test_a_failing_branch_is_recorded_and_the_others_complete(chain):
    chain.simulate(until_hour=13)
    outage = _down(chain, "cordoba_centro")
    from almacen.ingest import extract

    records = extract(outage, [chain.at(10), chain.at(11), chain.at(12)])
    by_status = sorted((r.branch_id, r.window_start.hour, r.status) for r in records)
    assert by_status == [("cordoba_centro", h, "failed") for h in (10, 11, 12)] + [("palermo", h, "ok") for h in (10, 11, 12)]
    failed = [r for r in records if r.status == "failed"][0]
    assert failed.error == ("branch cordoba_centro: cannot read from sqlite:pos.sqlite: database file missing "
                            "(/nonexistent/dir/pos.sqlite)")
    assert chain.read("bronze.pos_ventas").num_rows > 0
    assert chain.lake.read("bronze.pos_tickets") is None


def test_catch_up_extracts_exactly_the_missed_branch_hours(chain):
    chain.simulate(until_hour=13)
    from almacen.ingest import extract

    extract(_down(chain, "cordoba_centro"), [chain.at(h) for h in (10, 11, 12)])
    missed = missed_slices(chain.settings, None, chain.at(13))
    assert missed == [("cordoba_centro", chain.at(10)), ("cordoba_centro", chain.at(11)), ("cordoba_centro", chain.at(12))]
    records = extract_slices(chain.settings, missed)
    assert [r.status for r in records] == ["ok", "ok", "ok"]
    assert missed_slices(chain.settings, None, chain.at(13)) == []
    expected = chain.source("cordoba_centro", "SELECT count(*) FROM tickets WHERE modificado_en >= :a AND modificado_en < :b",
                            a=chain.hour_text(10), b=chain.hour_text(13))
    assert chain.read("bronze.pos_tickets").num_rows == expected
