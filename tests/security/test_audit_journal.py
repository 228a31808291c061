"""The server's deferred audit mode: an entry is durable in the journal when record() returns, and
reaches the Delta table within a second, or at once when anyone reads or verifies the log."""

from __future__ import annotations

import json
import time
from pathlib import Path

from almacen.lake import Lake
from almacen.security import AuditLog
from almacen.security.audit import TABLE


def _journal(lake: Lake) -> Path:
    return Path(lake.path(TABLE)).with_name("audit.journal")


def test_a_deferred_record_is_in_the_journal_before_the_table(lake: Lake):
    log = AuditLog(lake, deferred_seconds=3600)
    assert log.record("ana", "login.ok", "dashboard") == 1
    assert lake.read(TABLE) is None
    assert '"seq": 1' in _journal(lake).read_text()


def test_reading_the_log_moves_journaled_entries_into_the_table_first(lake: Lake):
    log = AuditLog(lake, deferred_seconds=3600)
    for _ in range(3):
        log.record("ana", "data.read", "kpis")
    assert [r["seq"] for r in AuditLog(lake).entries().to_pylist()] == [3, 2, 1]
    assert lake.read(TABLE).num_rows == 3
    assert [json.loads(line)["seq"] for line in _journal(lake).read_text().splitlines()] == [3]  # the head only


def test_the_background_thread_moves_entries_within_its_period(lake: Lake):
    log = AuditLog(lake, deferred_seconds=0.2)
    log.record("ana", "data.read", "kpis")
    deadline = time.monotonic() + 10
    while lake.read(TABLE) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lake.read(TABLE).num_rows == 1
    log.close()


def test_entries_journaled_by_a_crashed_server_are_kept_and_chained_after(lake: Lake):
    server = AuditLog(lake, deferred_seconds=3600)
    server.record("ana", "login.ok", "dashboard")
    server.record("ana", "data.read", "kpis")
    del server  # crashed: nothing moved to the table
    assert AuditLog(lake).record("cli:root", "user.add", "beto") == 3
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries) == (True, 3)


def test_a_direct_writer_chains_after_the_entries_another_process_journaled(lake: Lake):
    server, cli = AuditLog(lake, deferred_seconds=3600), AuditLog(lake)
    server.record("ana", "data.read", "kpis")
    cli.record("cli:root", "user.set_role", "ana")
    server.record("ana", "data.read", "sales")
    rows = sorted(AuditLog(lake).entries().to_pylist(), key=lambda r: r["seq"])
    assert [(r["seq"], r["action"]) for r in rows] == [(1, "data.read"), (2, "user.set_role"), (3, "data.read")]
    assert AuditLog(lake).verify().ok


def test_a_torn_last_line_left_by_a_crash_is_ignored(lake: Lake):
    log = AuditLog(lake, deferred_seconds=3600)
    log.record("ana", "login.ok", "dashboard")
    with open(_journal(lake), "a") as handle:
        handle.write('{"seq": 2, "at": "2026-11-2')
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries) == (True, 1)


def test_the_next_entry_after_a_torn_line_starts_a_line_of_its_own(lake: Lake):
    log = AuditLog(lake, deferred_seconds=3600)
    log.record("ana", "login.ok", "dashboard")
    with open(_journal(lake), "a") as handle:
        handle.write('{"seq": 2, "at": "2026-11-2')
    assert AuditLog(lake, deferred_seconds=3600).record("ana", "logout", "dashboard") == 2
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries) == (True, 2)
