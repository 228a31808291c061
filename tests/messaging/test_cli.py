"""`almacen billing …`, `almacen simulate messaging` and `almacen stream messaging` from the shell."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path

from typer.testing import CliRunner

from almacen.cli import app

runner = CliRunner()


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "almacen.toml"
    cfg.write_text(
        f'demo = true\nlake = "{tmp_path / "lake"}"\n\n[messaging.stream]\n'
        f'landing = "{tmp_path / "landing"}"\ntrigger_seconds = 0.1\n'
    )
    return cfg


def _invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def _one_line(output: str) -> str:
    return " ".join(output.split())


def test_the_stream_refuses_to_start_before_client_accounts_are_loaded(tmp_path: Path):
    result = _invoke("stream", "messaging", "--until-idle", "-c", str(_config(tmp_path)))
    assert result.exit_code == 1
    assert (
        "no client accounts in the lake: load them first with `almacen billing clients load clients.toml`"
        in _one_line(result.output)
    )


def test_an_unknown_kind_of_stream_is_named(tmp_path: Path):
    result = _invoke("stream", "sms", "--until-idle", "-c", str(_config(tmp_path)))
    assert result.exit_code == 1
    assert "'sms' is not a kind of stream; known: sales, messaging" in _one_line(result.output)


def test_a_rate_card_with_overlapping_periods_is_refused_naming_them_and_nothing_is_stored(tmp_path: Path):
    cfg = _config(tmp_path)
    assert (
        _invoke(
            "simulate",
            "messaging",
            "--clients",
            "3",
            "--duration",
            "0",
            "--reference",
            str(tmp_path / "ref"),
            "-c",
            str(cfg),
        ).exit_code
        == 0
    )
    rates = (tmp_path / "ref" / "rates.toml").read_text()
    first = rates.index("[[period]]")
    second = rates.index("[[period]]", first + 1)
    doubled = tmp_path / "doubled.toml"
    doubled.write_text(rates[:second] + rates[first:second] + rates[second:])

    result = _invoke("billing", "rates", "load", str(doubled), "-c", str(cfg))

    assert result.exit_code == 1
    assert re.search(r"doubled\.toml: .*overlapping periods 2026-08-01 and 2026-08-01", _one_line(result.output))
    assert not (tmp_path / "lake" / "silver" / "rate_cards").exists()


def test_a_month_is_simulated_streamed_invoiced_and_issued_from_the_shell(tmp_path: Path):
    cfg = _config(tmp_path)
    ref = tmp_path / "ref"
    # `simulate messaging` stamps events with the wall clock (MessageMaker(start=None): time.time()) and
    # billing months are UTC months (invoices.month_complete): the month being invoiced is the current one
    month = datetime.fromtimestamp(time.time(), timezone.utc).strftime("%Y-%m")
    assert (
        _invoke(
            "simulate",
            "messaging",
            "--clients",
            "4",
            "--rate",
            "200/s",
            "--duration",
            "1",
            "--reference",
            str(ref),
            "-c",
            str(cfg),
        ).exit_code
        == 0
    )
    assert (
        "clients version 1: 4 client accounts"
        in _invoke("billing", "clients", "load", str(ref / "clients.toml"), "-c", str(cfg)).output
    )
    assert "rate card version 1" in _invoke("billing", "rates", "load", str(ref / "rates.toml"), "-c", str(cfg)).output
    streamed = _invoke("stream", "messaging", "--until-idle", "-c", str(cfg))
    assert streamed.exit_code == 0, streamed.output

    drafted = _invoke("billing", "invoice", "--month", month, "-c", str(cfg))
    assert drafted.exit_code == 1 and f"{month} is not complete yet" in _one_line(drafted.output)
    forced = _invoke("billing", "invoice", "--month", month, "--force", "-c", str(cfg))
    assert forced.exit_code == 0 and f"{month}: 4 drafted (provisional)" in forced.output
    issued = _invoke("billing", "issue", "--month", month, "--force", "-c", str(cfg))
    assert issued.exit_code == 0 and f"{month}: 4 issued" in issued.output
    shown = _invoke("billing", "show", "--month", month, "-c", str(cfg))
    assert shown.exit_code == 0 and shown.output.count(f"INV-{month}-c0000") == 4
    assert _invoke("billing", "build", "-c", str(cfg)).exit_code == 0
