"""The server's deferred audit mode: an entry is durable in the journal when record() returns, and
reaches the Delta table (and is anchored) within its period, or at once when anyone reads or verifies the log."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

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
    assert (check.ok, check.entries, check.anchored_seq) == (True, 3, 3)
    assert [(p["first"], p["seq"]) for p in _anchor(lake)] == [(1, 3)]


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


def _anchor(lake: Lake) -> list[dict]:
    path = Path(lake.path(TABLE)).with_name("audit.anchor")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_deferred_record_writes_no_anchor_the_fold_writes_one_checkpoint(lake: Lake):
    log = AuditLog(lake, deferred_seconds=3600)
    for _ in range(3):
        log.record("ana", "data.read", "kpis")
    assert _anchor(lake) == []  # nothing but the journal's fsync on the request path
    log.flush()
    assert [(p["first"], p["seq"]) for p in _anchor(lake)] == [(1, 3)]
    assert lake.table(TABLE).version() == 0


def test_the_background_thread_anchors_what_it_moves(lake: Lake):
    log = AuditLog(lake, deferred_seconds=0.2)
    log.record("ana", "data.read", "kpis")
    deadline = time.monotonic() + 10
    while not _anchor(lake) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(p["first"], p["seq"]) for p in _anchor(lake)] == [(1, 1)]
    log.close()


def test_the_probe_cutting_the_newest_commit_and_the_journal_is_named_by_the_missing_seqs(lake: Lake):
    """The attack as found: the server folded 10 entries, then 444 more in one Delta commit; the intruder deleted
    that commit's `_delta_log` file and the journal. The transaction id went back with the commit, so the
    table alone looked whole; the anchor did not go back."""
    server = AuditLog(lake, deferred_seconds=3600)
    for i in range(10):
        server.record("ana", "data.read", str(i))
    server.flush()
    threads = [
        threading.Thread(target=lambda: [server.record("beto", "data.read", "sales") for _ in range(111)])
        for _ in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    server.close()
    assert lake.table(TABLE).version() == 1
    (Path(lake.path(TABLE)) / "_delta_log" / "00000000000000000001.json").unlink()
    _journal(lake).unlink()
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries, check.first_bad_seq) == (False, 10, 11)
    assert check.problem.startswith("entries 11..454 are missing: the anchor ")
    with pytest.raises(RuntimeError, match=r"entries 11\.\.454 are missing"):
        AuditLog(lake, deferred_seconds=3600).record("ana", "login.ok")


def test_an_entry_forged_into_the_journal_is_moved_but_named_by_verify(lake: Lake):
    server = AuditLog(lake, deferred_seconds=3600)
    server.record("ana", "login.ok", "dashboard")
    head = json.loads(_journal(lake).read_text().splitlines()[-1])
    forged = {**head, "seq": 2, "actor": "ana", "action": "logout", "prev_hash": head["hash"]}
    text = json.dumps(
        [
            2,
            datetime.fromisoformat(forged["at"]).isoformat(timespec="microseconds"),
            "ana",
            "logout",
            forged["target"],
            forged["details"],
            head["hash"],
        ],
        separators=(",", ":"),
    )
    forged["hash"] = hashlib.sha256(text.encode()).hexdigest()  # re-chained without the key
    with open(_journal(lake), "a") as handle:
        handle.write(json.dumps(forged) + "\n")
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq) == (False, 2)
    assert check.problem == "its hash does not match its contents (altered)"


def test_without_the_key_entries_are_read_from_the_journal_and_left_there(lake: Lake, monkeypatch):
    server = AuditLog(lake, deferred_seconds=3600)
    server.record("ana", "login.ok", "dashboard")
    server.flush()
    server.record("beto", "data.read", "kpis")
    server.record("ana", "export", "sales.csv")
    monkeypatch.delenv("ALMACEN_AUDIT_KEY")
    reader = AuditLog(lake)
    assert reader.entries()["seq"].to_pylist() == [3, 2, 1]
    assert reader.entries(actor="ana")["action"].to_pylist() == ["export", "login.ok"]
    assert reader.entries(limit=1)["target"].to_pylist() == ["sales.csv"]
    assert lake.read(TABLE).num_rows == 1 and len(_journal(lake).read_text().splitlines()) == 3


def test_entries_journaled_but_not_yet_moved_are_not_anchored(lake: Lake):
    """The documented window: an entry is anchored when it is moved into the table (every `deferred_seconds`
    in the server). Whoever deletes the journal before that removes entries `verify` cannot miss."""
    server = AuditLog(lake, deferred_seconds=3600)
    server.record("ana", "login.ok", "dashboard")
    server.flush()
    server.record("ana", "export", "sales.csv")
    _journal(lake).unlink()
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries, check.anchored_seq) == (True, 1, 1)
